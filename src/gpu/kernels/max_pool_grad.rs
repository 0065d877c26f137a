//! `shaders/max_pool_grad.wesl`: backward of max pooling; one invocation per stride×stride cell
//! where windows do not overlap (the network's 2×2 pools), else one per input element.

use super::max_pool::MaxPoolParams;
use super::{Dispatch, Kernel, Slot, u};
use crate::net::Shape;

/// The gradient of a max pooling's input from its output's; `slots` are `[x, dy, dx]`.
pub fn dispatch(
    input: Shape,
    output: Shape,
    (kernel, stride): (usize, usize),
    batch: usize,
    slots: [Slot; 3],
    accumulate: bool,
) -> Dispatch {
    let planes = batch * input.c;
    let params = MaxPoolParams {
        planes: u(planes),
        hin: u(input.h),
        win: u(input.w),
        hout: u(output.h),
        wout: u(output.w),
        kernel: u(kernel),
        stride: u(stride),
        accumulate: accumulate as u32,
    };
    // Cells write each input element once without recomputing a window per element.
    let (kernel, invocations) = if kernel <= stride {
        let cells = input.h.div_ceil(stride) * input.w.div_ceil(stride);
        (Kernel::MaxPoolGradCells, planes * cells)
    } else {
        (Kernel::MaxPoolGrad, planes * input.h * input.w)
    };
    Dispatch {
        kernel,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: invocations as u64,
        slots: slots.to_vec(),
    }
}
