//! `shaders/upsample.wesl`: nearest-neighbour upsampling, one invocation per output element.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;

/// Mirrors `UpsampleParams` in `upsample.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct UpsampleParams {
    pub planes: u32,
    pub hin: u32,
    pub win: u32,
    pub factor: u32,
}

/// Layout of [`UpsampleParams`].
pub const LAYOUT: StructLayout = layout!(UpsampleParams {
    planes,
    hin,
    win,
    factor
});

/// The dispatch for one upsampling.
pub fn dispatch(input: Shape, factor: usize, batch: usize, x: Slot, y: Slot) -> Dispatch {
    let planes = batch * input.c;
    let params = UpsampleParams {
        planes: u(planes),
        hin: u(input.h),
        win: u(input.w),
        factor: u(factor),
    };
    Dispatch {
        kernel: Kernel::Upsample,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (planes * input.h * input.w * factor * factor) as u64,
        slots: vec![x, y],
    }
}
