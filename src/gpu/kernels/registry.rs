//! The kernel registry: every WGSL entry point the backends dispatch, where its code lives,
//! the layout of its uniform struct (checked against the shader by `tests/shaders.rs`), and how
//! it is compiled.

use super::*;
use crate::gpu::GpuError;

/// Declares the kernels once: each line gives the enum variant (with its doc), the shader
/// (`shaders/<shader>.wesl`, composed by `build.rs` and embedded; `with "FEATURE"`: the shader
/// composed with that conditional-compilation feature on), the entry point, and the layout of
/// its uniform struct. [`Kernel::ALL`], [`Kernel::source`] and [`Kernel::layout`] follow from
/// it, so a kernel cannot be left out of the list the shader tests walk.
macro_rules! kernels {
    ($($(#[doc = $doc:literal])* $name:ident => $shader:literal $(with $variant:literal)?, $entry:literal, $layout:path;)*) => {
        /// The kernels: one per op the inference program uses, and those training adds (the
        /// forward of training-only ops, every backward, the losses and the optimizer).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kernel {
            $($(#[doc = $doc])* $name,)*
        }

        impl Kernel {
            /// Every kernel, in declaration order.
            pub const ALL: &'static [Kernel] = &[$(Kernel::$name),*];

            /// The kernel's WGSL source and entry point.
            pub fn source(self) -> KernelSource {
                match self {
                    $(Kernel::$name => KernelSource {
                        shader: $shader,
                        variant: {
                            #[allow(unused_variables)]
                            let variant: Option<&'static str> = None;
                            $(let variant = Some($variant);)?
                            variant
                        },
                        wgsl: include_str!(concat!(
                            env!("OUT_DIR"), "/shaders/", $shader, $(".", $variant,)? ".wgsl"
                        )),
                        entry: $entry,
                    },)*
                }
            }

            /// Layout of the kernel's uniform parameter struct (checked against the shader by
            /// `tests/shaders.rs`).
            pub fn layout(self) -> StructLayout {
                match self {
                    $(Kernel::$name => $layout,)*
                }
            }
        }
    };
}

kernels! {
    /// Convolution, any kernel size and stride.
    Conv2d => "conv2d", "conv2d", conv2d::LAYOUT;
    /// Convolution, stride-1 3×3.
    Conv2d3x3 => "conv2d", "conv2d_3x3", conv2d::LAYOUT;
    /// Convolution, stride-1 unpadded 1×1.
    Conv2dPointwise => "conv2d", "conv2d_1x1", conv2d::LAYOUT;
    /// Convolution as an implicit GEMM tiled through workgroup memory (the "tiled" set).
    Conv2dTiled => "conv2d_tiled", "conv2d_tiled", conv2d::LAYOUT;
    /// Fully connected layer.
    Linear => "linear", "linear", linear::LAYOUT;
    /// The tiled convolution with f16 weights (the "-f16" sets).
    Conv2dTiledF16 => "conv2d_tiled" with "f16_weights", "conv2d_tiled", conv2d::LAYOUT;
    /// Fully connected layer as a split-K GEMV, at small batches (the "tiled" set).
    LinearSplit => "linear_split", "linear_split", linear::LAYOUT;
    /// The split-K GEMV with f16 weights (the "tiled-f16" set).
    LinearSplitF16 => "linear_split" with "f16_weights", "linear_split", linear::LAYOUT;
    /// The split-K GEMV reduced by subgroup operations (the "subgroups" set).
    LinearSubgroup => "linear_subgroup", "linear_subgroup", linear::LAYOUT;
    /// The subgroup-reduced GEMV with f16 weights (the "subgroups-f16" set).
    LinearSubgroupF16 => "linear_subgroup" with "f16_weights", "linear_subgroup", linear::LAYOUT;
    /// Max pooling.
    MaxPool => "max_pool", "max_pool", max_pool::LAYOUT;
    /// Nearest-neighbour upsampling.
    Upsample => "upsample", "upsample_nearest", upsample::LAYOUT;
    /// Element-wise sum of two tensors.
    Add => "add", "add", add::LAYOUT;
    /// Per-channel scale and shift (a batch norm folded for inference), ReLU optional.
    Affine => "affine", "affine", affine::LAYOUT;
    /// A spatial patch cut out of a tensor.
    Patch => "patch", "slice_patch", patch::LAYOUT;
    /// One input copied into its place in a concatenation.
    Concat => "concat", "concat_copy", concat::LAYOUT;
    /// Benchmark only: the adapter's arithmetic peak.
    Peak => "peak", "fma_peak", peak::LAYOUT;
    /// ReLU (the training form; inference folds it into the op before).
    Relu => "relu", "relu", relu::LAYOUT;
    /// Backward of ReLU.
    ReluGrad => "relu_grad", "relu_grad", relu::LAYOUT;
    /// Dropout, forward and backward (the same mask).
    Dropout => "dropout", "dropout", dropout::LAYOUT;
    /// A copy: the backward of a sum.
    Copy => "copy", "copy_into", copy::LAYOUT;
    /// Backward of max pooling, any windows.
    MaxPoolGrad => "max_pool_grad", "max_pool_grad", max_pool::LAYOUT;
    /// Backward of max pooling, windows that do not overlap.
    MaxPoolGradCells => "max_pool_grad", "max_pool_grad_cells", max_pool::LAYOUT;
    /// Backward of upsampling.
    UpsampleGrad => "upsample_grad", "upsample_grad", upsample_grad::LAYOUT;
    /// Backward of a patch.
    PatchGrad => "patch_grad", "patch_grad", patch::LAYOUT;
    /// Backward of a concatenation: one input's part of the gradient.
    ConcatGrad => "concat_grad", "concat_grad", concat_grad::LAYOUT;
    /// Batch norm (training): per-workgroup partial sums of the statistics.
    BnPartials => "batch_norm_partials", "bn_partials", batch_norm::LAYOUT;
    /// Batch norm (training): the batch statistics from the partials.
    BnStats => "batch_norm_stats", "bn_stats", batch_norm::LAYOUT;
    /// Batch norm (training): normalization by the batch statistics.
    BnNormalize => "batch_norm_normalize", "bn_normalize", batch_norm::LAYOUT;
    /// Batch norm (training): the running averages updated.
    BnRunning => "batch_norm_running", "bn_running", batch_norm::LAYOUT;
    /// Batch norm backward: partial sums of dγ and dβ.
    BnGradPartials => "batch_norm_grad_partials", "bn_grad_partials", batch_norm::LAYOUT;
    /// Batch norm backward: dγ and dβ from the partials.
    BnGradParams => "batch_norm_grad_params", "bn_grad_params", batch_norm::LAYOUT;
    /// Batch norm backward: the input gradient.
    BnGradInput => "batch_norm_grad_input", "bn_grad_input", batch_norm::LAYOUT;
    /// The loss and its gradient.
    Loss => "loss", "loss_grad", loss::LAYOUT;
    /// One AdamW step.
    Adam => "adam", "adam", adam::LAYOUT;
    /// Convolution backward: the input gradient, any kernel size and stride.
    Conv2dDx => "conv2d_grad", "conv2d_dx", conv2d_grad::LAYOUT;
    /// Convolution backward: the input gradient, stride-1 3×3.
    Conv2dDx3x3 => "conv2d_grad", "conv2d_dx_3x3", conv2d_grad::LAYOUT;
    /// Convolution backward: the input gradient, stride-1 unpadded 1×1.
    Conv2dDxPointwise => "conv2d_grad", "conv2d_dx_1x1", conv2d_grad::LAYOUT;
    /// Convolution backward: weight and bias gradient partials, any kernel size and stride.
    Conv2dDw => "conv2d_grad", "conv2d_dw", conv2d_grad::LAYOUT;
    /// Convolution backward: weight and bias gradient partials, stride-1 3×3.
    Conv2dDw3x3 => "conv2d_grad", "conv2d_dw_3x3", conv2d_grad::LAYOUT;
    /// Convolution backward: weight and bias gradient partials, stride-1 1×1.
    Conv2dDwPointwise => "conv2d_grad", "conv2d_dw_1x1", conv2d_grad::LAYOUT;
    /// Convolution backward: the sum of the weight and bias gradient partials.
    Conv2dDwReduce => "conv2d_grad", "conv2d_dw_reduce", conv2d_grad::LAYOUT;
    /// Fully connected backward: the input gradient.
    LinearDx => "linear_grad", "linear_dx", linear_grad::LAYOUT;
    /// Fully connected backward: the weight and bias gradients.
    LinearDw => "linear_grad", "linear_dw", linear_grad::LAYOUT;
}

/// Where a kernel's code lives.
#[derive(Debug, Clone, Copy)]
pub struct KernelSource {
    /// The shader's name: its source is `shaders/<shader>.wesl`.
    pub shader: &'static str,
    /// The conditional-compilation feature it was composed with, if any (`f16_weights`).
    pub variant: Option<&'static str>,
    /// The composed WGSL (its imports resolved by `build.rs`, embedded at build time).
    pub wgsl: &'static str,
    /// The compute entry point.
    pub entry: &'static str,
}

impl KernelSource {
    /// Compiles the entry point into a pipeline, with its `WG_SIZE` override resolved to
    /// [`WORKGROUP_SIZE`], through `cache` where given (`GpuContext::pipeline_cache`). A
    /// shader or pipeline the device rejects is an error (caught in error scopes), not the
    /// panic wgpu's default error handler would make of it.
    pub fn pipeline(
        &self,
        device: &wgpu::Device,
        cache: Option<&wgpu::PipelineCache>,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(self.shader),
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
            cache,
        });
        let errors = [validation.pop(), internal.pop()].map(pollster::block_on);
        match errors.into_iter().flatten().next() {
            None => Ok(pipeline),
            Some(e) => Err(GpuError::Pipeline {
                kernel: format!("{} in shaders/{}.wesl", self.entry, self.shader),
                message: e.to_string(),
            }),
        }
    }
}

impl Kernel {
    /// The device features the kernel needs (WGSL's subgroup operations: `SUBGROUP`).
    pub fn required_features(self) -> wgpu::Features {
        match self {
            Kernel::LinearSubgroup | Kernel::LinearSubgroupF16 => wgpu::Features::SUBGROUP,
            _ => wgpu::Features::empty(),
        }
    }

    /// Compiles the kernel ([`KernelSource::pipeline`]).
    pub fn pipeline(
        self,
        device: &wgpu::Device,
        cache: Option<&wgpu::PipelineCache>,
    ) -> Result<wgpu::ComputePipeline, GpuError> {
        self.source().pipeline(device, cache)
    }
}
