//! The desktop viewer: depth frames with the predicted skeleton over the ground truth, in 2D and
//! in a 3D orbit view, for NYU sequences and depth-frame folders.
//!
//! The UI thread only draws. Frames are decoded ahead on one thread ([`frames`]), the network
//! runs on another ([`inference`]) — on the viewer's own wgpu device by default, so a frame
//! goes from disk to skeleton on one device — and the UI shows whatever has arrived.

mod app;
mod depth_image;
pub mod frames;
pub mod inference;
mod input_inset;
mod launch;
mod live;
mod menu;
pub mod methods;
mod options;
pub mod palette;
mod panel;
pub mod playback;
mod pump;
pub mod scene3d;
pub mod scores;
mod screenshot;
mod sequence;
pub mod settings;
mod timing;
pub mod view2d;
mod views;

pub use app::{ViewerApp, choose_engine};
pub use launch::{ViewError, run};
pub use live::LiveInput;
pub use menu::Pick;
pub use options::ViewOptions;
