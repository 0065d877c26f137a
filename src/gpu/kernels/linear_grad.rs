//! `shaders/linear_grad.wesl`: backward of the fully connected layer (training form, no fused
//! ReLU). The weight gradient's reduction runs over the batch only (a few dozen samples), so
//! each gradient is one dispatch and needs no scratch.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::program::Linear;

/// Mirrors `LinearGradParams` in `linear_grad.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct LinearGradParams {
    pub batch: u32,
    pub inputs: u32,
    pub outputs: u32,
    pub accumulate: u32,
}

/// Layout of [`LinearGradParams`].
pub const LAYOUT: StructLayout = layout!(LinearGradParams {
    batch,
    inputs,
    outputs,
    accumulate
});

fn params(l: &Linear, batch: usize, accumulate: bool) -> Vec<u8> {
    bytemuck::bytes_of(&LinearGradParams {
        batch: u(batch),
        inputs: u(l.inputs),
        outputs: u(l.outputs),
        accumulate: accumulate as u32,
    })
    .to_vec()
}

/// The input gradient `dx = dy·W`: reads `Grad(l.output)` and `Param("{name}.weight")`, writes
/// `Grad(l.input)`. With `accumulate` the result is added to what `Grad(l.input)` holds (for a
/// tensor read by several ops) instead of overwriting it.
pub fn dispatch_dx(l: &Linear, batch: usize, accumulate: bool) -> Vec<Dispatch> {
    vec![Dispatch {
        kernel: Kernel::LinearDx,
        params: params(l, batch, accumulate),
        invocations: (l.inputs.div_ceil(4) * batch.div_ceil(4)) as u64,
        slots: vec![
            Slot::Grad(l.output.clone()),
            Slot::Param(format!("{}.weight", l.name)),
            Slot::Grad(l.input.clone()),
        ],
    }]
}

/// The parameter gradients `dw = dyᵀ·x` and `db = Σₙ dy`, summed over the batch: reads
/// `Tensor(l.input)` and `Grad(l.output)`, writes `ParamGrad("{name}.weight")` and
/// `ParamGrad("{name}.bias")` (overwritten, not accumulated).
pub fn dispatch_dw(l: &Linear, batch: usize) -> Vec<Dispatch> {
    vec![Dispatch {
        kernel: Kernel::LinearDw,
        params: params(l, batch, false),
        invocations: (l.inputs.div_ceil(4) * l.outputs.div_ceil(4)) as u64,
        slots: vec![
            Slot::Tensor(l.input.clone()),
            Slot::Grad(l.output.clone()),
            Slot::ParamGrad(format!("{}.weight", l.name)),
            Slot::ParamGrad(format!("{}.bias", l.name)),
        ],
    }]
}
