//! Other methods' predictions, loaded from results files (the community format: one line per
//! frame, the 14 NYU evaluation joints as `u v d`), to compare with ours frame by frame.

use std::path::{Path, PathBuf};

use eframe::egui::Color32;
use glam::Vec3;

use crate::eval::results::{self, Format, ResultsError};

/// One loaded results file.
#[derive(Debug, Clone)]
pub struct Method {
    /// A short name: the file name without its extension.
    pub name: String,
    /// The file.
    pub path: PathBuf,
    /// Its colour in both views, the plots and the legend.
    pub colour: Color32,
    /// Whether it is drawn.
    pub visible: bool,
    /// Per frame, the 14 evaluation joints (u, v, d).
    pub frames: Vec<[Vec3; 14]>,
}

impl Method {
    /// Reads a results file of the 14 NYU evaluation joints.
    pub fn load(path: &Path, colour: Color32) -> Result<Method, ResultsError> {
        let frames = results::read(path, Format::NYU)?
            .into_iter()
            .map(|f| std::array::from_fn(|j| f[j].as_vec3()))
            .collect();
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        Ok(Method {
            name,
            path: path.into(),
            colour,
            visible: true,
            frames,
        })
    }

    /// Frame `index`'s joints (u, v, d), if the file has that many lines.
    pub fn frame(&self, index: usize) -> Option<&[Vec3; 14]> {
        self.frames.get(index)
    }

    /// Says when the file's line count does not match the sequence: lines are matched to frames
    /// by position, so a different count usually means a file for another sequence.
    pub fn count_warning(&self, frames: usize) -> Option<String> {
        (self.frames.len() != frames).then(|| {
            format!(
                "{} has {} lines for a sequence of {frames} frames; lines are matched to frames in order",
                self.path.display(),
                self.frames.len()
            )
        })
    }
}
