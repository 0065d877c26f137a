//! Data: depth frames from NYU and from folders of camera frames, hand crops, detection, and
//! synthetic NYU-format hands.

pub mod crop;
pub mod depth;
pub mod depth_png;
pub mod detect;
pub mod error;
pub mod folder;
pub mod intrinsics;
pub mod joints;
pub mod mat;
pub mod source;
pub mod synth;

pub use depth::{DepthError, DepthMap};
pub use depth_png::DepthPacking;
pub use error::DataError;
pub use intrinsics::{Intrinsics, IntrinsicsError};
pub use joints::{BONES, EVAL_SUBSET, JOINT_NAMES, Joints, NUM_JOINTS, PRIOR_JOINT};
