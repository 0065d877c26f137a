//! The GPU side of the 3D view: pipelines, instance buffers and the offscreen colour + depth
//! target the scene is drawn into before it is composited into egui (or read back).

use eframe::egui::Color32;
use glam::Vec3;

use super::camera::{FOV_Y, OrbitCamera};
use super::gpu::{self, CameraUniform, CloudUniform, GrowBuffer, Joint, Segment};
use super::{Scene3d, guides};

/// Format of the offscreen colour target: plain RGBA8, so its bytes are the colours as given
/// (gamma-encoded like egui's `Color32`) and a read-back needs no conversion.
pub const COLOR_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;
/// Format of the offscreen depth target.
pub const DEPTH_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Depth32Float;
/// Background colour of the view.
pub const BACKGROUND: Color32 = Color32::from_rgb(24, 24, 28);

/// The offscreen targets at one size, with the composite bind group that samples the colour.
struct Target {
    size: (u32, u32),
    color: wgpu::Texture,
    color_view: wgpu::TextureView,
    depth_view: wgpu::TextureView,
    composite: wgpu::BindGroup,
}

/// GPU resources, created once per wgpu device.
pub struct Scene3dRenderer {
    pipelines: gpu::Pipelines,
    camera: wgpu::Buffer,
    camera_group: wgpu::BindGroup,
    cloud: wgpu::Buffer,
    cloud_group: wgpu::BindGroup,
    depths: GrowBuffer,
    joints: GrowBuffer,
    bones: GrowBuffer,
    axes: wgpu::Buffer,
    points: u32,
    joint_count: u32,
    bone_count: u32,
    target: Option<Target>,
    /// `version` of the scene now in the buffers (paint callbacks only).
    uploaded: Option<u64>,
    /// What the target holds (paint callbacks only): scene version, camera and size. A UI
    /// frame that asks for the same again composites the target as it is: on a software
    /// renderer a redraw of the cloud costs a good part of a UI frame.
    drawn: Option<Drawn>,
    /// Frames drawn and frames composited from the target as it was (paint callbacks only).
    redraws: (u64, u64),
}

/// What a drawn target shows.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Drawn {
    version: u64,
    camera: [[f32; 4]; 4],
    target: Vec3,
    home: Vec3,
    size: (u32, u32),
}

impl Scene3dRenderer {
    /// Creates the pipelines and buffers; `output_format` is the format of the pass the view
    /// is composited into (egui's `target_format`).
    pub fn new(device: &wgpu::Device, output_format: wgpu::TextureFormat) -> Self {
        let pipelines = gpu::Pipelines::new(device, output_format);
        let camera = gpu::uniform_buffer(device, "scene3d camera", size_of::<CameraUniform>());
        let cloud = gpu::uniform_buffer(device, "scene3d cloud", size_of::<CloudUniform>());
        let camera_group = gpu::uniform_group(device, &pipelines.uniform_layout, &camera);
        let cloud_group = gpu::uniform_group(device, &pipelines.uniform_layout, &cloud);
        let axes = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("scene3d axes"),
            size: (3 * size_of::<Segment>()) as u64,
            usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            pipelines,
            camera,
            camera_group,
            cloud,
            cloud_group,
            depths: GrowBuffer::new("scene3d depths"),
            joints: GrowBuffer::new("scene3d joints"),
            bones: GrowBuffer::new("scene3d bones"),
            axes,
            points: 0,
            joint_count: 0,
            bone_count: 0,
            target: None,
            uploaded: None,
            drawn: None,
            redraws: (0, 0),
        }
    }

    /// Puts a renderer into egui's callback resources (call once at app start with
    /// `cc.wgpu_render_state`), where [`super::paint`]'s callbacks find it.
    pub fn register(render_state: &eframe::egui_wgpu::RenderState) {
        let renderer = Self::new(&render_state.device, render_state.target_format);
        render_state
            .renderer
            .write()
            .callback_resources
            .insert(renderer);
    }

    /// Renders `scene` from `camera` into an RGBA8 image (headless; for tests and
    /// screenshots). Returns width*height*4 bytes (unpadded), or nothing when a side is 0 or
    /// the read-back fails (logged).
    pub fn render_to_image(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        scene: &Scene3d,
        camera: &OrbitCamera,
        width: u32,
        height: u32,
    ) -> Vec<u8> {
        if width == 0 || height == 0 {
            return Vec::new();
        }
        self.upload(device, queue, scene);
        self.uploaded = None;
        self.drawn = None;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("scene3d render_to_image"),
        });
        self.draw(device, queue, &mut encoder, camera, width, height);
        let Some(target) = &self.target else {
            return Vec::new();
        };
        match super::readback::read_rgba8(device, queue, encoder, &target.color, width, height) {
            Ok(pixels) => pixels,
            Err(e) => {
                log::error!("3D view read-back: {e}");
                Vec::new()
            }
        }
    }

    /// Uploads the scene unless `version` is already in the buffers, then records the draw of
    /// a `width`×`height` frame into `encoder` (the paint callback's `prepare`).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn prepare(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        scene: &Scene3d,
        version: u64,
        camera: &OrbitCamera,
        width: u32,
        height: u32,
    ) {
        let drawn = Drawn {
            version,
            camera: camera
                .view_proj(width as f32 / height as f32)
                .to_cols_array_2d(),
            target: camera.target(),
            home: camera.home_target(),
            size: (width, height),
        };
        if self.drawn == Some(drawn) && self.target.as_ref().is_some_and(|t| t.size == drawn.size) {
            self.redraws.1 += 1;
            return;
        }
        if self.uploaded != Some(version) {
            self.upload(device, queue, scene);
            self.uploaded = Some(version);
        }
        self.draw(device, queue, encoder, camera, width, height);
        self.drawn = Some(drawn);
        self.redraws.0 += 1;
    }

    /// Frames the paint callbacks drew, and frames they composited without drawing (nothing
    /// had changed).
    pub fn redraws(&self) -> (u64, u64) {
        self.redraws
    }

    /// Draws the offscreen colour target into egui's pass, over the viewport egui set for the
    /// callback. Nothing when the target is missing or of another size (a frame in which
    /// `prepare` did not run for this size).
    pub(super) fn composite(&self, pass: &mut wgpu::RenderPass<'static>, size: (u32, u32)) {
        let Some(target) = &self.target else { return };
        if target.size != size {
            return;
        }
        pass.set_pipeline(&self.pipelines.composite);
        pass.set_bind_group(0, &target.composite, &[]);
        pass.draw(0..3, 0..1);
    }

    /// Copies the scene's cloud depths, joints and bones into the instance buffers.
    fn upload(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, scene: &Scene3d) {
        self.points = 0;
        if let Some(cloud) = &scene.cloud {
            let n = (cloud.width as usize * cloud.height as usize).min(cloud.depth_mm.len());
            if n > 0 && cloud.width > 0 {
                self.depths
                    .write(device, queue, bytemuck::cast_slice(&cloud.depth_mm[..n]));
                let k = cloud.intrinsics;
                let uniform = CloudUniform {
                    intrinsics: [k.fx as f32, k.fy as f32, k.cx as f32, k.cy as f32],
                    origin: cloud.origin,
                    width: cloud.width,
                    _pad0: 0,
                    near: cloud.near,
                    far: cloud.far,
                    _pad1: [0.0; 2],
                };
                queue.write_buffer(&self.cloud, 0, bytemuck::bytes_of(&uniform));
                self.points = n as u32;
            }
        }

        let mut joints = Vec::new();
        let mut bones = Vec::new();
        for s in &scene.skeletons {
            let radius = if s.joint_radius.is_finite() && s.joint_radius > 0.0 {
                s.joint_radius
            } else {
                4.0
            };
            let joint_color = gpu::rgba(s.joint_color);
            let bone_color = gpu::rgba(s.bone_color);
            for j in s.joints.iter().filter(|j| j.is_finite()) {
                joints.push(Joint {
                    center: j.to_array(),
                    radius,
                    color: joint_color,
                });
            }
            for &(a, b) in &s.bones {
                let (Some(pa), Some(pb)) = (s.joints.get(a), s.joints.get(b)) else {
                    continue;
                };
                if pa.is_finite() && pb.is_finite() {
                    bones.push(Segment::new(*pa, *pb, 1.0, radius * 0.5, bone_color));
                }
            }
        }
        self.joints
            .write(device, queue, bytemuck::cast_slice(&joints));
        self.bones
            .write(device, queue, bytemuck::cast_slice(&bones));
        self.joint_count = joints.len() as u32;
        self.bone_count = bones.len() as u32;
    }

    /// Makes sure the offscreen target has this size.
    fn ensure_target(&mut self, device: &wgpu::Device, width: u32, height: u32) {
        if self
            .target
            .as_ref()
            .is_some_and(|t| t.size == (width, height))
        {
            return;
        }
        let size = wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        };
        let texture = |label, format, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size,
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format,
                usage,
                view_formats: &[],
            })
        };
        let color = texture(
            "scene3d colour",
            COLOR_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
        );
        let depth = texture(
            "scene3d depth",
            DEPTH_FORMAT,
            wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        let color_view = color.create_view(&Default::default());
        let depth_view = depth.create_view(&Default::default());
        let composite = self.pipelines.composite_group(device, &color_view);
        self.target = Some(Target {
            size: (width, height),
            color,
            color_view,
            depth_view,
            composite,
        });
    }

    /// Writes the camera and the guides for a `width`×`height` frame and records its pass.
    fn draw(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        camera: &OrbitCamera,
        width: u32,
        height: u32,
    ) {
        self.ensure_target(device, width, height);
        let aspect = width as f32 / height as f32;
        let grid_center = camera.home_target() - Vec3::Y * guides::GRID_DROP_MM;
        let uniform = CameraUniform {
            view_proj: camera.view_proj(aspect).to_cols_array_2d(),
            eye: camera.eye().to_array(),
            focal_px: height as f32 * 0.5 / (FOV_Y * 0.5).tan(),
            viewport: [width as f32, height as f32],
            _pad: [0.0; 2],
            grid_center: grid_center.to_array(),
            grid_half: guides::GRID_HALF_MM,
        };
        queue.write_buffer(&self.camera, 0, bytemuck::bytes_of(&uniform));
        let axes = guides::axes(camera.target());
        queue.write_buffer(&self.axes, 0, bytemuck::cast_slice(&axes));

        let Some(target) = &self.target else { return };
        let bg = gpu::rgba(BACKGROUND);
        let background = wgpu::Color {
            r: bg[0] as f64,
            g: bg[1] as f64,
            b: bg[2] as f64,
            a: 1.0,
        };
        let p = &self.pipelines;
        // Two passes: the point cloud and the guides, then the skeletons over them with the depth
        // buffer cleared. NYU annotates joints on the skin, so a ground-truth joint sits among
        // the cloud's points and would be hidden by them; the skeletons still hide each other.
        let mut pass = begin(
            encoder,
            target,
            wgpu::LoadOp::Clear(background),
            "scene3d cloud",
        );
        pass.set_bind_group(0, &self.camera_group, &[]);
        if let Some(depths) = self.depths.buffer().filter(|_| self.points > 0) {
            pass.set_pipeline(&p.cloud);
            pass.set_bind_group(1, &self.cloud_group, &[]);
            pass.set_vertex_buffer(0, depths.slice(..self.points as u64 * 4));
            pass.draw(0..6, 0..self.points);
        }
        // The axes at the orbit target are a guide, hidden by the cloud like the grid.
        pass.set_pipeline(&p.bone);
        pass.set_vertex_buffer(0, self.axes.slice(..));
        pass.draw(0..6, 0..3);
        pass.set_pipeline(&p.grid);
        pass.draw(0..6, 0..1);
        drop(pass);
        let mut pass = begin(encoder, target, wgpu::LoadOp::Load, "scene3d skeletons");
        pass.set_bind_group(0, &self.camera_group, &[]);
        pass.set_pipeline(&p.bone);
        if let Some(bones) = self.bones.buffer().filter(|_| self.bone_count > 0) {
            pass.set_vertex_buffer(0, bones.slice(..));
            pass.draw(0..6, 0..self.bone_count);
        }
        if let Some(joints) = self.joints.buffer().filter(|_| self.joint_count > 0) {
            pass.set_pipeline(&p.joint);
            pass.set_vertex_buffer(0, joints.slice(..));
            pass.draw(0..6, 0..self.joint_count);
        }
    }
}

/// A render pass into the view's target: colour loaded or cleared as `color`, depth cleared.
fn begin<'e>(
    encoder: &'e mut wgpu::CommandEncoder,
    target: &Target,
    color: wgpu::LoadOp<wgpu::Color>,
    label: &str,
) -> wgpu::RenderPass<'e> {
    encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view: &target.color_view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: color,
                store: wgpu::StoreOp::Store,
            },
        })],
        depth_stencil_attachment: Some(wgpu::RenderPassDepthStencilAttachment {
            view: &target.depth_view,
            depth_ops: Some(wgpu::Operations {
                load: wgpu::LoadOp::Clear(1.0),
                store: wgpu::StoreOp::Discard,
            }),
            stencil_ops: None,
        }),
        timestamp_writes: None,
        occlusion_query_set: None,
        multiview_mask: None,
    })
}
