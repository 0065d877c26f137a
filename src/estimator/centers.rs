//! Where each frame's crop is centred: the annotation, a file, or the detector.

use glam::Vec3;

use crate::data::DataError;
use crate::data::detect::{DetectOptions, detect_hand};
use crate::data::source::Frame;

/// Where the crop of each frame is centred.
#[derive(Debug, Clone, PartialEq)]
pub enum Centers {
    /// The annotated palm centre (the paper's protocol); frames without annotation are an error.
    GroundTruth,
    /// One centre (camera space, mm) per frame of the source, e.g. the shared refined NYU centres.
    Given(Vec<Vec3>),
    /// Found in the depth (closest object, centre of mass).
    Detect(DetectOptions),
}

impl Centers {
    /// How the centres are chosen, for the user.
    pub fn describe(&self) -> &'static str {
        match self {
            Centers::GroundTruth => "ground-truth palm centre (PALM_3)",
            Centers::Given(_) => "centres file",
            Centers::Detect(_) => "detected (closest object + centre of mass)",
        }
    }

    /// The centre for `frame`.
    pub fn center(&self, frame: &Frame) -> Result<Vec3, DataError> {
        match self {
            Centers::GroundTruth => frame.palm_xyz().ok_or_else(|| DataError::NoHand {
                frame: frame.path.display().to_string(),
                problem: "the frame has no annotation to centre the crop on; use detection or a centres file".into(),
            }),
            Centers::Given(c) => c.get(frame.index).copied().ok_or_else(|| DataError::Folder {
                path: frame.path.clone(),
                problem: format!("the centres file has {} lines, none for frame {}", c.len(), frame.index + 1),
            }),
            Centers::Detect(options) => {
                detect_hand(&frame.depth, &frame.intrinsics, options).map_err(|e| DataError::NoHand {
                    frame: frame.path.display().to_string(),
                    problem: e.0,
                })
            }
        }
    }
}
