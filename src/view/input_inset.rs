//! What the network sees, as an inset in the 2D view's top-right corner: the normalized depth
//! crop exactly as the network received it (its `size × size` pixels; the near side of the
//! cube white, the far side, holes and the outside of the image black), with the skeletons drawn
//! in its coordinates. A crop that misses the hand, or a hand cut off by the cube, shows here.

use eframe::egui::{self, Color32, Pos2, Rect, Stroke, TextureHandle, Vec2};

use super::view2d::Overlay2d;
use crate::data::crop::Crop;
use crate::data::depth::DepthMap;

/// Which crop of which frame an inset texture shows (a new key means a new texture).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InsetKey {
    frame: usize,
    crop: Crop,
}

impl InsetKey {
    /// The key of `crop` on frame `frame`.
    pub fn new(frame: usize, crop: &Crop) -> InsetKey {
        InsetKey { frame, crop: *crop }
    }
}

/// The network input of `crop` on `depth` as a grey image: input value `v` ∈ [−1, 1] (near to
/// far) is grey `(1 − v)/2`, so the hand is bright and the background black.
pub fn input_image(crop: &Crop, depth: &DepthMap) -> egui::ColorImage {
    let n = crop.size;
    let grey: Vec<u8> = crop
        .input(depth)
        .iter()
        .map(|v| ((1.0 - v.clamp(-1.0, 1.0)) * 127.5).round() as u8)
        .collect();
    egui::ColorImage::from_gray([n, n], &grey)
}

/// Where image point `(u, v)` lands in `rect`, the inset of `crop`.
pub fn to_inset(crop: &Crop, rect: Rect, u: f32, v: f32) -> Pos2 {
    let [u0, v0, u1, v1] = crop.window;
    rect.min
        + Vec2::new(
            (u - u0) / (u1 - u0) * rect.width(),
            (v - v0) / (v1 - v0) * rect.height(),
        )
}

/// Paints the inset into the top-right corner of `area` (the 2D view): the input texture, the
/// overlays' bones and joints clipped to it, a border and a caption.
pub fn paint(
    painter: &egui::Painter,
    area: Rect,
    texture: &TextureHandle,
    crop: &Crop,
    overlays: &[Overlay2d],
) {
    let side = (area.width().min(area.height()) * 0.32).clamp(96.0, 224.0);
    let min = Pos2::new(area.right() - side - 8.0, area.top() + 24.0);
    let rect = Rect::from_min_size(min, Vec2::splat(side));
    let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
    painter.image(texture.id(), rect, uv, Color32::WHITE);
    let clipped = painter.with_clip_rect(rect);
    for overlay in overlays {
        let at = |j: usize| to_inset(crop, rect, overlay.joints[j].x, overlay.joints[j].y);
        for &(a, b) in overlay.bones {
            clipped.line_segment([at(a), at(b)], Stroke::new(1.5, overlay.bone));
        }
        for j in 0..overlay.joints.len() {
            clipped.circle(at(j), 2.5, overlay.joint, Stroke::new(0.5, Color32::BLACK));
        }
    }
    painter.rect_stroke(
        rect,
        0.0,
        Stroke::new(1.0, Color32::from_gray(150)),
        egui::StrokeKind::Outside,
    );
    painter.text(
        rect.left_top() + Vec2::new(0.0, -4.0),
        egui::Align2::LEFT_BOTTOM,
        format!("network input, {0}×{0}", crop.size),
        egui::FontId::proportional(11.0),
        Color32::from_gray(190),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::intrinsics::Intrinsics;
    use glam::Vec3;

    #[test]
    fn the_inset_shows_the_input_and_maps_the_window_onto_itself() {
        let k = Intrinsics::NYU;
        let center = k.uvd_to_xyz(Vec3::new(320.0, 240.0, 600.0));
        let crop = Crop::new(center, 300.0, 5, &k).unwrap();
        // A wall at the centre's depth: input 0, mid grey.
        let [u0, v0, u1, v1] = crop.window;
        let depth = DepthMap::new(640, 480, vec![600.0; 640 * 480]).unwrap();
        let image = input_image(&crop, &depth);
        assert_eq!(image.size, [5, 5]);
        assert!(
            image.pixels.iter().all(|p| p.r() == 128),
            "the centre's depth is mid grey"
        );
        // A hole where the centre pixel samples is far: black.
        let mid = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
        let mut holes = vec![600.0f32; 640 * 480];
        holes[mid.1 as usize * 640 + mid.0 as usize] = 0.0;
        let image = input_image(&crop, &DepthMap::new(640, 480, holes).unwrap());
        assert_eq!(image.pixels[12].r(), 0, "a hole is black");
        assert_eq!(image.pixels[11].r(), 128);
        // Seen from a cube 200 mm further away, the wall is beyond its near face: white.
        let behind = Crop::new(center + Vec3::new(0.0, 0.0, 200.0), 300.0, 5, &k).unwrap();
        let image = input_image(&behind, &depth);
        assert!(image.pixels.iter().all(|p| p.r() == 255), "near: white");
        // The window's corners land on the inset's corners, its centre on the centre.
        let rect = Rect::from_min_size(Pos2::new(10.0, 20.0), Vec2::splat(100.0));
        assert!(to_inset(&crop, rect, u0, v0).distance(rect.min) < 1e-3);
        assert!(to_inset(&crop, rect, u1, v1).distance(rect.max) < 1e-3);
        assert!(to_inset(&crop, rect, mid.0, mid.1).distance(rect.center()) < 1e-3);
    }
}
