//! The NYU Hand Pose Dataset format: a split folder (`train` or `test`) of
//! `depth_K_NNNNNNN.png` frames (640×480, depth = G·256 + B) with a `joint_data.mat` holding
//! `joint_names` (1 × 36 cell), `joint_uvd` and `joint_xyz` (kinects × frames × 36 × 3).
//!
//! [`NyuSequence`] reads one (real NYU, or `hourhand synth` output); [`write_split`] writes one.
//! A split's joints follow NYU's label convention unless a [`LABELS_FILE`] says otherwise.

mod read;
mod write;

pub use read::{
    NyuSequence, is_nyu_folder, read_joint_uvd, read_joint_uvd_f64, read_joints_f64, split_dir,
};
pub use write::{SplitFrame, write_split};

/// The annotation file of a split.
pub const JOINT_DATA: &str = "joint_data.mat";
/// hourhand's note of a split's label convention (`{"labels": "anatomical"}`), beside
/// [`JOINT_DATA`] where it is not NYU's: what `hourhand synth` writes for the generator's first
/// generation, so a model trained on the folder records the convention it learned.
pub const LABELS_FILE: &str = "labels.json";
/// NYU's depth image size.
pub const IMAGE_SIZE: (usize, usize) = (640, 480);

/// The file name of frame `frame` (1-based) of `kinect`.
pub fn frame_file(kinect: u32, frame: usize) -> String {
    format!("depth_{kinect}_{frame:07}.png")
}
