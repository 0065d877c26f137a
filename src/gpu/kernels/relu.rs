//! `shaders/relu.wesl` and `shaders/relu_grad.wesl`: ReLU as an op of its own (the training
//! form; inference fuses it) and its backward from the output.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};

/// Mirrors `ReluParams` in `relu.wesl` and `relu_grad.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct ReluParams {
    pub len: u32,
    pub accumulate: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Layout of [`ReluParams`].
pub const LAYOUT: StructLayout = layout!(ReluParams {
    len,
    accumulate,
    _pad0,
    _pad1
});

fn params(len: usize, accumulate: bool) -> Vec<u8> {
    bytemuck::bytes_of(&ReluParams {
        len: u(len),
        accumulate: accumulate as u32,
        _pad0: 0,
        _pad1: 0,
    })
    .to_vec()
}

/// `y = max(x, 0)` over `len` elements.
pub fn forward(len: usize, x: Slot, y: Slot) -> Dispatch {
    Dispatch {
        kernel: Kernel::Relu,
        params: params(len, false),
        invocations: len as u64,
        slots: vec![x, y],
    }
}

/// `dx = dy` where `y > 0`, else 0 (added to `dx` with `accumulate`).
pub fn backward(len: usize, y: Slot, dy: Slot, dx: Slot, accumulate: bool) -> Dispatch {
    Dispatch {
        kernel: Kernel::ReluGrad,
        params: params(len, accumulate),
        invocations: len as u64,
        slots: vec![y, dy, dx],
    }
}
