//! Data: depth frames from NYU and from folders of camera frames, hand crops, detection, and
//! synthetic NYU-format hands.

pub mod centers;
pub mod crop;
pub mod depth;
pub mod depth_png;
pub mod detect;
pub mod error;
pub mod folder;
pub mod intrinsics;
pub mod joints;
pub mod mat;
pub mod nyu;
pub mod open;
pub mod palm;
pub mod preview;
pub mod source;
pub mod synth;

pub use depth::{DepthError, DepthMap};
pub use depth_png::DepthPacking;
pub use error::DataError;
pub use intrinsics::{Intrinsics, IntrinsicsError};
pub use joints::{BONES, EVAL_SUBSET, JOINT_NAMES, Joints, Labels, NUM_JOINTS, PRIOR_JOINT};
pub use open::{OpenOptions, open};

/// Where the shared real NYU test files are: `$HOURHAND_NYU_DATA`, else `../shared/data/nyu`
/// beside the project. Tests read them from there and fail loudly when they are missing.
#[cfg(test)]
pub(crate) fn shared_nyu_dir() -> std::path::PathBuf {
    match std::env::var_os("HOURHAND_NYU_DATA") {
        Some(dir) => dir.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nyu"),
    }
}
