//! Pipelines, uniform layouts and buffer helpers of the 3D view. The `#[repr(C)]` structs here
//! mirror the WGSL structs of `shaders/view/` field for field.

use bytemuck::{Pod, Zeroable};
use eframe::egui::Color32;
use glam::Vec3;

use super::renderer::{COLOR_FORMAT, DEPTH_FORMAT};

/// A view shader: `shaders/view/<name>.wesl`, composed by `build.rs` (its imports of
/// `shaders/view/lib/` resolved) and embedded.
macro_rules! view_shader {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!(env!("OUT_DIR"), "/shaders/view/", $name, ".wgsl")),
        )
    };
}

const CLOUD_WGSL: &str = view_shader!("cloud").1;
const SKELETON_WGSL: &str = view_shader!("skeleton").1;
const GRID_WGSL: &str = view_shader!("grid").1;
const COMPOSITE_WGSL: &str = view_shader!("composite").1;

/// The view's shaders as (name under `shaders/view/`, composed WGSL), for portability tests.
pub const SHADERS: [(&str, &str); 4] = [
    view_shader!("cloud"),
    view_shader!("skeleton"),
    view_shader!("grid"),
    view_shader!("composite"),
];

/// Sizes of the Rust twins of the WGSL uniform structs, (struct name, bytes), so a test can
/// hold them against naga's layout.
#[doc(hidden)]
pub const UNIFORM_SIZES: [(&str, usize); 2] = [
    ("Camera", size_of::<CameraUniform>()),
    ("Cloud", size_of::<CloudUniform>()),
];

/// WGSL `Camera`: shared by every scene shader.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct CameraUniform {
    pub view_proj: [[f32; 4]; 4],
    pub eye: [f32; 3],
    pub focal_px: f32,
    pub viewport: [f32; 2],
    pub _pad: [f32; 2],
    pub grid_center: [f32; 3],
    pub grid_half: f32,
}

/// WGSL `Cloud`: how to back-project the depth window.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct CloudUniform {
    pub intrinsics: [f32; 4],
    pub origin: [u32; 2],
    pub width: u32,
    pub _pad0: u32,
    pub near: f32,
    pub far: f32,
    pub _pad1: [f32; 2],
}

/// One joint disc, as the joint pipeline reads it per instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct Joint {
    pub center: [f32; 3],
    pub radius: f32,
    pub color: [f32; 4],
}

/// One thick line (a bone or an axis), as the bone pipeline reads it per instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
pub(super) struct Segment {
    a: [f32; 3],
    /// Half the width, mm (at least a pixel on screen).
    half_width: f32,
    b: [f32; 3],
    /// How far both ends move towards the eye, mm.
    bias: f32,
    color: [f32; 4],
}

impl Segment {
    pub fn new(a: Vec3, b: Vec3, half_width: f32, bias: f32, color: [f32; 4]) -> Self {
        Self {
            a: a.to_array(),
            half_width,
            b: b.to_array(),
            bias,
            color,
        }
    }
}

/// An egui colour as the 0..1 floats the shaders take (gamma-encoded, like the target).
pub(super) fn rgba(c: Color32) -> [f32; 4] {
    c.to_normalized_gamma_f32()
}

/// A vertex/instance buffer that grows (by powers of two) to fit what is written.
pub(super) struct GrowBuffer {
    label: &'static str,
    buffer: Option<wgpu::Buffer>,
}

impl GrowBuffer {
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            buffer: None,
        }
    }

    pub fn buffer(&self) -> Option<&wgpu::Buffer> {
        self.buffer.as_ref()
    }

    /// Writes `bytes` at the start, reallocating when they do not fit.
    pub fn write(&mut self, device: &wgpu::Device, queue: &wgpu::Queue, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let needed = (bytes.len() as u64).next_power_of_two().max(256);
        if self
            .buffer
            .as_ref()
            .is_none_or(|b| b.size() < bytes.len() as u64)
        {
            self.buffer = Some(device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(self.label),
                size: needed,
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        if let Some(b) = &self.buffer {
            // write_buffer wants a multiple of 4 bytes; every instance type here is.
            queue.write_buffer(b, 0, bytes);
        }
    }
}

pub(super) fn uniform_buffer(device: &wgpu::Device, label: &str, size: usize) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size as u64,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

pub(super) fn uniform_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    buffer: &wgpu::Buffer,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("scene3d uniform"),
        layout,
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: buffer.as_entire_binding(),
        }],
    })
}

/// Every pipeline of the view.
pub(super) struct Pipelines {
    /// One uniform buffer visible to both stages: the camera (group 0) and the cloud (group 1).
    pub uniform_layout: wgpu::BindGroupLayout,
    composite_layout: wgpu::BindGroupLayout,
    sampler: wgpu::Sampler,
    pub cloud: wgpu::RenderPipeline,
    pub joint: wgpu::RenderPipeline,
    pub bone: wgpu::RenderPipeline,
    pub grid: wgpu::RenderPipeline,
    pub composite: wgpu::RenderPipeline,
}

/// How a scene pipeline tests and writes depth.
fn depth(compare: wgpu::CompareFunction, write: bool) -> Option<wgpu::DepthStencilState> {
    Some(wgpu::DepthStencilState {
        format: DEPTH_FORMAT,
        depth_write_enabled: Some(write),
        depth_compare: Some(compare),
        stencil: Default::default(),
        bias: Default::default(),
    })
}

struct Stage<'a> {
    module: &'a wgpu::ShaderModule,
    vs: &'a str,
    fs: &'a str,
}

#[allow(clippy::too_many_arguments)]
fn pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::PipelineLayout,
    stage: Stage<'_>,
    buffers: &[Option<wgpu::VertexBufferLayout<'_>>],
    format: wgpu::TextureFormat,
    blend: Option<wgpu::BlendState>,
    depth_stencil: Option<wgpu::DepthStencilState>,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module: stage.module,
            entry_point: Some(stage.vs),
            buffers,
            compilation_options: Default::default(),
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module: stage.module,
            entry_point: Some(stage.fs),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend,
                write_mask: wgpu::ColorWrites::ALL,
            })],
            compilation_options: Default::default(),
        }),
        multiview_mask: None,
        cache: None,
    })
}

impl Pipelines {
    pub fn new(device: &wgpu::Device, output_format: wgpu::TextureFormat) -> Self {
        let module = |label, src: &str| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            })
        };
        let cloud_module = module("scene3d cloud", CLOUD_WGSL);
        let skeleton_module = module("scene3d skeleton", SKELETON_WGSL);
        let grid_module = module("scene3d grid", GRID_WGSL);
        let composite_module = module("scene3d composite", COMPOSITE_WGSL);

        let uniform_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("scene3d uniform"),
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX_FRAGMENT,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let composite_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("scene3d composite"),
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: wgpu::ShaderStages::FRAGMENT,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let layout = |label, groups: &[Option<&wgpu::BindGroupLayout>]| {
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: groups,
                immediate_size: 0,
            })
        };
        let camera_only = layout("scene3d camera", &[Some(&uniform_layout)]);
        let camera_cloud = layout(
            "scene3d cloud",
            &[Some(&uniform_layout), Some(&uniform_layout)],
        );
        let composite_pl = layout("scene3d composite", &[Some(&composite_layout)]);

        let instances = |stride: usize, attributes| {
            Some(wgpu::VertexBufferLayout {
                array_stride: stride as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes,
            })
        };
        let depth_attr = wgpu::vertex_attr_array![0 => Float32];
        let joint_attr = wgpu::vertex_attr_array![0 => Float32x3, 1 => Float32, 2 => Float32x4];
        let bone_attr = wgpu::vertex_attr_array![
            0 => Float32x3, 1 => Float32, 2 => Float32x3, 3 => Float32, 4 => Float32x4
        ];

        let less = wgpu::CompareFunction::Less;
        let less_equal = wgpu::CompareFunction::LessEqual;
        let cloud = pipeline(
            device,
            "scene3d cloud",
            &camera_cloud,
            Stage {
                module: &cloud_module,
                vs: "vs_main",
                fs: "fs_main",
            },
            &[instances(4, &depth_attr)],
            COLOR_FORMAT,
            None,
            depth(less, true),
        );
        let joint = pipeline(
            device,
            "scene3d joints",
            &camera_only,
            Stage {
                module: &skeleton_module,
                vs: "vs_joint",
                fs: "fs_joint",
            },
            &[instances(size_of::<Joint>(), &joint_attr)],
            COLOR_FORMAT,
            None,
            depth(less_equal, true),
        );
        let bone = pipeline(
            device,
            "scene3d bones",
            &camera_only,
            Stage {
                module: &skeleton_module,
                vs: "vs_bone",
                fs: "fs_bone",
            },
            &[instances(size_of::<Segment>(), &bone_attr)],
            COLOR_FORMAT,
            None,
            depth(less_equal, true),
        );
        let grid = pipeline(
            device,
            "scene3d grid",
            &camera_only,
            Stage {
                module: &grid_module,
                vs: "vs_main",
                fs: "fs_main",
            },
            &[],
            COLOR_FORMAT,
            Some(wgpu::BlendState::ALPHA_BLENDING),
            depth(less, false),
        );
        let composite = pipeline(
            device,
            "scene3d composite",
            &composite_pl,
            Stage {
                module: &composite_module,
                vs: "vs_main",
                fs: if output_format.is_srgb() {
                    "fs_linear"
                } else {
                    "fs_gamma"
                },
            },
            &[],
            output_format,
            None,
            None,
        );
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("scene3d composite"),
            ..Default::default()
        });
        Self {
            uniform_layout,
            composite_layout,
            sampler,
            cloud,
            joint,
            bone,
            grid,
            composite,
        }
    }

    /// The bind group that lets the composite pipeline sample `color`.
    pub fn composite_group(
        &self,
        device: &wgpu::Device,
        color: &wgpu::TextureView,
    ) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("scene3d composite"),
            layout: &self.composite_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(color),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::Sampler(&self.sampler),
                },
            ],
        })
    }
}
