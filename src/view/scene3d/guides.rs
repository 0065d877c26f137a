//! Orientation aids: the ground grid's placement and the xyz axes at the orbit target.

use glam::Vec3;

use super::gpu::{Segment, rgba};
use eframe::egui::Color32;

/// The grid lies this far below the home target (about below a hand centred there), mm.
pub const GRID_DROP_MM: f32 = 100.0;
/// Half the side of the grid square, mm (a 300 mm square).
pub const GRID_HALF_MM: f32 = 150.0;
/// Length of each axis at the target, mm.
pub const AXIS_MM: f32 = 25.0;
/// Colours of the x, y and z axes.
pub const AXIS_COLORS: [Color32; 3] = [
    Color32::from_rgb(220, 50, 50),
    Color32::from_rgb(60, 200, 60),
    Color32::from_rgb(60, 90, 240),
];

/// The x (red), y (green) and z (blue) axes from `origin`, as segments: where the orbit
/// turns around, and which way is which.
pub(super) fn axes(origin: Vec3) -> [Segment; 3] {
    let dirs = [Vec3::X, Vec3::Y, Vec3::Z];
    std::array::from_fn(|i| {
        Segment::new(
            origin,
            origin + dirs[i] * AXIS_MM,
            0.6,
            0.0,
            rgba(AXIS_COLORS[i]),
        )
    })
}
