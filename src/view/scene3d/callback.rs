//! The egui side: a paint callback that renders the scene offscreen in `prepare` and
//! composites it in `paint` (egui's own pass has no depth buffer, so the 3D pass cannot draw
//! into it directly).

use std::sync::Arc;

use eframe::egui;
use eframe::egui_wgpu;

use super::Scene3d;
use super::camera::OrbitCamera;
use super::renderer::Scene3dRenderer;

/// Paints the scene into `rect` via a paint callback, seen from `camera`. `version` changes
/// whenever `scene` changes, so the renderer re-uploads the cloud/skeleton buffers only then
/// (camera changes need just a uniform write). Needs [`Scene3dRenderer::register`] at start-up;
/// without it nothing is drawn.
pub fn paint(
    ui: &mut egui::Ui,
    rect: egui::Rect,
    camera: &OrbitCamera,
    scene: Arc<Scene3d>,
    version: u64,
) {
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        rect,
        SceneCallback {
            rect,
            camera: camera.clone(),
            scene,
            version,
        },
    ));
}

/// One frame's request to draw the scene.
struct SceneCallback {
    rect: egui::Rect,
    camera: OrbitCamera,
    scene: Arc<Scene3d>,
    version: u64,
}

/// The pixel size egui's viewport for the callback will have: the offscreen target is made
/// exactly this size so the composite samples it 1:1.
fn viewport_size(rect: egui::Rect, pixels_per_point: f32, screen: [u32; 2]) -> Option<(u32, u32)> {
    let vp = egui::epaint::ViewportInPixels::from_points(&rect, pixels_per_point, screen);
    (vp.width_px > 0 && vp.height_px > 0).then_some((vp.width_px as u32, vp.height_px as u32))
}

impl egui_wgpu::CallbackTrait for SceneCallback {
    fn prepare(
        &self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        screen: &egui_wgpu::ScreenDescriptor,
        egui_encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        let Some(renderer) = resources.get_mut::<Scene3dRenderer>() else {
            log::warn!("3D view: Scene3dRenderer::register was not called; nothing drawn");
            return Vec::new();
        };
        let Some((w, h)) = viewport_size(self.rect, screen.pixels_per_point, screen.size_in_pixels)
        else {
            return Vec::new();
        };
        let max = device.limits().max_texture_dimension_2d;
        renderer.prepare(
            device,
            queue,
            egui_encoder,
            &self.scene,
            self.version,
            &self.camera,
            w.min(max),
            h.min(max),
        );
        Vec::new()
    }

    fn paint(
        &self,
        info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        let Some(renderer) = resources.get::<Scene3dRenderer>() else {
            return;
        };
        let vp = info.viewport_in_pixels();
        if vp.width_px <= 0 || vp.height_px <= 0 {
            return;
        }
        renderer.composite(render_pass, (vp.width_px as u32, vp.height_px as u32));
    }
}
