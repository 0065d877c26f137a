//! `shaders/add.wesl`: element-wise sum, optionally of an upsampled operand.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;

/// Mirrors `AddParams` in `add.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct AddParams {
    pub len: u32,
    pub factor: u32,
    pub h: u32,
    pub w: u32,
}

/// Layout of [`AddParams`].
pub const LAYOUT: StructLayout = layout!(AddParams { len, factor, h, w });

/// The dispatch for `y = a + upsample(b, factor)` (`factor` 1: `a + b`) with `a` and `y` of
/// `shape` per sample; `slots` are `[a, b, y]`. The GPU's inference schedule fuses a nearest
/// upsampling that only feeds a sum into it (the hourglass's merge).
pub fn dispatch(shape: Shape, batch: usize, factor: usize, slots: [Slot; 3]) -> Dispatch {
    assert!(
        factor >= 1 && shape.h.is_multiple_of(factor) && shape.w.is_multiple_of(factor),
        "an upsampled operand's shape divides the output's"
    );
    let len = shape.len() * batch;
    let params = AddParams {
        len: u(len),
        factor: u(factor),
        h: u(shape.h),
        w: u(shape.w),
    };
    Dispatch {
        kernel: Kernel::Add,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: len as u64,
        slots: slots.to_vec(),
    }
}
