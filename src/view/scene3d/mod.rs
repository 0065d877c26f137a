//! The 3D orbit view: the hand's depth as a point cloud with skeletons, drawn by its own wgpu
//! pipelines into its own colour and depth targets and composited into egui.
//!
//! Everything is in hourhand's camera space, millimetres: x right, y up, z away from the depth
//! camera. The depth window travels to the GPU as raw depths and is back-projected in the
//! vertex shader, so a new frame costs one buffer write. Shaders live in `shaders/view/`.
//!
//! Use: [`Scene3dRenderer::register`] once with eframe's wgpu render state, keep an
//! [`OrbitCamera`] per view, and each frame allocate a rect with `Sense::click_and_drag()`,
//! feed its response to [`OrbitCamera::handle_input`] and call [`paint`].

mod callback;
mod camera;
mod gpu;
mod guides;
mod readback;
mod renderer;

pub use callback::paint;
pub use camera::{FOV_Y, MAX_DISTANCE, MIN_DISTANCE, OrbitCamera};
pub use gpu::{SHADERS, UNIFORM_SIZES};
pub use guides::{AXIS_COLORS, AXIS_MM, GRID_DROP_MM, GRID_HALF_MM};
pub use renderer::{BACKGROUND, COLOR_FORMAT, DEPTH_FORMAT, Scene3dRenderer};

use crate::data::intrinsics::Intrinsics;
use eframe::egui::Color32;
use glam::Vec3;

/// What the 3D view draws, camera space (mm). NYU camera space: x right, y up, z away from the
/// camera (depth).
#[derive(Clone, Debug, Default)]
pub struct Scene3d {
    /// The depth window as points, if any.
    pub cloud: Option<DepthCloud>,
    /// Skeletons drawn over the cloud (e.g. prediction and ground truth).
    pub skeletons: Vec<Skeleton3d>,
}

/// A window of a depth frame, back-projected to points in the vertex shader.
#[derive(Clone, Debug)]
pub struct DepthCloud {
    /// Window width, pixels.
    pub width: u32,
    /// Window height, pixels.
    pub height: u32,
    /// Top-left pixel of the window in the full frame (u, v).
    pub origin: [u32; 2],
    /// width*height depths in mm, row-major; 0 or non-finite = no measurement (not drawn).
    pub depth_mm: Vec<f32>,
    /// Camera: fx, fy, cx, cy (pixels).
    pub intrinsics: Intrinsics,
    /// Only depths in [near, far] mm are drawn (the hand cube), the rest is background.
    pub near: f32,
    /// See `near`.
    pub far: f32,
}

/// A skeleton: joints drawn as discs, bones as thick lines between them.
#[derive(Clone, Debug)]
pub struct Skeleton3d {
    /// Joint positions, camera space mm; non-finite joints (and their bones) are skipped.
    pub joints: Vec<Vec3>,
    /// Pairs of joint indices; pairs out of range are skipped.
    pub bones: Vec<(usize, usize)>,
    /// Disc colour.
    pub joint_color: Color32,
    /// Line colour.
    pub bone_color: Color32,
    /// Joint disc radius in mm (e.g. 4.0).
    pub joint_radius: f32,
}
