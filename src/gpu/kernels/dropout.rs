//! `shaders/dropout.wesl`: dropout forward and backward (one map), its mask drawn from the
//! same integer hash as the CPU ([`crate::net::training`]), so both backends drop the same
//! elements.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::training::{Dropout, dropout_threshold};

/// Mirrors `DropoutParams` in `dropout.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct DropoutParams {
    pub len: u32,
    pub key: u32,
    pub threshold: u32,
    pub scale: f32,
    pub accumulate: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

/// Layout of [`DropoutParams`].
pub const LAYOUT: StructLayout = layout!(DropoutParams {
    len,
    key,
    threshold,
    scale,
    accumulate,
    _pad0,
    _pad1,
    _pad2
});

/// Dropout of `len` elements of `x` into `y` (added to `y` with `accumulate`), with the mask of
/// the program's `ordinal`-th dropout op under `dropout`. Rate 0 is the identity, still one
/// dispatch, so the step's dispatches never depend on the rate.
pub fn dispatch(
    len: usize,
    dropout: Dropout,
    ordinal: u32,
    x: Slot,
    y: Slot,
    accumulate: bool,
) -> Dispatch {
    let params = DropoutParams {
        len: u(len),
        key: dropout.key(ordinal),
        threshold: dropout_threshold(dropout.rate),
        scale: 1.0 / (1.0 - dropout.rate),
        accumulate: accumulate as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
    };
    Dispatch {
        kernel: Kernel::Dropout,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: len as u64,
        slots: vec![x, y],
    }
}
