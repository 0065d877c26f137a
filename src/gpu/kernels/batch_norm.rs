//! Batch norm in training mode: `shaders/batch_norm_partials.wesl` and
//! `batch_norm_stats.wesl` (the batch statistics, a two-stage reduction), `batch_norm_normalize.wesl`
//! (normalization by them) and `batch_norm_running.wesl` (the running averages).
//!
//! A channel holds `M = N·H·W` values, up to a million (batch 64 of the 128×128 stem), so one
//! invocation per channel would leave the device idle. Each channel is cut into chunks of
//! [`CHUNK`] values, one workgroup per (channel, chunk) sums its chunk with a tree reduction,
//! and a second dispatch adds each channel's partial sums in order: parallel, and the same
//! result every run. The backward ([`super::batch_norm_grad`]) reduces the same way.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, WORKGROUP_SIZE, layout, u};
use crate::net::Shape;
use crate::net::lower::BN_EPS;
use crate::net::program::BatchNorm;
use crate::net::training::BN_MOMENTUM;

/// Values of a channel one workgroup reduces (64 per invocation).
pub const CHUNK: usize = 64 * WORKGROUP_SIZE as usize;

/// Mirrors `BatchNormParams` in `shaders/lib/batch_norm.wesl`, which every `batch_norm_*.wesl` imports.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct BatchNormParams {
    pub batch: u32,
    pub channels: u32,
    pub plane: u32,
    pub groups: u32,
    pub chunk: u32,
    pub accumulate: u32,
    pub momentum: f32,
    pub unbias: f32,
    pub eps: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Layout of [`BatchNormParams`].
pub const LAYOUT: StructLayout = layout!(BatchNormParams {
    batch,
    channels,
    plane,
    groups,
    chunk,
    accumulate,
    momentum,
    unbias,
    eps,
    _pad0,
    _pad1,
    _pad2
});

/// Chunks per channel.
pub(crate) fn groups(shape: Shape, batch: usize) -> usize {
    (batch * shape.h * shape.w).div_ceil(CHUNK).max(1)
}

/// Invocations of the element-wise kernels: four values of a plane each.
pub(crate) fn quads(shape: Shape, batch: usize) -> u64 {
    (batch * shape.c * (shape.h * shape.w).div_ceil(4)) as u64
}

/// The uniform parameters of every batch-norm kernel for `b` over `shape` at `batch`.
pub(crate) fn params(b: &BatchNorm, shape: Shape, batch: usize, accumulate: bool) -> Vec<u8> {
    let count = batch * shape.h * shape.w;
    let unbias = if count > 1 {
        count as f32 / (count - 1) as f32
    } else {
        1.0
    };
    bytemuck::bytes_of(&BatchNormParams {
        batch: u(batch),
        channels: u(b.channels),
        plane: u(shape.h * shape.w),
        groups: u(groups(shape, batch)),
        chunk: u(CHUNK),
        accumulate: accumulate as u32,
        momentum: BN_MOMENTUM,
        unbias,
        eps: BN_EPS,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    })
    .to_vec()
}

/// The scratch buffer of the reductions, shared by every batch norm (they run one after the
/// other): per channel and chunk two partial sums.
pub fn partials() -> Slot {
    Slot::Aux("batch_norm.partials".into())
}

/// Size (f32 values) [`partials`] needs for `b` over `shape` at `batch`.
pub fn partials_len(b: &BatchNorm, shape: Shape, batch: usize) -> usize {
    2 * b.channels * groups(shape, batch)
}

/// `Aux("{bn}.batch_mean")`: this batch's per-channel mean.
pub fn batch_mean(b: &BatchNorm) -> Slot {
    Slot::Aux(format!("{}.batch_mean", b.name))
}

/// `Aux("{bn}.batch_var")`: this batch's per-channel biased variance.
pub fn batch_var(b: &BatchNorm) -> Slot {
    Slot::Aux(format!("{}.batch_var", b.name))
}

/// Training-mode forward of `b` (input `shape` per sample): the batch statistics, then the
/// normalization. Writes [`batch_mean`], [`batch_var`] and `Tensor(b.output)`.
pub fn forward(b: &BatchNorm, shape: Shape, batch: usize) -> Vec<Dispatch> {
    let params = params(b, shape, batch, false);
    let x = Slot::Tensor(b.input.clone());
    let param = |p: &str| Slot::Param(format!("{}.{p}", b.name));
    vec![
        Dispatch {
            kernel: Kernel::BnPartials,
            params: params.clone(),
            invocations: (b.channels * groups(shape, batch)) as u64 * WORKGROUP_SIZE as u64,
            slots: vec![x.clone(), partials()],
        },
        Dispatch {
            kernel: Kernel::BnStats,
            params: params.clone(),
            invocations: b.channels as u64,
            slots: vec![partials(), x.clone(), batch_mean(b), batch_var(b)],
        },
        Dispatch {
            kernel: Kernel::BnNormalize,
            params,
            invocations: quads(shape, batch),
            slots: vec![
                x,
                param("weight"),
                param("bias"),
                batch_mean(b),
                batch_var(b),
                Slot::Tensor(b.output.clone()),
            ],
        },
    ]
}

/// Moves `b`'s running statistics towards this batch's (after [`forward`]).
pub fn running(b: &BatchNorm, shape: Shape, batch: usize) -> Dispatch {
    Dispatch {
        kernel: Kernel::BnRunning,
        params: params(b, shape, batch, false),
        invocations: b.channels as u64,
        slots: vec![
            batch_mean(b),
            batch_var(b),
            Slot::Param(format!("{}.running_mean", b.name)),
            Slot::Param(format!("{}.running_var", b.name)),
        ],
    }
}
