//! The orbit camera: a target point, a distance and two angles, as in rerun and Blender.
//!
//! The world is hourhand's camera space (x right, y up, z away from the depth camera). That is
//! a left-handed frame as seen on screen, so the view and projection come from glam's `lh`
//! constructors: the home view then shows the hand as the depth camera saw it, not mirrored.

use eframe::egui;
use glam::{Mat4, Vec3};

/// Vertical field of view of the orbit camera, radians (45°).
pub const FOV_Y: f32 = std::f32::consts::FRAC_PI_4;
/// Closest the camera may come to its target, mm.
pub const MIN_DISTANCE: f32 = 5.0;
/// Farthest the camera may go from its target, mm.
pub const MAX_DISTANCE: f32 = 50_000.0;
/// Pitch stays this far from straight up or down, so the up vector never lines up with the
/// view direction.
const PITCH_LIMIT: f32 = std::f32::consts::FRAC_PI_2 - 0.01;
/// Radians of orbit per point of drag.
const ORBIT_SPEED: f32 = 0.01;
/// Zoom factor per point of scroll: 0.2 % per point, so one wheel notch (~50 points) ≈ 10 %.
const ZOOM_SPEED: f32 = 0.002;

/// Orbit camera as in rerun/Blender: drag = orbit around target, right-drag or shift+drag =
/// pan, scroll = zoom (dolly), double-click = reset.
#[derive(Clone, Debug, PartialEq)]
pub struct OrbitCamera {
    target: Vec3,
    distance: f32,
    /// Turn about the world y axis, radians; 0 looks along +z.
    yaw: f32,
    /// Elevation, radians; positive looks down on the target from above.
    pitch: f32,
    home_target: Vec3,
    home_distance: f32,
    /// Whether the user moved the camera since the last reset; `set_home` leaves it alone then.
    moved: bool,
}

impl OrbitCamera {
    /// Default view: from the depth camera's side (looking along +z as the depth camera does),
    /// `target` in the centre, `distance` mm away.
    pub fn looking_at(target: Vec3, distance: f32) -> Self {
        let distance = clamp_distance(distance);
        Self {
            target,
            distance,
            yaw: 0.0,
            pitch: 0.0,
            home_target: target,
            home_distance: distance,
            moved: false,
        }
    }

    /// Back to the home view (the one it was created with or last given by [`Self::set_home`]).
    pub fn reset(&mut self) {
        *self = Self::looking_at(self.home_target, self.home_distance);
    }

    /// A new home view (e.g. a new frame's palm). The camera jumps there unless the user has
    /// moved it since the last reset, so browsing frames does not undo a chosen viewpoint.
    pub fn set_home(&mut self, target: Vec3, distance: f32) {
        self.home_target = target;
        self.home_distance = clamp_distance(distance);
        if !self.moved {
            self.reset();
        }
    }

    /// Whether the user has moved the camera away from its home view.
    pub fn moved(&self) -> bool {
        self.moved
    }

    /// The point the camera orbits around and looks at, mm.
    pub fn target(&self) -> Vec3 {
        self.target
    }

    /// The home target, mm: where [`Self::reset`] returns to (the ground grid is centred under it).
    pub fn home_target(&self) -> Vec3 {
        self.home_target
    }

    /// Distance from the eye to the target, mm.
    pub fn distance(&self) -> f32 {
        self.distance
    }

    /// Unit vector from the target towards the eye.
    fn back(&self) -> Vec3 {
        let (sy, cy) = self.yaw.sin_cos();
        let (sp, cp) = self.pitch.sin_cos();
        // yaw = pitch = 0: the eye sits at −z of the target, looking along +z.
        Vec3::new(-sy * cp, sp, -cy * cp)
    }

    /// The eye position, mm.
    pub fn eye(&self) -> Vec3 {
        self.target + self.back() * self.distance
    }

    /// The view matrix (world → view space).
    pub fn view(&self) -> Mat4 {
        glam::camera::lh::view::look_at_mat4(self.eye(), self.target, Vec3::Y)
    }

    /// Near and far clip distances, mm, scaled with the distance so depth precision follows
    /// the zoom.
    pub fn clip_range(&self) -> (f32, f32) {
        let near = (self.distance * 0.02).max(1.0);
        (near, self.distance * 20.0 + 5_000.0)
    }

    /// World → clip space for a viewport of `aspect` = width / height, depth in 0..1.
    pub fn view_proj(&self, aspect: f32) -> Mat4 {
        let aspect = if aspect.is_finite() && aspect > 0.0 {
            aspect
        } else {
            1.0
        };
        let (near, far) = self.clip_range();
        glam::camera::lh::proj::directx::perspective(FOV_Y, aspect, near, far) * self.view()
    }

    /// Orbits around the target by a drag of (`dx`, `dy`) points. The near side of the scene
    /// follows the pointer: dragging right moves the eye to the left around the target,
    /// dragging down raises it to look from above.
    pub fn orbit(&mut self, dx: f32, dy: f32) {
        if !(dx.is_finite() && dy.is_finite()) {
            return;
        }
        self.yaw += dx * ORBIT_SPEED;
        self.yaw = self.yaw.rem_euclid(std::f32::consts::TAU);
        self.pitch = (self.pitch + dy * ORBIT_SPEED).clamp(-PITCH_LIMIT, PITCH_LIMIT);
        self.moved = true;
    }

    /// Pans by a drag of (`dx`, `dy`) points in a view `viewport_height` points tall: the
    /// point under the pointer at the target's depth follows the pointer.
    pub fn pan(&mut self, dx: f32, dy: f32, viewport_height: f32) {
        if !(dx.is_finite() && dy.is_finite() && viewport_height > 0.0) {
            return;
        }
        let mm_per_point = 2.0 * self.distance * (FOV_Y * 0.5).tan() / viewport_height;
        let view = self.view();
        // Rows of the view matrix: the camera's right and up axes in world space.
        let right = view.row(0).truncate();
        let up = view.row(1).truncate();
        self.target += (-right * dx + up * dy) * mm_per_point;
        self.moved = true;
    }

    /// Dollies towards (`factor` < 1) or away from (`factor` > 1) the target; the distance
    /// stays within [`MIN_DISTANCE`], [`MAX_DISTANCE`].
    pub fn zoom(&mut self, factor: f32) {
        if !(factor.is_finite() && factor > 0.0) {
            return;
        }
        self.distance = clamp_distance(self.distance * factor);
        self.moved = true;
    }

    /// Applies drag/scroll/double-click of `response` (the view's rect, sensed with
    /// `Sense::click_and_drag()`). Returns true when the camera changed.
    pub fn handle_input(&mut self, ui: &egui::Ui, response: &egui::Response) -> bool {
        let before = self.clone();
        if response.double_clicked() {
            self.reset();
            return *self != before;
        }
        let delta = response.drag_delta();
        if delta != egui::Vec2::ZERO {
            let shift = ui.input(|i| i.modifiers.shift);
            let pan = response.dragged_by(egui::PointerButton::Secondary)
                || response.dragged_by(egui::PointerButton::Middle)
                || (shift && response.dragged_by(egui::PointerButton::Primary));
            if pan {
                self.pan(delta.x, delta.y, response.rect.height());
            } else if response.dragged_by(egui::PointerButton::Primary) {
                self.orbit(delta.x, delta.y);
            }
        }
        if response.hovered() {
            let scroll = ui.input(|i| i.smooth_scroll_delta.y);
            if scroll != 0.0 {
                self.zoom((-scroll * ZOOM_SPEED).exp());
            }
        }
        *self != before
    }
}

fn clamp_distance(d: f32) -> f32 {
    if d.is_finite() {
        d.clamp(MIN_DISTANCE, MAX_DISTANCE)
    } else {
        500.0
    }
}
