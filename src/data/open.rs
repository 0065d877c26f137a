//! Opening whatever the user points at: an NYU dataset or split folder, a fakenect dump, a
//! folder of depth frames, or synthetic hands made on the fly (`synth:SEED:FRAMES`).

use std::path::{Path, PathBuf};

use glam::Vec3;

use super::error::DataError;
use super::folder::FrameFolder;
use super::intrinsics::Intrinsics;
use super::nyu::{JOINT_DATA, NyuSequence, is_nyu_folder, split_dir};
use super::source::Source;
use crate::eval::results::{self, Format};

/// How to open a source.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOptions {
    /// NYU: the split of a dataset folder (`test` when not given).
    pub split: Option<String>,
    /// NYU: the kinect, 1..=3 (1, the frontal one, is the standard protocol).
    pub kinect: u32,
    /// Frame folders: the camera, overriding the folder's `intrinsics.json`.
    pub intrinsics: Option<Intrinsics>,
    /// Frame folders: ground truth, a results-format file of the 14 NYU evaluation joints
    /// (u v d), one line per frame.
    pub ground_truth: Option<PathBuf>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            split: None,
            kinect: 1,
            intrinsics: None,
            ground_truth: None,
        }
    }
}

/// Opens `path` as an NYU folder if it is one, else as a folder of depth frames.
pub fn open(path: &Path, options: &OpenOptions) -> Result<Box<dyn Source>, DataError> {
    if let Some(spec) = super::synth::parse_spec(path) {
        let spec = spec?;
        if options.intrinsics.is_some() || options.ground_truth.is_some() {
            return Err(DataError::Folder {
                path: path.into(),
                problem: "synthetic hands have their own camera (NYU's) and joints; --fx/--fy/--cx/--cy and --ground-truth are for folders of depth frames".into(),
            });
        }
        return Ok(Box::new(super::synth::SynthSource::new(spec)));
    }
    if !path.exists() {
        return Err(DataError::Folder {
            path: path.into(),
            problem:
                "no such file or folder; expected an NYU dataset folder or a folder of depth PNGs"
                    .into(),
        });
    }
    if crate::camera::openni2::is_oni(path) {
        return Err(DataError::Folder {
            path: path.into(),
            problem: format!(
                "is an OpenNI2 recording, which plays in the viewer (hourhand view {0}) or records to a folder of depth frames that every command opens (hourhand record --camera openni2:{0} --out DIR)",
                path.display()
            ),
        });
    }
    if !path.is_dir() {
        return Err(DataError::Folder {
            path: path.into(),
            problem: "is a file; expected an NYU dataset folder or a folder of depth PNGs".into(),
        });
    }
    if crate::camera::fakenect::is_dump(path) {
        if options.intrinsics.is_some() {
            return Err(DataError::Folder {
                path: path.into(),
                problem: "is a fakenect dump, recorded by a Kinect v1 with its own camera; --fx/--fy/--cx/--cy are for folders of depth frames".into(),
            });
        }
        return Ok(Box::new(crate::camera::fakenect::FakenectDump::open(
            path,
            read_ground_truth(options)?,
            options.ground_truth.as_deref(),
        )?));
    }
    if is_nyu_folder(path) {
        let dir = split_dir(path, options.split.as_deref())?;
        if !dir.join(JOINT_DATA).exists() {
            // NYU's frames without its annotations (a few test frames copied out, say): a
            // folder of depth frames from NYU's camera, which takes --gt like any other.
            return open_frames(&dir, Some(options.kinect), options);
        }
        let conflicting = [
            (options.intrinsics.is_some(), "--fx/--fy/--cx/--cy"),
            (options.ground_truth.is_some(), "--gt"),
        ];
        if let Some((_, flag)) = conflicting.iter().find(|(given, _)| *given) {
            return Err(DataError::Folder {
                path: path.into(),
                problem: format!(
                    "is an NYU folder, which has its own camera and {JOINT_DATA}; {flag} is for folders of depth frames"
                ),
            });
        }
        return Ok(Box::new(NyuSequence::open(
            path,
            options.split.as_deref(),
            options.kinect,
        )?));
    }
    open_frames(path, None, options)
}

/// Opens `dir` as a folder of depth frames (with `nyu_kinect`, NYU's depth frames of that
/// kinect), with the camera and ground truth of `options`.
fn open_frames(
    dir: &Path,
    nyu_kinect: Option<u32>,
    options: &OpenOptions,
) -> Result<Box<dyn Source>, DataError> {
    Ok(Box::new(FrameFolder::open(
        dir,
        nyu_kinect,
        options.intrinsics,
        read_ground_truth(options)?,
        options.ground_truth.as_deref(),
    )?))
}

/// The `--gt` results file of `options`, one line of the 14 evaluation joints per frame.
fn read_ground_truth(options: &OpenOptions) -> Result<Option<Vec<[Vec3; 14]>>, DataError> {
    let Some(gt) = &options.ground_truth else {
        return Ok(None);
    };
    Ok(Some(
        results::read(gt, Format::NYU)?
            .into_iter()
            .map(|frame| std::array::from_fn(|j| frame[j].as_vec3()))
            .collect(),
    ))
}
