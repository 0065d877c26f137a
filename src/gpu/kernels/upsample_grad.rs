//! `shaders/upsample_grad.wesl`: backward of nearest upsampling, one invocation per input
//! element.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;

/// Mirrors `UpsampleGradParams` in `upsample_grad.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct UpsampleGradParams {
    pub planes: u32,
    pub hin: u32,
    pub win: u32,
    pub factor: u32,
    pub accumulate: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Layout of [`UpsampleGradParams`].
pub const LAYOUT: StructLayout = layout!(UpsampleGradParams {
    planes,
    hin,
    win,
    factor,
    accumulate,
    _pad0,
    _pad1,
    _pad2
});

/// The gradient of an upsampling's input (`input` per sample) from its output's.
pub fn dispatch(
    input: Shape,
    factor: usize,
    batch: usize,
    dy: Slot,
    dx: Slot,
    accumulate: bool,
) -> Dispatch {
    let planes = batch * input.c;
    let params = UpsampleGradParams {
        planes: u(planes),
        hin: u(input.h),
        win: u(input.w),
        factor: u(factor),
        accumulate: accumulate as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch {
        kernel: Kernel::UpsampleGrad,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: (planes * input.h * input.w) as u64,
        slots: vec![dy, dx],
    }
}
