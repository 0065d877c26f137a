//! The element-wise ops on the CPU: sums and per-channel maps (batch norm in inference form,
//! and its folded affine).

use rayon::prelude::*;

use super::CHUNK;
use crate::net::Shape;
use crate::net::lower::BN_EPS;

/// Element-wise sum.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; a.len()];
    add_into(a, b, &mut y);
    y
}

/// [`add`] into `y`.
pub fn add_into(a: &[f32], b: &[f32], y: &mut [f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(y, (a, b))| {
            for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
                *y = a + b;
            }
        });
}

/// `y += x`.
pub fn add_assign(y: &mut [f32], x: &[f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(y, x)| *y += x));
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
