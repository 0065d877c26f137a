//! `shaders/copy.wesl`: `y = x` or `y += x`, the backward of a sum (both operands receive the
//! output's gradient).

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};

/// Mirrors `CopyParams` in `copy.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct CopyParams {
    pub len: u32,
    pub accumulate: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Layout of [`CopyParams`].
pub const LAYOUT: StructLayout = layout!(CopyParams {
    len,
    accumulate,
    _pad0,
    _pad1
});

/// Copies (or, with `accumulate`, adds) `len` elements of `x` into `y`.
pub fn dispatch(len: usize, x: Slot, y: Slot, accumulate: bool) -> Dispatch {
    let params = CopyParams {
        len: u(len),
        accumulate: accumulate as u32,
        _pad0: 0,
        _pad1: 0,
    };
    Dispatch {
        kernel: Kernel::Copy,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: len as u64,
        slots: vec![x, y],
    }
}
