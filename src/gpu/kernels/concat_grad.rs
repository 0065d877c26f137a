//! `shaders/concat_grad.wesl`: one input's share of a concatenation's gradient.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};

/// Mirrors `ConcatGradParams` in `concat_grad.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct ConcatGradParams {
    pub batch: u32,
    pub len: u32,
    pub offset: u32,
    pub total: u32,
    pub accumulate: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Layout of [`ConcatGradParams`].
pub const LAYOUT: StructLayout = layout!(ConcatGradParams {
    batch,
    len,
    offset,
    total,
    accumulate,
    _pad0,
    _pad1,
    _pad2
});

/// Columns `[offset, offset+len)` of `dy` (`batch × total`) into `dx` (`batch × len`).
pub fn dispatch(
    batch: usize,
    (len, offset, total): (usize, usize, usize),
    dy: Slot,
    dx: Slot,
    accumulate: bool,
) -> Dispatch {
    let params = ConcatGradParams {
        batch: u(batch),
        len: u(len),
        offset: u(offset),
        total: u(total),
        accumulate: accumulate as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch {
        kernel: Kernel::ConcatGrad,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (batch * len) as u64,
        slots: vec![dy, dx],
    }
}
