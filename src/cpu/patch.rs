//! Local-regression patches: a spatial window of every channel, and its backward.

use rayon::prelude::*;

use crate::net::Shape;

/// The window `[y0, y0+h) × [x0, x0+w)` of every channel.
pub fn patch(
    x: &[f32],
    batch: usize,
    input: Shape,
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * input.c * h * w];
    patch_into(x, input, (y0, x0, h, w), &mut y);
    y
}

/// [`patch`] into `y`; the window is `(y0, x0, h, w)`.
pub fn patch_into(
    x: &[f32],
    input: Shape,
    (y0, x0, h, w): (usize, usize, usize, usize),
    y: &mut [f32],
) {
    for (nc, dst) in y.chunks_mut(h * w).enumerate() {
        let src = &x[nc * input.h * input.w..][..input.h * input.w];
        for (row, d) in dst.chunks_mut(w).enumerate() {
            d.copy_from_slice(&src[(y0 + row) * input.w + x0..][..w]);
        }
    }
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
