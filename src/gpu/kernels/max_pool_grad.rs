//! `shaders/max_pool_grad.wgsl`: backward of max pooling; one invocation per stride×stride cell
//! where windows do not overlap (the network's 2×2 pools), else one per input element.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;

/// Mirrors `MaxPoolGradParams` in `max_pool_grad.wgsl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct MaxPoolGradParams {
    pub planes: u32,
    pub hin: u32,
    pub win: u32,
    pub hout: u32,
    pub wout: u32,
    pub kernel: u32,
    pub stride: u32,
    pub accumulate: u32,
}

/// Layout of [`MaxPoolGradParams`].
pub const LAYOUT: StructLayout = layout!(MaxPoolGradParams {
    planes,
    hin,
    win,
    hout,
    wout,
    kernel,
    stride,
    accumulate
});

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
    let params = MaxPoolGradParams {
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
