//! TEMPORARY: plain gather kernels for the backward of convolutions and fully connected layers
//! (`shaders/naive_grad_input.wgsl`, `naive_grad_weight.wgsl`), with the signatures of the
//! tuned `conv2d_grad` and `linear_grad` kernels being written in parallel, so the training
//! step runs end to end until those land. A fully connected layer is a 1×1 convolution over a
//! 1×1 image. Remove this file when `conv2d_grad.rs` and `linear_grad.rs` are merged.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;
use crate::net::program::{Conv2d, Linear};

/// Mirrors `NaiveGradParams` in `naive_grad_*.wgsl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct NaiveGradParams {
    pub batch: u32,
    pub cin: u32,
    pub cout: u32,
    pub hin: u32,
    pub win: u32,
    pub hout: u32,
    pub wout: u32,
    pub kernel: u32,
    pub stride: u32,
    pub pad: u32,
    pub accumulate: u32,
    pub _pad0: u32,
}

/// Layout of [`NaiveGradParams`].
pub const LAYOUT: StructLayout = layout!(NaiveGradParams {
    batch,
    cin,
    cout,
    hin,
    win,
    hout,
    wout,
    kernel,
    stride,
    pad,
    accumulate,
    _pad0
});

/// Geometry of a convolution: `(cin, cout, kernel, stride, pad)`, input and output shapes.
type Geometry = ((usize, usize, usize, usize, usize), Shape, Shape);

fn params(((cin, cout, k, s, pad), i, o): Geometry, batch: usize, acc: bool) -> Vec<u8> {
    bytemuck::bytes_of(&NaiveGradParams {
        batch: u(batch),
        cin: u(cin),
        cout: u(cout),
        hin: u(i.h),
        win: u(i.w),
        hout: u(o.h),
        wout: u(o.w),
        kernel: u(k),
        stride: u(s),
        pad: u(pad),
        accumulate: acc as u32,
        _pad0: 0,
    })
    .to_vec()
}

fn dx(g: Geometry, name: &str, (input, output): (&str, &str), batch: usize, acc: bool) -> Dispatch {
    Dispatch {
        kernel: Kernel::NaiveGradInput,
        params: params(g, batch, acc),
        invocations: (batch * g.1.len()) as u64,
        slots: vec![
            Slot::Grad(output.into()),
            Slot::Param(format!("{name}.weight")),
            Slot::Grad(input.into()),
        ],
    }
}

fn dw(g: Geometry, name: &str, (input, output): (&str, &str), batch: usize) -> Dispatch {
    let ((cin, cout, k, _, _), _, _) = g;
    Dispatch {
        kernel: Kernel::NaiveGradWeight,
        params: params(g, batch, false),
        invocations: (cout * cin * k * k + cout) as u64,
        slots: vec![
            Slot::Tensor(input.into()),
            Slot::Grad(output.into()),
            Slot::ParamGrad(format!("{name}.weight")),
            Slot::ParamGrad(format!("{name}.bias")),
        ],
    }
}

fn conv_geometry(c: &Conv2d, input: Shape, output: Shape) -> Geometry {
    ((c.cin, c.cout, c.kernel, c.stride, c.pad), input, output)
}

fn linear_geometry(l: &Linear) -> Geometry {
    let (i, o) = (Shape::flat(l.inputs), Shape::flat(l.outputs));
    ((l.inputs, l.outputs, 1, 1, 0), i, o)
}

/// `Grad(c.output), Param(weight) → Grad(c.input)`.
pub fn conv_dx(c: &Conv2d, i: Shape, o: Shape, batch: usize, acc: bool) -> Vec<Dispatch> {
    let g = conv_geometry(c, i, o);
    vec![dx(g, &c.name, (&c.input, &c.output), batch, acc)]
}

/// `Tensor(c.input), Grad(c.output) → ParamGrad(weight), ParamGrad(bias)`.
pub fn conv_dw(c: &Conv2d, i: Shape, o: Shape, batch: usize) -> Vec<Dispatch> {
    vec![dw(
        conv_geometry(c, i, o),
        &c.name,
        (&c.input, &c.output),
        batch,
    )]
}

/// No scratch buffers.
pub fn conv_scratch(_: &Conv2d, _: Shape, _: Shape, _: usize) -> Vec<(Slot, usize)> {
    Vec::new()
}

/// `Grad(l.output), Param(weight) → Grad(l.input)`.
pub fn linear_dx(l: &Linear, batch: usize, acc: bool) -> Vec<Dispatch> {
    vec![dx(
        linear_geometry(l),
        &l.name,
        (&l.input, &l.output),
        batch,
        acc,
    )]
}

/// `Tensor(l.input), Grad(l.output) → ParamGrad(weight), ParamGrad(bias)`.
pub fn linear_dw(l: &Linear, batch: usize) -> Vec<Dispatch> {
    vec![dw(
        linear_geometry(l),
        &l.name,
        (&l.input, &l.output),
        batch,
    )]
}
