//! Nearest-neighbour upsampling by an integer factor, and its backward.

use rayon::prelude::*;

use crate::net::Shape;

/// Nearest-neighbour upsampling by `factor`.
pub fn upsample(x: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * input.len() * factor * factor];
    upsample_into(x, input, factor, &mut y);
    y
}

/// [`upsample`] into `y`, planes in parallel.
pub fn upsample_into(x: &[f32], input: Shape, factor: usize, y: &mut [f32]) {
    let (oh, ow) = (input.h * factor, input.w * factor);
    let ip = input.h * input.w;
    y.par_chunks_mut(oh * ow).enumerate().for_each(|(nc, dst)| {
        let src = &x[nc * ip..][..ip];
        for (oy, row) in dst.chunks_mut(ow).enumerate() {
            let s = &src[(oy / factor) * input.w..][..input.w];
            for (d, v) in row.chunks_mut(factor).zip(s) {
                d.fill(*v);
            }
        }
    });
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
