//! Backward of training-mode batch norm: `shaders/batch_norm_grad_partials.wesl` and
//! `batch_norm_grad_params.wesl` reduce `Σdy` and `Σdy·x̂` per channel (chunked like the
//! forward statistics, see [`super::batch_norm`]) into dβ and dγ, then
//! `batch_norm_grad_input.wesl` forms the input's gradient from them.

use super::batch_norm::{batch_mean, batch_var, groups, params, partials, quads};
use super::{Dispatch, Kernel, Slot, WORKGROUP_SIZE};
use crate::net::Shape;
use crate::net::program::BatchNorm;

/// Backward of `b` (input `shape` per sample) after its training-mode forward: writes
/// `ParamGrad("{bn}.weight")`, `ParamGrad("{bn}.bias")` and `Grad(b.input)` (added to it with
/// `accumulate`).
pub fn backward(b: &BatchNorm, shape: Shape, batch: usize, accumulate: bool) -> Vec<Dispatch> {
    let params = params(b, shape, batch, accumulate);
    let groups = groups(shape, batch);
    let x = Slot::Tensor(b.input.clone());
    let dy = Slot::Grad(b.output.clone());
    let dgamma = Slot::ParamGrad(format!("{}.weight", b.name));
    let dbeta = Slot::ParamGrad(format!("{}.bias", b.name));
    vec![
        Dispatch {
            kernel: Kernel::BnGradPartials,
            params: params.clone(),
            invocations: (b.channels * groups) as u64 * WORKGROUP_SIZE as u64,
            slots: vec![x.clone(), dy.clone(), batch_mean(b), partials()],
        },
        Dispatch {
            kernel: Kernel::BnGradParams,
            params: params.clone(),
            invocations: b.channels as u64,
            slots: vec![partials(), batch_var(b), dgamma.clone(), dbeta.clone()],
        },
        Dispatch {
            kernel: Kernel::BnGradInput,
            params,
            invocations: quads(shape, batch),
            slots: vec![
                x,
                dy,
                Slot::Param(format!("{}.weight", b.name)),
                batch_mean(b),
                batch_var(b),
                dgamma,
                dbeta,
                Slot::Grad(b.input.clone()),
            ],
        },
    ]
}
