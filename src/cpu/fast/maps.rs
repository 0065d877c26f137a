//! The memory-bound steps of the fast CPU path: per-channel maps, pooling, upsampling, sums,
//! patches, concatenation and the relayout between `Nchw` and `Cnhw`. Each thread of the
//! region takes a contiguous share of the output's planes (or samples) when the tensor is large
//! enough to pay for sharing.

use super::plan::Layout;
use super::team::{Out, Part};
use crate::net::Shape;

/// What moving one element is worth in floating-point operations, for [`Part::sharers`].
const ELEMENT_WORK: usize = 32;

/// Runs `f(plane_index, plane)` over this thread's share of the `len`-element planes of `y`.
fn planes_mut(y: Out, len: usize, part: Part, f: impl Fn(usize, &mut [f32])) {
    let count = y.len() / len.max(1);
    let mine = part.range(count, y.len() * ELEMENT_WORK);
    // SAFETY: the threads' plane ranges are disjoint.
    let chunk = unsafe { y.slice(mine.start * len..mine.end * len) };
    for (k, p) in chunk.chunks_mut(len.max(1)).enumerate() {
        f(mine.start + k, p);
    }
}

/// Runs `f(sample, values)` over this thread's share of the samples of `y`.
fn samples_mut(y: Out, batch: usize, part: Part, f: impl Fn(usize, &mut [f32])) {
    let len = y.len() / batch;
    planes_mut(y, len, part, f);
}

/// `y = relu?(x·scale[c] + shift[c])` with `x` in `layout`.
pub fn affine(
    x: &[f32],
    y: Out,
    shape: Shape,
    batch: usize,
    layout: Layout,
    (scale, shift, relu): (&[f32], &[f32], bool),
    part: Part,
) {
    let plane = shape.h * shape.w;
    planes_mut(y, plane, part, |i, dst| {
        let c = match layout {
            Layout::Nchw => i % shape.c,
            Layout::Cnhw => i / batch,
        };
        let (s, t) = (scale[c], shift[c]);
        let src = &x[i * plane..][..plane];
        if relu {
            dst.iter_mut()
                .zip(src)
                .for_each(|(d, v)| *d = (v * s + t).max(0.0));
        } else {
            dst.iter_mut().zip(src).for_each(|(d, v)| *d = v * s + t);
        }
    });
}

/// Max pooling with a `kernel × kernel` window, plane by plane.
pub fn max_pool(x: &[f32], y: Out, (from, to): (Shape, Shape), window: (usize, usize), part: Part) {
    let (ip, op) = (from.h * from.w, to.h * to.w);
    planes_mut(y, op, part, |i, dst| {
        crate::cpu::max_pool::max_pool_plane(&x[i * ip..][..ip], dst, from, to, window);
    });
}

/// `y = a + upsample(b, factor)`, nearest neighbour, plane by plane; `shape` is `a`'s.
pub fn add_upsampled(a: &[f32], b: &[f32], y: Out, shape: Shape, factor: usize, part: Part) {
    if factor == 1 {
        planes_mut(y, shape.h * shape.w, part, |i, dst| {
            let at = i * dst.len();
            dst.iter_mut()
                .zip(&a[at..])
                .zip(&b[at..])
                .for_each(|((d, a), b)| *d = a + b);
        });
        return;
    }
    let (h, w) = (shape.h / factor, shape.w / factor);
    planes_mut(y, shape.h * shape.w, part, |i, dst| {
        let src = &b[i * h * w..][..h * w];
        let full = &a[i * dst.len()..][..dst.len()];
        for oy in 0..shape.h {
            let srow = &src[(oy / factor) * w..][..w];
            let arow = full[oy * shape.w..][..shape.w].chunks_exact(factor);
            let drow = dst[oy * shape.w..][..shape.w].chunks_exact_mut(factor);
            for ((d, a), s) in drow.zip(arow).zip(srow) {
                for (d, a) in d.iter_mut().zip(a) {
                    *d = a + s;
                }
            }
        }
    });
}

/// Nearest-neighbour upsampling by `factor`, plane by plane; `from` is the input's shape.
pub fn upsample(x: &[f32], y: Out, from: Shape, factor: usize, part: Part) {
    let (oh, ow) = (from.h * factor, from.w * factor);
    planes_mut(y, oh * ow, part, |i, dst| {
        let src = &x[i * from.h * from.w..][..from.h * from.w];
        for oy in 0..oh {
            let srow = &src[(oy / factor) * from.w..][..from.w];
            for (ox, d) in dst[oy * ow..][..ow].iter_mut().enumerate() {
                *d = srow[ox / factor];
            }
        }
    });
}

/// The window at `(y0, x0)` of every channel of a `Cnhw` batch, written `Nchw`; `to` is the
/// window's shape.
#[allow(clippy::too_many_arguments)] // two tensors, their shapes, the batch, the corner
pub fn patch(
    x: &[f32],
    y: Out,
    from: Shape,
    to: Shape,
    batch: usize,
    (y0, x0): (usize, usize),
    part: Part,
) {
    let plane = from.h * from.w;
    samples_mut(y, batch, part, |n, sample| {
        for (c, dst) in sample.chunks_mut(to.h * to.w).enumerate() {
            let src = &x[(c * batch + n) * plane..][..plane];
            for (r, row) in dst.chunks_mut(to.w).enumerate() {
                row.copy_from_slice(&src[(y0 + r) * from.w + x0..][..to.w]);
            }
        }
    });
}

/// Per-sample concatenation of `Nchw` tensors (each `(data, per-sample length)`).
pub fn concat(parts: &[(&[f32], usize)], y: Out, batch: usize, part: Part) {
    samples_mut(y, batch, part, |n, sample| {
        let mut at = 0;
        for (data, len) in parts {
            sample[at..at + len].copy_from_slice(&data[n * len..][..*len]);
            at += len;
        }
    });
}

/// Copies a batch from layout `from` to the other one (`[N][C]` ↔ `[C][N]` planes).
pub fn relayout(x: &[f32], y: Out, shape: Shape, batch: usize, from: Layout, part: Part) {
    let plane = shape.h * shape.w;
    planes_mut(y, plane, part, |i, dst| {
        // Plane i of the output is (n, c) in Nchw order or (c, n) in Cnhw order.
        let src = match from {
            Layout::Cnhw => {
                let (n, c) = (i / shape.c, i % shape.c);
                c * batch + n
            }
            Layout::Nchw => {
                let (c, n) = (i / batch, i % batch);
                n * shape.c + c
            }
        };
        dst.copy_from_slice(&x[src * plane..][..plane]);
    });
}

/// Every plane of `x` (`from`) with `pad` zeros around it.
pub fn pad(x: &[f32], y: Out, from: Shape, pad: usize, part: Part) {
    let (hp, wp) = (from.h + 2 * pad, from.w + 2 * pad);
    let plane = from.h * from.w;
    planes_mut(y, hp * wp, part, |i, dst| {
        let src = &x[i * plane..][..plane];
        dst[..pad * wp].fill(0.0);
        dst[(pad + from.h) * wp..].fill(0.0);
        for r in 0..from.h {
            let row = &mut dst[(pad + r) * wp..][..wp];
            row[..pad].fill(0.0);
            row[pad..pad + from.w].copy_from_slice(&src[r * from.w..][..from.w]);
            row[pad + from.w..].fill(0.0);
        }
    });
}
