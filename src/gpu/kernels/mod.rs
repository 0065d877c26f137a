//! One WGSL kernel per op: each file here holds the op's uniform parameter struct (mirrored
//! byte for byte by the struct of the same name in `shaders/<file>.wgsl`) and the function that
//! turns a program op into dispatches.
//!
//! Binding convention of every kernel: `@binding(0)` the parameters (uniform), then the tensors
//! and parameters it reads in the order the op lists them, then the tensor it writes.

pub mod adam;
pub mod affine;
pub mod batch_norm_grad;
pub mod batch_norm_train;
pub mod concat;
pub mod concat_grad;
pub mod conv2d;
pub mod conv2d_grad;
pub mod copy;
pub mod dropout;
pub mod linear;
pub mod linear_grad;
pub mod loss;
pub mod max_pool;
pub mod max_pool_grad;
pub mod patch;
pub mod patch_grad;
pub mod peak;
pub mod relu;
pub mod sum;
pub mod upsample;
pub mod upsample_grad;

use crate::net::{Op, Program};

/// The shader files, embedded at build time.
mod wgsl {
    pub const CONV2D: &str = include_str!("../../../shaders/conv2d.wgsl");
    pub const LINEAR: &str = include_str!("../../../shaders/linear.wgsl");
    pub const POOL: &str = include_str!("../../../shaders/pool.wgsl");
    pub const UPSAMPLE: &str = include_str!("../../../shaders/upsample.wgsl");
    pub const ELEMENTWISE: &str = include_str!("../../../shaders/elementwise.wgsl");
    pub const BATCH_NORM: &str = include_str!("../../../shaders/batch_norm.wgsl");
    pub const PATCH: &str = include_str!("../../../shaders/patch.wgsl");
    pub const CONCAT: &str = include_str!("../../../shaders/concat.wgsl");
    pub const PEAK: &str = include_str!("../../../shaders/peak.wgsl");
    pub const RELU: &str = include_str!("../../../shaders/relu.wgsl");
    pub const RELU_GRAD: &str = include_str!("../../../shaders/relu_grad.wgsl");
    pub const DROPOUT: &str = include_str!("../../../shaders/dropout.wgsl");
    pub const COPY: &str = include_str!("../../../shaders/copy.wgsl");
    pub const MAX_POOL_GRAD: &str = include_str!("../../../shaders/max_pool_grad.wgsl");
    pub const UPSAMPLE_GRAD: &str = include_str!("../../../shaders/upsample_grad.wgsl");
    pub const PATCH_GRAD: &str = include_str!("../../../shaders/patch_grad.wgsl");
    pub const CONCAT_GRAD: &str = include_str!("../../../shaders/concat_grad.wgsl");
    pub const BN_PARTIALS: &str = include_str!("../../../shaders/batch_norm_partials.wgsl");
    pub const BN_STATS: &str = include_str!("../../../shaders/batch_norm_stats.wgsl");
    pub const BN_TRAIN: &str = include_str!("../../../shaders/batch_norm_train.wgsl");
    pub const BN_RUNNING: &str = include_str!("../../../shaders/batch_norm_running.wgsl");
    pub const BN_GRAD_PARTIALS: &str =
        include_str!("../../../shaders/batch_norm_grad_partials.wgsl");
    pub const BN_GRAD_PARAMS: &str = include_str!("../../../shaders/batch_norm_grad_params.wgsl");
    pub const BN_GRAD: &str = include_str!("../../../shaders/batch_norm_grad.wgsl");
    pub const LOSS: &str = include_str!("../../../shaders/loss.wgsl");
    pub const ADAM: &str = include_str!("../../../shaders/adam.wgsl");
    pub const CONV2D_GRAD: &str = include_str!("../../../shaders/conv2d_grad.wgsl");
    pub const LINEAR_GRAD: &str = include_str!("../../../shaders/linear_grad.wgsl");
}

/// Invocations per workgroup of every kernel (the `WG_SIZE` override). Within WebGPU's
/// default limit of 256, and a multiple of every vendor's SIMD width.
pub const WORKGROUP_SIZE: u32 = 64;

/// WebGPU's default limit of workgroups per dispatch dimension.
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

/// The kernels: one per op the inference program uses, and those training adds (the forward of
/// training-only ops, every backward, the losses and the optimizer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `shaders/conv2d.wgsl`, general entry point.
    Conv2d,
    /// `shaders/conv2d.wgsl`, stride-1 3×3 entry point.
    Conv2d3x3,
    /// `shaders/conv2d.wgsl`, stride-1 unpadded 1×1 entry point.
    Conv2dPointwise,
    /// `shaders/linear.wgsl`
    Linear,
    /// `shaders/pool.wgsl`
    MaxPool,
    /// `shaders/upsample.wgsl`
    Upsample,
    /// `shaders/elementwise.wgsl`
    Add,
    /// `shaders/batch_norm.wgsl`
    Affine,
    /// `shaders/patch.wgsl`
    Patch,
    /// `shaders/concat.wgsl`
    Concat,
    /// `shaders/peak.wgsl` (benchmark only: the adapter's arithmetic peak)
    Peak,
    /// `shaders/relu.wgsl` (training form)
    Relu,
    /// `shaders/relu_grad.wgsl`
    ReluGrad,
    /// `shaders/dropout.wgsl` (forward and backward)
    Dropout,
    /// `shaders/copy.wgsl` (backward of a sum)
    Copy,
    /// `shaders/max_pool_grad.wgsl`, any windows
    MaxPoolGrad,
    /// `shaders/max_pool_grad.wgsl`, windows that do not overlap
    MaxPoolGradCells,
    /// `shaders/upsample_grad.wgsl`
    UpsampleGrad,
    /// `shaders/patch_grad.wgsl`
    PatchGrad,
    /// `shaders/concat_grad.wgsl`
    ConcatGrad,
    /// `shaders/batch_norm_partials.wgsl`
    BnPartials,
    /// `shaders/batch_norm_stats.wgsl`
    BnStats,
    /// `shaders/batch_norm_train.wgsl`
    BnNormalize,
    /// `shaders/batch_norm_running.wgsl`
    BnRunning,
    /// `shaders/batch_norm_grad_partials.wgsl`
    BnGradPartials,
    /// `shaders/batch_norm_grad_params.wgsl`
    BnGradParams,
    /// `shaders/batch_norm_grad.wgsl`
    BnGradInput,
    /// `shaders/loss.wgsl`
    Loss,
    /// `shaders/adam.wgsl`
    Adam,
    /// `shaders/conv2d_grad.wgsl`, input gradient, general entry point.
    Conv2dDx,
    /// `shaders/conv2d_grad.wgsl`, input gradient, stride-1 3×3 entry point.
    Conv2dDx3x3,
    /// `shaders/conv2d_grad.wgsl`, input gradient, stride-1 unpadded 1×1 entry point.
    Conv2dDxPointwise,
    /// `shaders/conv2d_grad.wgsl`, weight and bias gradients (partials), general entry point.
    Conv2dDw,
    /// `shaders/conv2d_grad.wgsl`, weight and bias gradients (partials), stride-1 3×3.
    Conv2dDw3x3,
    /// `shaders/conv2d_grad.wgsl`, weight and bias gradients (partials), stride-1 1×1.
    Conv2dDwPointwise,
    /// `shaders/conv2d_grad.wgsl`, sum of the weight and bias gradient partials.
    Conv2dDwReduce,
    /// `shaders/linear_grad.wgsl`, input gradient.
    LinearDx,
    /// `shaders/linear_grad.wgsl`, weight and bias gradients.
    LinearDw,
}

/// Where a kernel's code lives.
#[derive(Debug, Clone, Copy)]
pub struct KernelSource {
    /// File name under `shaders/`.
    pub file: &'static str,
    /// The WGSL text (embedded at build time).
    pub wgsl: &'static str,
    /// The compute entry point.
    pub entry: &'static str,
}

/// Size and field offsets of a Rust uniform struct, for checking against its WGSL twin.
#[derive(Debug, Clone, Copy)]
pub struct StructLayout {
    /// The struct's name, the same in Rust and WGSL.
    pub name: &'static str,
    /// `size_of` the Rust struct.
    pub size: usize,
    /// `(field, offset_of)` of each Rust field, in order.
    pub fields: &'static [(&'static str, usize)],
}

/// Builds a [`StructLayout`] from a `#[repr(C)]` struct and its field names.
macro_rules! layout {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        $crate::gpu::kernels::StructLayout {
            name: stringify!($ty),
            size: ::std::mem::size_of::<$ty>(),
            fields: &[$((stringify!($field), ::std::mem::offset_of!($ty, $field))),*],
        }
    };
}
pub(crate) use layout;

impl Kernel {
    /// Every kernel.
    pub const ALL: [Kernel; 38] = [
        Kernel::Conv2d,
        Kernel::Conv2d3x3,
        Kernel::Conv2dPointwise,
        Kernel::Linear,
        Kernel::MaxPool,
        Kernel::Upsample,
        Kernel::Add,
        Kernel::Affine,
        Kernel::Patch,
        Kernel::Concat,
        Kernel::Peak,
        Kernel::Relu,
        Kernel::ReluGrad,
        Kernel::Dropout,
        Kernel::Copy,
        Kernel::MaxPoolGrad,
        Kernel::MaxPoolGradCells,
        Kernel::UpsampleGrad,
        Kernel::PatchGrad,
        Kernel::ConcatGrad,
        Kernel::BnPartials,
        Kernel::BnStats,
        Kernel::BnNormalize,
        Kernel::BnRunning,
        Kernel::BnGradPartials,
        Kernel::BnGradParams,
        Kernel::BnGradInput,
        Kernel::Loss,
        Kernel::Adam,
        Kernel::Conv2dDx,
        Kernel::Conv2dDx3x3,
        Kernel::Conv2dDxPointwise,
        Kernel::Conv2dDw,
        Kernel::Conv2dDw3x3,
        Kernel::Conv2dDwPointwise,
        Kernel::Conv2dDwReduce,
        Kernel::LinearDx,
        Kernel::LinearDw,
    ];

    /// The kernel's WGSL source and entry point.
    pub fn source(self) -> KernelSource {
        let (file, wgsl, entry) = match self {
            Kernel::Conv2d => ("conv2d.wgsl", wgsl::CONV2D, "conv2d"),
            Kernel::Conv2d3x3 => ("conv2d.wgsl", wgsl::CONV2D, "conv2d_3x3"),
            Kernel::Conv2dPointwise => ("conv2d.wgsl", wgsl::CONV2D, "conv2d_1x1"),
            Kernel::Linear => ("linear.wgsl", wgsl::LINEAR, "linear"),
            Kernel::MaxPool => ("pool.wgsl", wgsl::POOL, "max_pool"),
            Kernel::Upsample => ("upsample.wgsl", wgsl::UPSAMPLE, "upsample_nearest"),
            Kernel::Add => ("elementwise.wgsl", wgsl::ELEMENTWISE, "add"),
            Kernel::Affine => ("batch_norm.wgsl", wgsl::BATCH_NORM, "affine"),
            Kernel::Patch => ("patch.wgsl", wgsl::PATCH, "slice_patch"),
            Kernel::Concat => ("concat.wgsl", wgsl::CONCAT, "concat_copy"),
            Kernel::Peak => ("peak.wgsl", wgsl::PEAK, "fma_peak"),
            Kernel::Relu => ("relu.wgsl", wgsl::RELU, "relu"),
            Kernel::ReluGrad => ("relu_grad.wgsl", wgsl::RELU_GRAD, "relu_grad"),
            Kernel::Dropout => ("dropout.wgsl", wgsl::DROPOUT, "dropout"),
            Kernel::Copy => ("copy.wgsl", wgsl::COPY, "copy_into"),
            Kernel::MaxPoolGrad => ("max_pool_grad.wgsl", wgsl::MAX_POOL_GRAD, "max_pool_grad"),
            Kernel::MaxPoolGradCells => (
                "max_pool_grad.wgsl",
                wgsl::MAX_POOL_GRAD,
                "max_pool_grad_cells",
            ),
            Kernel::UpsampleGrad => ("upsample_grad.wgsl", wgsl::UPSAMPLE_GRAD, "upsample_grad"),
            Kernel::PatchGrad => ("patch_grad.wgsl", wgsl::PATCH_GRAD, "patch_grad"),
            Kernel::ConcatGrad => ("concat_grad.wgsl", wgsl::CONCAT_GRAD, "concat_grad"),
            Kernel::BnPartials => ("batch_norm_partials.wgsl", wgsl::BN_PARTIALS, "bn_partials"),
            Kernel::BnStats => ("batch_norm_stats.wgsl", wgsl::BN_STATS, "bn_stats"),
            Kernel::BnNormalize => ("batch_norm_train.wgsl", wgsl::BN_TRAIN, "bn_normalize"),
            Kernel::BnRunning => ("batch_norm_running.wgsl", wgsl::BN_RUNNING, "bn_running"),
            Kernel::BnGradPartials => (
                "batch_norm_grad_partials.wgsl",
                wgsl::BN_GRAD_PARTIALS,
                "bn_grad_partials",
            ),
            Kernel::BnGradParams => (
                "batch_norm_grad_params.wgsl",
                wgsl::BN_GRAD_PARAMS,
                "bn_grad_params",
            ),
            Kernel::BnGradInput => ("batch_norm_grad.wgsl", wgsl::BN_GRAD, "bn_grad_input"),
            Kernel::Loss => ("loss.wgsl", wgsl::LOSS, "loss_grad"),
            Kernel::Adam => ("adam.wgsl", wgsl::ADAM, "adam"),
            Kernel::Conv2dDx => ("conv2d_grad.wgsl", wgsl::CONV2D_GRAD, "conv2d_dx"),
            Kernel::Conv2dDx3x3 => ("conv2d_grad.wgsl", wgsl::CONV2D_GRAD, "conv2d_dx_3x3"),
            Kernel::Conv2dDxPointwise => ("conv2d_grad.wgsl", wgsl::CONV2D_GRAD, "conv2d_dx_1x1"),
            Kernel::Conv2dDw => ("conv2d_grad.wgsl", wgsl::CONV2D_GRAD, "conv2d_dw"),
            Kernel::Conv2dDw3x3 => ("conv2d_grad.wgsl", wgsl::CONV2D_GRAD, "conv2d_dw_3x3"),
            Kernel::Conv2dDwPointwise => ("conv2d_grad.wgsl", wgsl::CONV2D_GRAD, "conv2d_dw_1x1"),
            Kernel::Conv2dDwReduce => ("conv2d_grad.wgsl", wgsl::CONV2D_GRAD, "conv2d_dw_reduce"),
            Kernel::LinearDx => ("linear_grad.wgsl", wgsl::LINEAR_GRAD, "linear_dx"),
            Kernel::LinearDw => ("linear_grad.wgsl", wgsl::LINEAR_GRAD, "linear_dw"),
        };
        KernelSource { file, wgsl, entry }
    }

    /// Compiles the kernel, with its `WG_SIZE` override resolved to [`WORKGROUP_SIZE`].
    pub fn pipeline(self, device: &wgpu::Device) -> wgpu::ComputePipeline {
        let src = self.source();
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(src.file),
            source: wgpu::ShaderSource::Wgsl(src.wgsl.into()),
        });
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(src.entry),
            layout: None,
            module: &module,
            entry_point: Some(src.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[("WG_SIZE", WORKGROUP_SIZE as f64)],
                ..Default::default()
            },
            cache: None,
        })
    }

    /// Layout of the kernel's uniform parameter struct.
    pub fn layout(self) -> StructLayout {
        match self {
            Kernel::Conv2d | Kernel::Conv2d3x3 | Kernel::Conv2dPointwise => conv2d::LAYOUT,
            Kernel::Linear => linear::LAYOUT,
            Kernel::MaxPool => max_pool::LAYOUT,
            Kernel::Upsample => upsample::LAYOUT,
            Kernel::Add => sum::LAYOUT,
            Kernel::Affine => affine::LAYOUT,
            Kernel::Patch => patch::LAYOUT,
            Kernel::Concat => concat::LAYOUT,
            Kernel::Peak => peak::LAYOUT,
            Kernel::Relu | Kernel::ReluGrad => relu::LAYOUT,
            Kernel::Dropout => dropout::LAYOUT,
            Kernel::Copy => copy::LAYOUT,
            Kernel::MaxPoolGrad | Kernel::MaxPoolGradCells => max_pool_grad::LAYOUT,
            Kernel::UpsampleGrad => upsample_grad::LAYOUT,
            Kernel::PatchGrad => patch_grad::LAYOUT,
            Kernel::ConcatGrad => concat_grad::LAYOUT,
            Kernel::BnPartials
            | Kernel::BnStats
            | Kernel::BnNormalize
            | Kernel::BnRunning
            | Kernel::BnGradPartials
            | Kernel::BnGradParams
            | Kernel::BnGradInput => batch_norm_train::LAYOUT,
            Kernel::Loss => loss::LAYOUT,
            Kernel::Adam => adam::LAYOUT,
            Kernel::Conv2dDx
            | Kernel::Conv2dDx3x3
            | Kernel::Conv2dDxPointwise
            | Kernel::Conv2dDw
            | Kernel::Conv2dDw3x3
            | Kernel::Conv2dDwPointwise
            | Kernel::Conv2dDwReduce => conv2d_grad::LAYOUT,
            Kernel::LinearDx | Kernel::LinearDw => linear_grad::LAYOUT,
        }
    }
}

/// A buffer a dispatch binds, by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// An activation of the program.
    Tensor(String),
    /// A parameter of the network.
    Param(String),
    /// Training: the gradient of an activation (same size as the activation).
    Grad(String),
    /// Training: the gradient of a parameter (same size as the parameter).
    ParamGrad(String),
    /// Training: any other buffer, named by convention: `{bn}.batch_mean`, `{bn}.batch_var`,
    /// `{param}.adam_m`, `{param}.adam_v`, `target`, `loss`.
    Aux(String),
}

/// One kernel launch: what runs, with which parameters, over which buffers.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// The kernel.
    pub kernel: Kernel,
    /// The bytes of its uniform parameter struct.
    pub params: Vec<u8>,
    /// Invocations needed (the shader bounds-checks the rest of the last workgroup).
    pub invocations: u64,
    /// Bindings 1.., in order; the last is the output tensor.
    pub slots: Vec<Slot>,
}

/// The op has no GPU kernel (training-form ops must be lowered first).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("op `{op}` ({kind}) has no GPU kernel; lower the program for inference first")]
pub struct NoKernel {
    /// The op's label.
    pub op: String,
    /// The op's kind.
    pub kind: &'static str,
}

/// The dispatches that execute `op` of `program` at `batch`.
pub fn dispatches(program: &Program, op: &Op, batch: usize) -> Result<Vec<Dispatch>, NoKernel> {
    let in_shape = program.shape(op.inputs()[0]);
    let out_shape = program.shape(op.output());
    let tensor = |t: &str| Slot::Tensor(t.to_string());
    Ok(match op {
        Op::Conv2d(c) => vec![conv2d::dispatch(c, in_shape, out_shape, batch)],
        Op::Linear(l) => vec![linear::dispatch(l, batch)],
        Op::Affine(a) => vec![affine::dispatch(a, in_shape, batch)],
        Op::MaxPool {
            input,
            output,
            kernel,
            stride,
            ..
        } => {
            vec![max_pool::dispatch(
                in_shape,
                out_shape,
                *kernel,
                *stride,
                batch,
                tensor(input),
                tensor(output),
            )]
        }
        Op::Upsample {
            input,
            output,
            factor,
            ..
        } => {
            vec![upsample::dispatch(
                in_shape,
                *factor,
                batch,
                tensor(input),
                tensor(output),
            )]
        }
        Op::Add { a, b, output, .. } => vec![sum::dispatch(
            out_shape.len() * batch,
            [tensor(a), tensor(b), tensor(output)],
        )],
        Op::Patch {
            input,
            output,
            y,
            x,
            h,
            w,
            ..
        } => {
            vec![patch::dispatch(
                in_shape,
                (*y, *x, *h, *w),
                batch,
                tensor(input),
                tensor(output),
            )]
        }
        Op::Concat { inputs, output, .. } => {
            let total = out_shape.len();
            let mut offset = 0;
            inputs
                .iter()
                .map(|t| {
                    let len = program.shape(t).len();
                    let d = concat::dispatch(batch, len, offset, total, tensor(t), tensor(output));
                    offset += len;
                    d
                })
                .collect()
        }
        Op::BatchNorm(_) | Op::Relu { .. } | Op::Dropout { .. } => {
            return Err(NoKernel {
                op: op.name().into(),
                kind: op.kind(),
            });
        }
    })
}

/// Workgroups `(x, y)` covering `invocations`, folded into two dimensions when one is not
/// enough (kernels recover the linear index from `num_workgroups`).
pub fn workgroups(invocations: u64) -> (u32, u32) {
    let groups = invocations.div_ceil(WORKGROUP_SIZE as u64).max(1);
    if groups <= MAX_GROUPS_PER_DIM as u64 {
        (groups as u32, 1)
    } else {
        let y = groups.div_ceil(MAX_GROUPS_PER_DIM as u64);
        (groups.div_ceil(y) as u32, y as u32)
    }
}

/// A `u32` field of a parameter struct (all sizes of a valid config fit comfortably).
pub(crate) fn u(v: usize) -> u32 {
    u32::try_from(v).expect("tensor sizes are validated to fit in u32")
}
