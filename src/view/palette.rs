//! The viewer's colours. Prediction and ground truth follow the paper's figures (prediction:
//! blue joints, green bones; ground truth: yellow joints, red bones); other methods get colours
//! that stay apart from those four and from the depth colour map's background.

use eframe::egui::Color32;

/// Joints of the prediction.
pub const PRED_JOINT: Color32 = Color32::from_rgb(40, 110, 255);
/// Bones of the prediction.
pub const PRED_BONE: Color32 = Color32::from_rgb(40, 200, 70);
/// Joints of the ground truth.
pub const GT_JOINT: Color32 = Color32::from_rgb(255, 220, 0);
/// Bones of the ground truth.
pub const GT_BONE: Color32 = Color32::from_rgb(230, 30, 30);

/// One colour per other method, in the order they are loaded (then around again).
pub const METHODS: [Color32; 6] = [
    Color32::from_rgb(230, 60, 230),  // magenta
    Color32::from_rgb(0, 220, 220),   // cyan
    Color32::from_rgb(255, 140, 0),   // orange
    Color32::from_rgb(160, 110, 255), // violet
    Color32::from_rgb(255, 255, 255), // white
    Color32::from_rgb(140, 90, 40),   // brown
];

/// The colour of the `i`-th loaded method.
pub fn method_colour(i: usize) -> Color32 {
    METHODS[i % METHODS.len()]
}

/// A method's bones: its joint colour, darker, so joints stand out on their bones.
pub fn bone_of(joint: Color32) -> Color32 {
    let dim = |c: u8| (u16::from(c) * 2 / 3) as u8;
    Color32::from_rgb(dim(joint.r()), dim(joint.g()), dim(joint.b()))
}
