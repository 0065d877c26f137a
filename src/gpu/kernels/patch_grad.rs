//! `shaders/patch_grad.wgsl`: backward of a patch, one invocation per element of the input
//! (zero outside the window, so the first patch of a map needs no cleared buffer).

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;

/// Mirrors `PatchGradParams` in `patch_grad.wgsl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct PatchGradParams {
    pub planes: u32,
    pub hin: u32,
    pub win: u32,
    pub y0: u32,
    pub x0: u32,
    pub h: u32,
    pub w: u32,
    pub accumulate: u32,
}

/// Layout of [`PatchGradParams`].
pub const LAYOUT: StructLayout = layout!(PatchGradParams {
    planes,
    hin,
    win,
    y0,
    x0,
    h,
    w,
    accumulate
});

/// The gradient of a patch's input from the patch's, for the window `(y0, x0, h, w)`.
pub fn dispatch(
    input: Shape,
    (y0, x0, h, w): (usize, usize, usize, usize),
    batch: usize,
    dy: Slot,
    dx: Slot,
    accumulate: bool,
) -> Dispatch {
    let planes = batch * input.c;
    let params = PatchGradParams {
        planes: u(planes),
        hin: u(input.h),
        win: u(input.w),
        y0: u(y0),
        x0: u(x0),
        h: u(h),
        w: u(w),
        accumulate: accumulate as u32,
    };
    Dispatch {
        kernel: Kernel::PatchGrad,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (planes * input.h * input.w) as u64,
        slots: vec![dy, dx],
    }
}
