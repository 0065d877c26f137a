//! The cheap ops on the CPU: pooling, upsampling, sums, per-channel maps, patches, concatenation.

use crate::net::Shape;
use crate::net::lower::BN_EPS;

/// Max pooling with a `kernel × kernel` window (no padding).
pub fn max_pool(
    x: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * output.len()];
    for nc in 0..batch * input.c {
        let src = &x[nc * input.h * input.w..][..input.h * input.w];
        let dst = &mut y[nc * output.h * output.w..][..output.h * output.w];
        for oy in 0..output.h {
            for ox in 0..output.w {
                let mut m = f32::NEG_INFINITY;
                for ky in 0..kernel {
                    for kx in 0..kernel {
                        m = m.max(src[(oy * stride + ky) * input.w + ox * stride + kx]);
                    }
                }
                dst[oy * output.w + ox] = m;
            }
        }
    }
    y
}

/// Nearest-neighbour upsampling by `factor`.
pub fn upsample(x: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let (oh, ow) = (input.h * factor, input.w * factor);
    let mut y = vec![0.0f32; batch * input.c * oh * ow];
    for nc in 0..batch * input.c {
        let src = &x[nc * input.h * input.w..][..input.h * input.w];
        let dst = &mut y[nc * oh * ow..][..oh * ow];
        for oy in 0..oh {
            for ox in 0..ow {
                dst[oy * ow + ox] = src[(oy / factor) * input.w + ox / factor];
            }
        }
    }
    y
}

/// Element-wise sum.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(a, b)| a + b).collect()
}

/// `max(x, 0)`.
pub fn relu(x: &[f32]) -> Vec<f32> {
    x.iter().map(|v| v.max(0.0)).collect()
}

/// `y = x·scale[c] + shift[c]`, then ReLU if asked.
pub fn affine(x: &[f32], shape: Shape, scale: &[f32], shift: &[f32], relu: bool) -> Vec<f32> {
    let plane = shape.h * shape.w;
    x.chunks(plane)
        .enumerate()
        .flat_map(|(i, p)| {
            let c = i % shape.c;
            p.iter().map(move |v| {
                let y = v * scale[c] + shift[c];
                if relu { y.max(0.0) } else { y }
            })
        })
        .collect()
}

/// Batch norm with running statistics, by its definition (no folding).
pub fn batch_norm(
    x: &[f32],
    shape: Shape,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
) -> Vec<f32> {
    let plane = shape.h * shape.w;
    x.chunks(plane)
        .enumerate()
        .flat_map(|(i, p)| {
            let c = i % shape.c;
            let inv = 1.0 / (var[c] + BN_EPS).sqrt();
            p.iter()
                .map(move |v| (v - mean[c]) * inv * gamma[c] + beta[c])
        })
        .collect()
}

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
    let mut y = Vec::with_capacity(batch * input.c * h * w);
    for nc in 0..batch * input.c {
        let src = &x[nc * input.h * input.w..][..input.h * input.w];
        for row in y0..y0 + h {
            y.extend_from_slice(&src[row * input.w + x0..][..w]);
        }
    }
    y
}

/// Concatenation of flattened per-sample tensors, sample by sample.
pub fn concat(parts: &[(&[f32], usize)], batch: usize) -> Vec<f32> {
    let total: usize = parts.iter().map(|(_, len)| len).sum();
    let mut y = Vec::with_capacity(batch * total);
    for n in 0..batch {
        for (data, len) in parts {
            y.extend_from_slice(&data[n * len..(n + 1) * len]);
        }
    }
    y
}
