//! `shaders/affine.wesl`: per-channel affine (+ ReLU), batch norm in inference form.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;
use crate::net::program::Affine;

/// Mirrors `AffineParams` in `affine.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct AffineParams {
    pub len: u32,
    pub channels: u32,
    pub plane: u32,
    pub relu: u32,
}

/// Layout of [`AffineParams`].
pub const LAYOUT: StructLayout = layout!(AffineParams {
    len,
    channels,
    plane,
    relu
});

/// The dispatch for one affine map.
pub fn dispatch(a: &Affine, shape: Shape, batch: usize) -> Dispatch {
    let len = batch * shape.len();
    let params = AffineParams {
        len: u(len),
        channels: u(a.channels),
        plane: u(shape.h * shape.w),
        relu: a.relu as u32,
    };
    Dispatch {
        kernel: Kernel::Affine,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: len as u64,
        slots: vec![
            Slot::Tensor(a.input.clone()),
            Slot::Param(format!("{}.scale", a.name)),
            Slot::Param(format!("{}.shift", a.name)),
            Slot::Tensor(a.output.clone()),
        ],
    }
}
