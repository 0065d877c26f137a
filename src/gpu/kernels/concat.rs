//! `shaders/concat.wesl`: copies one input into its columns of a concatenation.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};

/// Mirrors `ConcatParams` in `concat.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct ConcatParams {
    pub batch: u32,
    pub len: u32,
    pub offset: u32,
    pub total: u32,
}

/// Layout of [`ConcatParams`].
pub const LAYOUT: StructLayout = layout!(ConcatParams {
    batch,
    len,
    offset,
    total
});

/// The dispatch copying `x` (`batch × len`) into columns `[offset, offset+len)` of `y`.
pub fn dispatch(
    batch: usize,
    len: usize,
    offset: usize,
    total: usize,
    x: Slot,
    y: Slot,
) -> Dispatch {
    let params = ConcatParams {
        batch: u(batch),
        len: u(len),
        offset: u(offset),
        total: u(total),
    };
    Dispatch {
        kernel: Kernel::Concat,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (batch * len) as u64,
        slots: vec![x, y],
    }
}
