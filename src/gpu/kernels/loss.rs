//! `shaders/loss.wesl`: the three training losses ([`crate::train::loss`]) on the device, per
//! sample, with their gradient, so a step reads back only `batch` numbers.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::training::Loss;

/// Mirrors `LossParams` in `loss.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct LossParams {
    pub batch: u32,
    pub dims: u32,
    pub kind: u32,
    pub scale: f32,
    pub inv_batch: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Layout of [`LossParams`].
pub const LAYOUT: StructLayout = layout!(LossParams {
    batch,
    dims,
    kind,
    scale,
    inv_batch,
    _pad0,
    _pad1,
    _pad2
});

/// `Aux("target")`: the batch's targets, `batch × dims`.
pub fn target() -> Slot {
    Slot::Aux("target".into())
}

/// `Aux("loss")`: each sample's loss; the batch loss is their mean.
pub fn per_sample() -> Slot {
    Slot::Aux("loss".into())
}

/// The loss of prediction `output` (`batch × dims`) against [`target`]: per-sample values into
/// [`per_sample`], the gradient into `Grad(output)`. `scale` is millimetres per unit.
pub fn dispatch(loss: Loss, scale: f32, batch: usize, dims: usize, output: &str) -> Dispatch {
    let params = LossParams {
        batch: u(batch),
        dims: u(dims),
        kind: match loss {
            Loss::Mse => 0,
            Loss::SmoothL1 => 1,
            Loss::MaxOut => 2,
        },
        scale,
        inv_batch: 1.0 / batch as f32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch {
        kernel: Kernel::Loss,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: batch as u64,
        slots: vec![
            Slot::Tensor(output.to_string()),
            target(),
            per_sample(),
            Slot::Grad(output.to_string()),
        ],
    }
}
