//! Gradients of the cheap ops (ReLU, pooling, upsampling, patches, concatenation) and dropout
//! (its mask from [`crate::net::training`], which the GPU's shader computes alike).

use rayon::prelude::*;

use crate::net::Shape;
use crate::net::training::{dropout_keep, dropout_threshold};

/// Backward of ReLU from its output: the gradient passes where `y > 0`.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; y.len()];
    relu_backward_into(y, dy, &mut dx);
    dx
}

/// [`relu_backward`] into `dx`.
pub fn relu_backward_into(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    dx.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(d, (y, g))| {
            for ((d, y), g) in d.iter_mut().zip(y).zip(g) {
                *d = if *y > 0.0 { *g } else { 0.0 };
            }
        });
}

/// Elements per parallel task of the element-wise maps: big enough to amortize a task, small
/// enough to split a tensor across threads.
pub(crate) const CHUNK: usize = 1 << 14;

/// Backward of max pooling: each output's gradient goes to the first maximum of its window
/// (row-major), the element the forward picked.
pub fn max_pool_backward(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * input.len()];
    max_pool_backward_into(x, dy, input, output, kernel, stride, &mut dx);
    dx
}

/// [`max_pool_backward`] into `dx` (`batch × input`, every element written).
pub fn max_pool_backward_into(
    x: &[f32],
    dy: &[f32],
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
    dx: &mut [f32],
) {
    let (ip, op) = (input.h * input.w, output.h * output.w);
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        let (src, g) = (&x[nc * ip..][..ip], &dy[nc * op..][..op]);
        max_pool_backward_plane(src, g, dst, input, output, (kernel, stride));
    });
}

/// Backward of max pooling on one plane (`dst` all written), `window` = (kernel, stride);
/// overlapping windows add up. (A branch-free 2×2 path like the forward's was measured no
/// faster: this pass is bound by memory.)
fn max_pool_backward_plane(
    src: &[f32],
    g: &[f32],
    dst: &mut [f32],
    from: Shape,
    to: Shape,
    (kernel, stride): (usize, usize),
) {
    dst.fill(0.0);
    for oy in 0..to.h {
        for ox in 0..to.w {
            let mut best = (f32::NEG_INFINITY, 0);
            for ky in 0..kernel {
                for kx in 0..kernel {
                    let at = (oy * stride + ky) * from.w + ox * stride + kx;
                    if src[at] > best.0 {
                        best = (src[at], at);
                    }
                }
            }
            dst[best.1] += g[oy * to.w + ox];
        }
    }
}

/// Backward of nearest upsampling: each input pixel gets the sum of its `factor²` copies.
pub fn upsample_backward(dy: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * input.len()];
    upsample_backward_into(dy, input, factor, &mut dx);
    dx
}

/// [`upsample_backward`] into `dx` (`batch × input`, every element written).
pub fn upsample_backward_into(dy: &[f32], input: Shape, factor: usize, dx: &mut [f32]) {
    let (ow, op) = (input.w * factor, input.h * factor * input.w * factor);
    let ip = input.h * input.w;
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        let g = &dy[nc * op..][..op];
        for y in 0..input.h {
            let row = &mut dst[y * input.w..][..input.w];
            row.fill(0.0);
            for fy in 0..factor {
                let src = &g[(y * factor + fy) * ow..][..ow];
                for (d, s) in row.iter_mut().zip(src.chunks_exact(factor)) {
                    *d += s.iter().sum::<f32>();
                }
            }
        }
    });
}

/// Backward of a patch: its gradient placed back into a zero tensor of the input's shape.
#[allow(clippy::too_many_arguments)] // the patch geometry
pub fn patch_backward(
    dy: &[f32],
    batch: usize,
    input: Shape,
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * input.len()];
    patch_backward_into(dy, input, (y0, x0, h, w), &mut dx);
    dx
}

/// [`patch_backward`] into `dx` (`batch × input`, every element written); the window is
/// `(y0, x0, h, w)`.
pub fn patch_backward_into(
    dy: &[f32],
    input: Shape,
    (y0, x0, h, w): (usize, usize, usize, usize),
    dx: &mut [f32],
) {
    let ip = input.h * input.w;
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        dst.fill(0.0);
        for r in 0..h {
            dst[(y0 + r) * input.w + x0..][..w].copy_from_slice(&dy[(nc * h + r) * w..][..w]);
        }
    });
}

/// Backward of concatenation: the gradient split back into the parts' lengths.
pub fn concat_backward(dy: &[f32], lens: &[usize], batch: usize) -> Vec<Vec<f32>> {
    let mut parts: Vec<Vec<f32>> = lens.iter().map(|&len| vec![0.0; batch * len]).collect();
    let mut views: Vec<&mut [f32]> = parts.iter_mut().map(Vec::as_mut_slice).collect();
    concat_backward_into(dy, lens, &mut views);
    parts
}

/// [`concat_backward`] into one slice per part (`batch × len` each, every element written).
pub fn concat_backward_into(dy: &[f32], lens: &[usize], parts: &mut [&mut [f32]]) {
    let total: usize = lens.iter().sum();
    let mut offset = 0;
    for (part, &len) in parts.iter_mut().zip(lens) {
        concat_part_backward_into(dy, total, offset, part, len);
        offset += len;
    }
}

/// The gradient of one part of a concatenation: the `len` values at `offset` of each sample's
/// `total`, into `part` (`batch × len`).
pub fn concat_part_backward_into(
    dy: &[f32],
    total: usize,
    offset: usize,
    part: &mut [f32],
    len: usize,
) {
    for (n, dst) in part.chunks_mut(len).enumerate() {
        dst.copy_from_slice(&dy[n * total + offset..][..len]);
    }
}

/// Dropout forward and backward are the same map: kept elements scaled by `1/(1 − rate)`, the
/// others zero.
pub fn dropout(x: &[f32], key: u32, rate: f32) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    dropout_into(x, key, rate, &mut y);
    y
}

/// [`dropout`] into `y`.
pub fn dropout_into(x: &[f32], key: u32, rate: f32, y: &mut [f32]) {
    let threshold = dropout_threshold(rate);
    let scale = 1.0 / (1.0 - rate);
    y.par_iter_mut().zip(x).enumerate().for_each(|(i, (y, v))| {
        *y = if dropout_keep(key, i as u32, threshold) {
            v * scale
        } else {
            0.0
        };
    });
}
