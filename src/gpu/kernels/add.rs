//! `shaders/add.wesl`: element-wise sum.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};

/// Mirrors `AddParams` in `add.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct AddParams {
    pub len: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Layout of [`AddParams`].
pub const LAYOUT: StructLayout = layout!(AddParams {
    len,
    _pad0,
    _pad1,
    _pad2
});

/// The dispatch for `y = a + b` over `len` elements; `slots` are `[a, b, y]`.
pub fn dispatch(len: usize, slots: [Slot; 3]) -> Dispatch {
    let params = AddParams {
        len: u(len),
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch {
        kernel: Kernel::Add,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: len as u64,
        slots: slots.to_vec(),
    }
}
