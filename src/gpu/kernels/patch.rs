//! `shaders/patch.wesl`: cuts a local-regression patch out of a feature map.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;

/// Mirrors `PatchParams` in `patch.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct PatchParams {
    pub planes: u32,
    pub hin: u32,
    pub win: u32,
    pub y0: u32,
    pub x0: u32,
    pub h: u32,
    pub w: u32,
    /// Backward only: 1 to add to what dx holds (the forward always writes).
    pub accumulate: u32,
}

/// Layout of [`PatchParams`].
pub const LAYOUT: StructLayout = layout!(PatchParams {
    planes,
    hin,
    win,
    y0,
    x0,
    h,
    w,
    accumulate
});

/// The dispatch for the window `(y0, x0, h, w)` of every plane.
pub fn dispatch(
    input: Shape,
    (y0, x0, h, w): (usize, usize, usize, usize),
    batch: usize,
    x: Slot,
    y: Slot,
) -> Dispatch {
    let planes = batch * input.c;
    let params = PatchParams {
        planes: u(planes),
        hin: u(input.h),
        win: u(input.w),
        y0: u(y0),
        x0: u(x0),
        h: u(h),
        w: u(w),
        accumulate: 0,
    };
    Dispatch {
        kernel: Kernel::Patch,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (planes * h * w) as u64,
        slots: vec![x, y],
    }
}
