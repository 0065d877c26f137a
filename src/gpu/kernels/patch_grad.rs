//! `shaders/patch_grad.wesl`: backward of a patch, one invocation per element of the input
//! (zero outside the window, so the first patch of a map needs no cleared buffer).

use super::patch::PatchParams;
use super::{Dispatch, Kernel, Slot, u};
use crate::net::Shape;

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
    let params = PatchParams {
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
