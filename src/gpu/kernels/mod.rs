//! One WGSL kernel per op: each file here holds the op's uniform parameter struct (mirrored
//! byte for byte by the struct of the same name in `shaders/<op>.wesl`) and the function that
//! turns a program op into dispatches. An op has one name everywhere: `Op::MaxPool`,
//! `cpu/max_pool.rs` (forward and `max_pool_backward`), `kernels/max_pool.rs` and
//! `shaders/max_pool.wesl`, its backward `kernels/max_pool_grad.rs` and
//! `shaders/max_pool_grad.wesl`.
//!
//! Binding convention of every kernel: `@binding(0)` the parameters (uniform), then the tensors
//! and parameters it reads in the order the op lists them, then the tensor it writes.
//!
//! # Adding a kernel
//!
//! 1. Write `shaders/<op>.wesl`: WGSL that imports what kernels share from `shaders/lib/`
//!    (`lib/dispatch.wesl`: the `WG_SIZE` override, the `Invocation` built-ins every entry
//!    point takes, `flat_index`; `lib/blocks.wesl`: 4-row register blocks; the batch-norm and
//!    weight-gradient modules) instead of writing them again. `build.rs` composes it into plain
//!    WGSL at build time; a struct declared twice fails `tests/shaders.rs`.
//! 2. Write `kernels/<op>.rs`: the `#[repr(C)]` twin of its parameter struct with its
//!    [`StructLayout`] (`layout!`), and a `dispatch` function from the op to [`Dispatch`]es.
//! 3. Add one line to the `kernels!` table in `registry.rs` (variant, shader, entry point,
//!    layout). The shader tests (naga validation, SPIR-V through `spirv-val`, MSL, HLSL, the
//!    struct layouts) then cover it.
//! 4. Route the op to it in [`dispatches`] (inference; `gpu::schedule` may fuse it into a
//!    neighbour's kernel instead, as it does affines, sums and upsamplings) or
//!    `gpu::train::schedule` (training),
//!    and add a case against the CPU reference to `tests/gpu_ops.rs` or
//!    `tests/gpu_train_ops.rs`, on sizes that are not multiples of the block or vector width.

pub mod adam;
pub mod add;
pub mod affine;
pub mod batch_norm;
pub mod batch_norm_grad;
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
mod registry;
pub mod relu;
mod set;
pub mod upsample;
pub mod upsample_grad;

pub use registry::{Kernel, KernelSource};
pub use set::KernelSet;

use crate::net::{Op, Program};

/// A kernel's bind group by the binding convention above: `uniform` (its parameters) at
/// binding 0, then `resources` at 1, 2, … in order. The one place that lays bindings out, for
/// the inference plan, the trainer, the loose-dispatch runner and the peak measurement alike.
pub fn bind_group<'a>(
    device: &wgpu::Device,
    pipeline: &wgpu::ComputePipeline,
    label: &str,
    uniform: &'a wgpu::Buffer,
    resources: impl IntoIterator<Item = wgpu::BindingResource<'a>>,
) -> wgpu::BindGroup {
    let entries: Vec<wgpu::BindGroupEntry> = std::iter::once(uniform.as_entire_binding())
        .chain(resources)
        .enumerate()
        .map(|(binding, resource)| wgpu::BindGroupEntry {
            binding: binding as u32,
            resource,
        })
        .collect();
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some(label),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &entries,
    })
}

/// Invocations per workgroup of every kernel (the `WG_SIZE` override). Within WebGPU's
/// default limit of 256, and a multiple of every vendor's SIMD width.
pub const WORKGROUP_SIZE: u32 = 64;

/// WebGPU's default limit of workgroups per dispatch dimension.
pub const MAX_GROUPS_PER_DIM: u32 = 65_535;

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

/// The dispatches that execute `op` of `program` at `batch` with the variants of `set`.
pub fn dispatches(
    program: &Program,
    op: &Op,
    batch: usize,
    set: KernelSet,
) -> Result<Vec<Dispatch>, NoKernel> {
    let in_shape = program.shape(op.inputs()[0]);
    let out_shape = program.shape(op.output());
    let tensor = |t: &str| Slot::Tensor(t.to_string());
    Ok(match op {
        Op::Conv2d(c) => vec![conv2d::dispatch(
            c,
            in_shape,
            out_shape,
            batch,
            set,
            &Default::default(),
        )],
        Op::Linear(l) => vec![linear::dispatch(l, batch, set)],
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
        Op::Add { a, b, output, .. } => vec![add::dispatch(
            out_shape,
            batch,
            1,
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
