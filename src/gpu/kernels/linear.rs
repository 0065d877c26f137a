//! `shaders/linear.wesl`: fully connected layer, 4 outputs × 4 samples per invocation.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::program::Linear;

/// Mirrors `LinearParams` in `linear.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct LinearParams {
    pub batch: u32,
    pub inputs: u32,
    pub outputs: u32,
    pub relu: u32,
}

/// Layout of [`LinearParams`].
pub const LAYOUT: StructLayout = layout!(LinearParams {
    batch,
    inputs,
    outputs,
    relu
});

/// The dispatch for one fully connected layer.
pub fn dispatch(l: &Linear, batch: usize) -> Dispatch {
    let params = LinearParams {
        batch: u(batch),
        inputs: u(l.inputs),
        outputs: u(l.outputs),
        relu: l.relu as u32,
    };
    Dispatch {
        kernel: Kernel::Linear,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (l.outputs.div_ceil(4) * batch.div_ceil(4)) as u64,
        slots: vec![
            Slot::Tensor(l.input.clone()),
            Slot::Param(format!("{}.weight", l.name)),
            Slot::Param(format!("{}.bias", l.name)),
            Slot::Tensor(l.output.clone()),
        ],
    }
}
