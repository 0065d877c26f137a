//! The 2D view: the depth frame in colour with skeletons over it, zoom and pan, the crop box,
//! and the name and error of the joint under the pointer.

use eframe::egui::{self, Color32, Pos2, Rect, Sense, Stroke, TextureHandle, Vec2};
use glam::Vec3;

/// A skeleton to draw, in image coordinates.
pub struct Overlay2d<'a> {
    /// Whose it is ("prediction", "ground truth", a method's name).
    pub name: &'a str,
    /// Joints (u, v, d).
    pub joints: &'a [Vec3],
    /// Joint names, in the same order.
    pub labels: &'a [&'a str],
    /// Bones as pairs of joint indices.
    pub bones: &'a [(usize, usize)],
    /// Joint colour.
    pub joint: Color32,
    /// Bone colour.
    pub bone: Color32,
    /// Per-joint error against the ground truth (mm), where known.
    pub errors: Option<&'a [f64]>,
}

/// Zoom and pan of the 2D view.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct View2d {
    /// Keep the crop box framed (the default; any zoom or pan turns it off, a double-click
    /// turns it back on).
    pub follow_hand: bool,
    /// Scale relative to fitting the whole frame, when not following the hand.
    #[serde(skip)]
    zoom: f32,
    /// Image point at the view's centre, when not following the hand.
    #[serde(skip)]
    center: Option<Vec2>,
}

impl Default for View2d {
    fn default() -> Self {
        View2d {
            follow_hand: true,
            zoom: 1.0,
            center: None,
        }
    }
}

/// Joints under the pointer are found within this distance (points).
const HOVER_RADIUS: f32 = 10.0;

impl View2d {
    /// Screen points per image pixel and the image point at the centre of `rect`.
    fn transform(&self, rect: Rect, image: Vec2, crop: Option<[f32; 4]>) -> (f32, Vec2) {
        let fit = (rect.width() / image.x).min(rect.height() / image.y);
        match (self.follow_hand, crop) {
            (true, Some([u0, v0, u1, v1])) => {
                let side = (u1 - u0).max(v1 - v0).max(1.0) * 1.25;
                let scale = rect.width().min(rect.height()) / side;
                (scale, Vec2::new(u0 + u1, v0 + v1) / 2.0)
            }
            _ => (fit * self.zoom, self.center.unwrap_or(image / 2.0)),
        }
    }

    /// Draws the view into the rest of `ui` and handles its input.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        texture: Option<&TextureHandle>,
        image_size: [usize; 2],
        crop: Option<[f32; 4]>,
        overlays: &[Overlay2d],
    ) -> egui::Response {
        let (rect, response) = ui.allocate_exact_size(ui.available_size(), Sense::click_and_drag());
        let image = Vec2::new(image_size[0] as f32, image_size[1] as f32);
        let (mut scale, mut center) = self.transform(rect, image, crop);
        let fit = (rect.width() / image.x).min(rect.height() / image.y);

        if response.double_clicked() {
            *self = View2d::default();
            (scale, center) = self.transform(rect, image, crop);
        } else {
            if response.dragged() {
                center -= response.drag_delta() / scale;
                self.take_over(scale / fit, center);
            }
            if response.hovered() {
                let (scroll, pinch) = ui.input(|i| (i.smooth_scroll_delta.y, i.zoom_delta()));
                let factor = (scroll * 0.0025).exp() * pinch;
                if factor != 1.0 {
                    // Zoom about the pointer: the image point under it stays put.
                    let pointer = response.hover_pos().unwrap_or(rect.center());
                    let under = center + (pointer - rect.center()) / scale;
                    let new_scale = (scale * factor).clamp(fit * 0.25, fit * 40.0);
                    center = under - (pointer - rect.center()) / new_scale;
                    scale = new_scale;
                    self.take_over(scale / fit, center);
                }
            }
        }

        let to_screen = |p: Vec2| rect.center() + (p - center) * scale;
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 0.0, Color32::from_gray(16));
        if let Some(texture) = texture {
            let image_rect = Rect::from_min_max(to_screen(Vec2::ZERO), to_screen(image));
            let uv = Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0));
            painter.image(texture.id(), image_rect, uv, Color32::WHITE);
        }
        if let Some([u0, v0, u1, v1]) = crop {
            let r = Rect::from_min_max(to_screen(Vec2::new(u0, v0)), to_screen(Vec2::new(u1, v1)));
            painter.rect_stroke(
                r,
                0.0,
                Stroke::new(1.0, Color32::from_white_alpha(150)),
                egui::StrokeKind::Middle,
            );
        }
        let radius = (scale * 2.2).clamp(2.5, 6.0);
        for overlay in overlays {
            let at = |j: usize| to_screen(Vec2::new(overlay.joints[j].x, overlay.joints[j].y));
            for &(a, b) in overlay.bones {
                painter.line_segment([at(a), at(b)], Stroke::new(2.0, overlay.bone));
            }
            for j in 0..overlay.joints.len() {
                painter.circle(
                    at(j),
                    radius,
                    overlay.joint,
                    Stroke::new(1.0, Color32::BLACK),
                );
            }
        }
        if let Some(pointer) = response.hover_pos() {
            self.hover_label(&painter, pointer, overlays, &to_screen);
        }
        painter.text(
            rect.left_bottom() + Vec2::new(6.0, -6.0),
            egui::Align2::LEFT_BOTTOM,
            "scroll: zoom · drag: pan · double-click: frame the hand",
            egui::FontId::proportional(11.0),
            Color32::from_gray(150),
        );
        response
    }

    /// Switches from following the hand to a fixed zoom and centre.
    fn take_over(&mut self, zoom: f32, center: Vec2) {
        self.follow_hand = false;
        self.zoom = zoom;
        self.center = Some(center);
    }

    /// The name (and error) of the joint nearest the pointer, if one is close.
    fn hover_label(
        &self,
        painter: &egui::Painter,
        pointer: Pos2,
        overlays: &[Overlay2d],
        to_screen: &dyn Fn(Vec2) -> Pos2,
    ) {
        let mut best: Option<(f32, String)> = None;
        for overlay in overlays {
            for (j, p) in overlay.joints.iter().enumerate() {
                let d = to_screen(Vec2::new(p.x, p.y)).distance(pointer);
                if d <= HOVER_RADIUS && best.as_ref().is_none_or(|(bd, _)| d < *bd) {
                    let error = overlay
                        .errors
                        .and_then(|e| e.get(j))
                        .map_or(String::new(), |e| format!(": {e:.1} mm off"));
                    let label = overlay.labels.get(j).copied().unwrap_or("joint");
                    best = Some((
                        d,
                        format!("{label} ({}){error}\nd = {:.0} mm", overlay.name, p.z),
                    ));
                }
            }
        }
        if let Some((_, text)) = best {
            let galley =
                painter.layout_no_wrap(text, egui::FontId::proportional(13.0), Color32::WHITE);
            let pos = pointer + Vec2::new(14.0, 10.0);
            let bg = Rect::from_min_size(pos, galley.size()).expand(4.0);
            painter.rect_filled(bg, 3.0, Color32::from_black_alpha(210));
            painter.galley(pos, galley, Color32::WHITE);
        }
    }
}
