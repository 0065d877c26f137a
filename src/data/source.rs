//! A sequence of depth frames, whatever its origin: the one interface the commands and the
//! viewer read frames through.

use std::path::{Path, PathBuf};

use glam::Vec3;

use super::crop::NYU_CUBE;
use super::depth::DepthMap;
use super::error::DataError;
use super::intrinsics::Intrinsics;
use super::joints::{EVAL_SUBSET, Joints, Labels, PRIOR_JOINT};

/// Annotated joints of one frame, as (u, v, d): all 36, or only the 14 evaluation joints (what a
/// results-format file has).
// One per frame, copied rarely: boxing the larger variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum GroundTruth {
    /// All 36 NYU joints.
    Full(Joints),
    /// The 14 evaluation joints, in [`EVAL_SUBSET`] order.
    Subset([Vec3; 14]),
}

impl GroundTruth {
    /// The 14 evaluation joints (u, v, d).
    pub fn eval_uvd(&self) -> [Vec3; 14] {
        match self {
            GroundTruth::Full(j) => EVAL_SUBSET.map(|i| j[i]),
            GroundTruth::Subset(s) => *s,
        }
    }

    /// All 36 joints (u, v, d), when annotated.
    pub fn full_uvd(&self) -> Option<&Joints> {
        match self {
            GroundTruth::Full(j) => Some(j),
            GroundTruth::Subset(_) => None,
        }
    }

    /// The palm centre (the location prior, `PALM_3`), (u, v, d).
    pub fn palm_uvd(&self) -> Vec3 {
        match self {
            GroundTruth::Full(j) => j[PRIOR_JOINT],
            // PALM_3 is the last of the evaluation joints.
            GroundTruth::Subset(s) => s[13],
        }
    }
}

/// One frame of a source.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Position in the source (0-based).
    pub index: usize,
    /// A short name (the file name).
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Depth in millimetres.
    pub depth: DepthMap,
    /// The camera.
    pub intrinsics: Intrinsics,
    /// Annotated joints, when the source has them.
    pub ground_truth: Option<GroundTruth>,
}

impl Frame {
    /// All 36 annotated joints in camera space (mm), when annotated.
    pub fn joints_xyz(&self) -> Option<Joints> {
        let full = self.ground_truth.as_ref()?.full_uvd()?;
        Some(full.map(|p| self.intrinsics.uvd_to_xyz(p)))
    }

    /// The annotated palm centre in camera space (mm).
    pub fn palm_xyz(&self) -> Option<Vec3> {
        Some(
            self.intrinsics
                .uvd_to_xyz(self.ground_truth.as_ref()?.palm_uvd()),
        )
    }
}

/// A sequence of depth frames, read lazily: only [`Source::load`] touches the images, so a
/// 72,757-frame NYU split costs its annotations in memory, not its images.
pub trait Source: Send + Sync {
    /// What the source is, for the user ("NYU test, kinect 1: 8252 frames in …").
    fn describe(&self) -> String;
    /// Number of frames.
    fn len(&self) -> usize;
    /// Whether there are no frames (a source never is; kept for the convention).
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The camera.
    fn intrinsics(&self) -> Intrinsics;
    /// The file frame `index` is read from.
    fn frame_path(&self, index: usize) -> PathBuf;
    /// The annotation of frame `index`, without reading its image.
    fn ground_truth(&self, index: usize) -> Option<GroundTruth>;
    /// The convention its annotations follow: NYU's, except for the synthetic generator's
    /// first generation.
    fn labels(&self) -> Labels {
        Labels::Nyu
    }
    /// The side of the hand cube (mm) for frame `index`: 300, except where a protocol says
    /// otherwise (NYU test frames 2441–8252: 250).
    fn cube(&self, _index: usize) -> f32 {
        NYU_CUBE
    }
    /// Reads frame `index`.
    fn load(&self, index: usize) -> Result<Frame, DataError>;
    /// For a live source (a camera), how its stream is doing; `None` for recordings, whose
    /// length is fixed.
    fn live_status(&self) -> Option<LiveStatus> {
        None
    }
    /// For a live source, when frame `index` arrived (the start of its latency).
    fn arrival(&self, _index: usize) -> Option<std::time::Instant> {
        None
    }
}

/// How a live source's stream is doing.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveStatus {
    /// Frames received so far (the source's length).
    pub frames: usize,
    /// Frames per second over the last second or so.
    pub fps: f64,
    /// Why the stream ended, once it has.
    pub ended: Option<String>,
    /// The folder being recorded into and the frames written, while recording.
    pub recording: Option<(PathBuf, usize)>,
}

/// A short name for a frame file.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// Orders names as people do: `frame2` before `frame10`. Runs of digits compare as numbers,
/// everything else character by character.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (trim_zeros(&a[..da]), trim_zeros(&b[..db]));
                let order = na
                    .len()
                    .cmp(&nb.len())
                    .then_with(|| na.cmp(nb))
                    .then(da.cmp(&db));
                if order != Ordering::Equal {
                    return order;
                }
                (a, b) = (&a[da..], &b[db..]);
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                (a, b) = (&a[1..], &b[1..]);
            }
        }
    }
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut names = vec!["f10.png", "f2.png", "f1.png", "f01.png", "a.png", "f2b.png"];
        names.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            names,
            ["a.png", "f1.png", "f01.png", "f2.png", "f2b.png", "f10.png"]
        );
    }

    #[test]
    fn subset_ground_truth_gives_the_palm() {
        let s: [Vec3; 14] = std::array::from_fn(|i| Vec3::splat(i as f32));
        let g = GroundTruth::Subset(s);
        assert_eq!(g.palm_uvd(), Vec3::splat(13.0));
        let full: Joints = std::array::from_fn(|i| Vec3::splat(i as f32));
        let g = GroundTruth::Full(full);
        assert_eq!(g.palm_uvd(), Vec3::splat(32.0));
        assert_eq!(g.eval_uvd()[1], Vec3::splat(3.0));
    }
}
