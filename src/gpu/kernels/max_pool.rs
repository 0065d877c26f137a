//! `shaders/max_pool.wesl`: max pooling, one invocation per output element.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;

/// Mirrors `MaxPoolParams` in `max_pool.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct MaxPoolParams {
    pub planes: u32,
    pub hin: u32,
    pub win: u32,
    pub hout: u32,
    pub wout: u32,
    pub kernel: u32,
    pub stride: u32,
    /// Backward only: 1 to add to what dx holds (the forward always writes).
    pub accumulate: u32,
}

/// Layout of [`MaxPoolParams`].
pub const LAYOUT: StructLayout = layout!(MaxPoolParams {
    planes,
    hin,
    win,
    hout,
    wout,
    kernel,
    stride,
    accumulate
});

/// The dispatch for one max pooling.
pub fn dispatch(
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
    batch: usize,
    x: Slot,
    y: Slot,
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
        accumulate: 0,
    };
    Dispatch {
        kernel: Kernel::MaxPool,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (planes * output.h * output.w) as u64,
        slots: vec![x, y],
    }
}
