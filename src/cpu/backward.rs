//! Gradients of the cheap ops (ReLU, pooling, upsampling, patches, concatenation) and dropout,
//! whose mask both backends derive from the same integer hash so a GPU step can be checked
//! against a CPU step on the same batch.

use rayon::prelude::*;

use crate::net::Shape;

/// Backward of ReLU from its output: the gradient passes where `y > 0`.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    y.par_iter()
        .zip(dy)
        .map(|(y, g)| if *y > 0.0 { *g } else { 0.0 })
        .collect()
}

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
    let (ip, op) = (input.h * input.w, output.h * output.w);
    let mut dx = vec![0.0f32; batch * input.len()];
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        let src = &x[nc * ip..][..ip];
        let g = &dy[nc * op..][..op];
        for oy in 0..output.h {
            for ox in 0..output.w {
                let mut best = (f32::NEG_INFINITY, 0);
                for ky in 0..kernel {
                    for kx in 0..kernel {
                        let at = (oy * stride + ky) * input.w + ox * stride + kx;
                        if src[at] > best.0 {
                            best = (src[at], at);
                        }
                    }
                }
                dst[best.1] += g[oy * output.w + ox];
            }
        }
    });
    dx
}

/// Backward of nearest upsampling: each input pixel gets the sum of its `factor²` copies.
pub fn upsample_backward(dy: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let (ow, op) = (input.w * factor, input.h * factor * input.w * factor);
    let ip = input.h * input.w;
    let mut dx = vec![0.0f32; batch * input.len()];
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        let g = &dy[nc * op..][..op];
        for (i, d) in dst.iter_mut().enumerate() {
            let (y, x) = (i / input.w, i % input.w);
            let mut s = 0.0;
            for fy in 0..factor {
                for fx in 0..factor {
                    s += g[(y * factor + fy) * ow + x * factor + fx];
                }
            }
            *d = s;
        }
    });
    dx
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
    let ip = input.h * input.w;
    let mut dx = vec![0.0f32; batch * input.len()];
    for (nc, dst) in dx.chunks_mut(ip).enumerate() {
        for r in 0..h {
            dst[(y0 + r) * input.w + x0..][..w].copy_from_slice(&dy[(nc * h + r) * w..][..w]);
        }
    }
    dx
}

/// Backward of concatenation: the gradient split back into the parts' lengths.
pub fn concat_backward(dy: &[f32], lens: &[usize], batch: usize) -> Vec<Vec<f32>> {
    let total: usize = lens.iter().sum();
    let mut offset = 0;
    lens.iter()
        .map(|&len| {
            let part = (0..batch)
                .flat_map(|n| &dy[n * total + offset..][..len])
                .copied()
                .collect();
            offset += len;
            part
        })
        .collect()
}

/// A 32-bit integer hash (PCG output permutation, as in Jarzynski and Olano, "Hash Functions
/// for GPU Rendering"): cheap, well mixed, and written identically in `shaders/dropout.wgsl`.
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// Dropout's decision for element `index` of the tensor with key `key` (seed and op mixed):
/// keep when the hash is at or above `threshold = rate·2³²`. Integer compare, so both backends
/// agree bit for bit.
pub fn dropout_keep(key: u32, index: u32, threshold: u32) -> bool {
    pcg_hash(index ^ pcg_hash(key)) >= threshold
}

/// The integer threshold of a dropout rate in [0, 1).
pub fn dropout_threshold(rate: f32) -> u32 {
    (rate.clamp(0.0, 1.0) as f64 * 4_294_967_296.0).min(u32::MAX as f64) as u32
}

/// Dropout forward and backward are the same map: kept elements scaled by `1/(1 − rate)`, the
/// others zero.
pub fn dropout(x: &[f32], key: u32, rate: f32) -> Vec<f32> {
    let threshold = dropout_threshold(rate);
    let scale = 1.0 / (1.0 - rate);
    x.par_iter()
        .enumerate()
        .map(|(i, v)| {
            if dropout_keep(key, i as u32, threshold) {
                v * scale
            } else {
                0.0
            }
        })
        .collect()
}
