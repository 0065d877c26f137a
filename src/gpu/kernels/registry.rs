//! The kernel registry: every WGSL entry point the backends dispatch, where its code lives,
//! the layout of its uniform struct (checked against the shader by `tests/shaders.rs`), and how
//! it is compiled.

use super::*;
use crate::gpu::GpuError;

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

impl KernelSource {
    /// Compiles the entry point into a pipeline, with its `WG_SIZE` override resolved to
    /// [`WORKGROUP_SIZE`]. A shader or pipeline the device rejects is an error (caught in
    /// error scopes), not the panic wgpu's default error handler would make of it.
    pub fn pipeline(&self, device: &wgpu::Device) -> Result<wgpu::ComputePipeline, GpuError> {
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(self.file),
            source: wgpu::ShaderSource::Wgsl(self.wgsl.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(self.entry),
            layout: None,
            module: &module,
            entry_point: Some(self.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[("WG_SIZE", WORKGROUP_SIZE as f64)],
                ..Default::default()
            },
            cache: None,
        });
        let errors = [validation.pop(), internal.pop()].map(pollster::block_on);
        match errors.into_iter().flatten().next() {
            None => Ok(pipeline),
            Some(e) => Err(GpuError::Pipeline {
                kernel: format!("{} in shaders/{}", self.entry, self.file),
                message: e.to_string(),
            }),
        }
    }
}

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
    pub fn pipeline(self, device: &wgpu::Device) -> Result<wgpu::ComputePipeline, GpuError> {
        self.source().pipeline(device)
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
