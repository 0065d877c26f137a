//! The GPU backend: every op a WGSL compute shader on wgpu (Vulkan, Metal, DX12, GL).
//!
//! - [`context`]: adapter choice and the device (own, or shared with the viewer).
//! - [`kernels`]: one kernel per op — its uniform struct and how an op becomes dispatches.
//! - [`GpuNet`]: weights uploaded and pipelines built once; per batch size a plan of buffers
//!   and bind groups built once; per inference one command encoder and one readback.
//! - [`runner`]: runs loose dispatches over host buffers (kernel tests).
//! - [`GpuTrainer`]: a training-form program with gradients and optimizer state on the
//!   device; one training step per submission.

pub mod context;
pub mod half_weights;
pub mod kernels;
mod net;
pub mod pipeline_cache;
mod plan;
pub mod runner;
pub mod schedule;
mod timing;
mod train;

pub use context::{AdapterRequest, AdapterSummary, ContextError, GpuContext, list_adapters};
pub use net::{GpuNet, LayerTime, time_by_kernel};
pub use plan::AllocStats;
pub use train::{GpuTrainer, TrainMemory};

use crate::run::InputError;

/// What can go wrong running a program on the GPU.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// The inputs do not fit the program.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The program has an op without a kernel.
    #[error(transparent)]
    NoKernel(#[from] kernels::NoKernel),
    /// A parameter the program names was not given.
    #[error("the program needs parameter `{0}`, which was not given")]
    MissingParam(String),
    /// A parameter (or its optimizer state) was given with the wrong number of values.
    #[error("parameter `{name}` needs {expected} values, {found} were given")]
    ParamSize {
        /// The parameter.
        name: String,
        /// Values it has.
        expected: usize,
        /// Values given.
        found: usize,
    },
    /// Training needs the training-form program; this one was lowered for inference.
    #[error(
        "op `{0}` is an inference-form affine map; train the training-form program (Program::lrhn), not a lowered one"
    )]
    InferenceForm(String),
    /// A tensor at this batch size exceeds what one binding may hold.
    #[error(
        "tensor `{tensor}` at batch {batch} needs {bytes} bytes, over the device's binding limit of {limit} \
         bytes; use a batch of at most {max_batch}"
    )]
    TooLarge {
        /// The tensor.
        tensor: String,
        /// The batch size asked for.
        batch: usize,
        /// Bytes it would need.
        bytes: u64,
        /// The device's limit.
        limit: u64,
        /// The largest batch that fits.
        max_batch: usize,
    },
    /// Reading results back from the device failed.
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
    /// A kernel did not compile into a pipeline on this device.
    #[error(
        "compiling GPU kernel `{kernel}` failed: {message}\n  This adapter's driver rejected a shader the tests validate; try another adapter (--adapter NAME; `hourhand info` lists them) or the CPU (--backend cpu), and please report it with `hourhand info`"
    )]
    Pipeline {
        /// The entry point and its file.
        kernel: String,
        /// What the device said.
        message: String,
    },
    /// The device was lost (driver reset, device removed, or destroyed).
    #[error(
        "the GPU device ({adapter}) was lost: {reason}\n  Its driver reset or the device went away; run again (the next run makes a new device), or on another adapter (--adapter NAME) or the CPU (--backend cpu)"
    )]
    DeviceLost {
        /// The adapter.
        adapter: String,
        /// Why, as the driver said.
        reason: String,
    },
    /// The device reported an error outside any error scope (a bad dispatch, out of memory).
    #[error(
        "the GPU ({adapter}) reported an error: {message}\n  Try a smaller batch, another adapter (--adapter NAME), or the CPU (--backend cpu)"
    )]
    Device {
        /// The adapter.
        adapter: String,
        /// What it said.
        message: String,
    },
    /// The kernel set needs a device feature this adapter lacks.
    #[error(
        "kernel set `{kernels}` needs {needs}, which {adapter} does not offer; use --kernels tiled or register-blocked (`hourhand info` shows what the adapter has)"
    )]
    KernelsUnsupported {
        /// The set.
        kernels: kernels::KernelSet,
        /// The adapter.
        adapter: String,
        /// What it lacks, in words.
        needs: &'static str,
    },
    /// A weight an f16 kernel set would store is outside f16's range.
    #[error(
        "parameter `{param}` holds {value}, which f16 cannot store (its range is ±65504); use kernel set tiled or subgroups (f32 weights)"
    )]
    F16Range {
        /// The parameter.
        param: String,
        /// The value.
        value: f32,
    },
    /// Training was asked of a kernel set that stores weights as f16.
    #[error(
        "kernel set `{0}` stores weights as f16, for inference only; train with `{twin}` (its f32 twin), or leave out --kernels for the adapter's default set",
        twin = .0.with_f32_weights()
    )]
    InferenceOnlyKernels(kernels::KernelSet),
    /// Per-layer timing was asked of a device without timestamp queries.
    #[error(
        "adapter {0:?} does not support timestamp queries, so per-layer GPU times are not available"
    )]
    NoTimestamps(String),
}
