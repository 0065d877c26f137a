//! `shaders/adam.wesl`: one AdamW update of a parameter tensor ([`crate::train::adam`]).

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::training::AdamStep;

/// Mirrors `AdamParams` in `adam.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct AdamParams {
    pub len: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub decay: f32,
    pub c1: f32,
    pub c2: f32,
}

/// Layout of [`AdamParams`].
pub const LAYOUT: StructLayout = layout!(AdamParams {
    len,
    lr,
    beta1,
    beta2,
    eps,
    decay,
    c1,
    c2
});

/// `Aux("{param}.adam_m")`: the parameter's first moment.
pub fn first_moment(param: &str) -> Slot {
    Slot::Aux(format!("{param}.adam_m"))
}

/// `Aux("{param}.adam_v")`: the parameter's second moment.
pub fn second_moment(param: &str) -> Slot {
    Slot::Aux(format!("{param}.adam_v"))
}

/// AdamW on parameter `param` (`len` values) with its gradient `ParamGrad(param)` and its
/// moments; `step.weight_decay` must already be 0 for parameters that are not decayed.
pub fn dispatch(param: &str, len: usize, step: &AdamStep) -> Dispatch {
    let (c1, c2) = step.corrections();
    let params = AdamParams {
        len: u(len),
        lr: step.lr,
        beta1: step.beta1,
        beta2: step.beta2,
        eps: step.eps,
        decay: 1.0 - step.lr * step.weight_decay,
        c1,
        c2,
    };
    Dispatch {
        kernel: Kernel::Adam,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: len as u64,
        slots: vec![
            Slot::ParamGrad(param.to_string()),
            first_moment(param),
            second_moment(param),
            Slot::Param(param.to_string()),
        ],
    }
}
