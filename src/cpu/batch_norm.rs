//! Batch norm in training mode: normalization by the batch's own statistics, its backward, and
//! the running averages inference uses later.

use rayon::prelude::*;

use crate::net::Shape;
use crate::net::lower::BN_EPS;

/// Momentum of the running averages (PyTorch's default): `r ← (1 − m)·r + m·batch`.
pub const BN_MOMENTUM: f32 = 0.1;

/// What the backward pass needs from a training-mode forward, per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchStats {
    /// Batch mean.
    pub mean: Vec<f32>,
    /// Biased batch variance (what normalizes).
    pub var: Vec<f32>,
}

impl BatchStats {
    /// `1/√(σ² + ε)` of channel `c`.
    pub fn inv_std(&self, c: usize) -> f32 {
        1.0 / (self.var[c] + BN_EPS).sqrt()
    }
}

/// `y = γ·(x − μ_B)/√(σ²_B + ε) + β` with the statistics of this batch, over `batch × H × W`
/// values per channel (sums in f64, so large batches lose nothing).
pub fn batch_norm_train(
    x: &[f32],
    batch: usize,
    shape: Shape,
    gamma: &[f32],
    beta: &[f32],
) -> (Vec<f32>, BatchStats) {
    let plane = shape.h * shape.w;
    let count = (batch * plane) as f64;
    let (mean, var): (Vec<f32>, Vec<f32>) = (0..shape.c)
        .into_par_iter()
        .map(|c| {
            let planes = (0..batch).map(|n| &x[(n * shape.c + c) * plane..][..plane]);
            let sum: f64 = planes.clone().flatten().map(|&v| v as f64).sum();
            let mean = sum / count;
            let sq: f64 = planes
                .flatten()
                .map(|&v| (v as f64 - mean).powi(2))
                .sum::<f64>();
            (mean as f32, (sq / count) as f32)
        })
        .unzip();
    let stats = BatchStats { mean, var };
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .enumerate()
        .for_each(|(i, (yp, xp))| {
            let c = i % shape.c;
            let (scale, mean) = (gamma[c] * stats.inv_std(c), stats.mean[c]);
            for (o, v) in yp.iter_mut().zip(xp) {
                *o = (v - mean) * scale + beta[c];
            }
        });
    (y, stats)
}

/// Backward of [`batch_norm_train`]: `(dx, dγ, dβ)` with
/// `dx = γ/(M·σ)·(M·dy − Σdy − x̂·Σ(dy·x̂))`, `dγ = Σ dy·x̂`, `dβ = Σ dy` (sums over the
/// `M = batch·H·W` values of a channel).
pub fn batch_norm_backward(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    shape: Shape,
    gamma: &[f32],
    stats: &BatchStats,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let plane = shape.h * shape.w;
    let m = (batch * plane) as f64;
    let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = (0..shape.c)
        .into_par_iter()
        .map(|c| {
            let (mean, inv) = (stats.mean[c], stats.inv_std(c));
            let (mut dg, mut db) = (0.0f64, 0.0f64);
            for n in 0..batch {
                let at = (n * shape.c + c) * plane;
                for (xv, g) in x[at..at + plane].iter().zip(&dy[at..at + plane]) {
                    dg += (*g * (xv - mean) * inv) as f64;
                    db += *g as f64;
                }
            }
            (dg as f32, db as f32)
        })
        .unzip();
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(plane).enumerate().for_each(|(i, dxp)| {
        let c = i % shape.c;
        let (mean, inv) = (stats.mean[c], stats.inv_std(c));
        let k = gamma[c] * inv;
        let (mean_dy, mean_dyx) = (dbeta[c] as f64 / m, dgamma[c] as f64 / m);
        let at = i * plane;
        for ((o, xv), g) in dxp
            .iter_mut()
            .zip(&x[at..at + plane])
            .zip(&dy[at..at + plane])
        {
            let xhat = (xv - mean) * inv;
            *o = k * (*g - mean_dy as f32 - xhat * mean_dyx as f32);
        }
    });
    (dx, dgamma, dbeta)
}

/// Moves the running averages towards this batch's statistics; the variance is the unbiased
/// estimate (`M/(M − 1)`), as PyTorch stores it.
pub fn update_running(
    stats: &BatchStats,
    count: usize,
    running_mean: &mut [f32],
    running_var: &mut [f32],
) {
    let unbias = if count > 1 {
        count as f32 / (count - 1) as f32
    } else {
        1.0
    };
    for c in 0..stats.mean.len() {
        running_mean[c] = (1.0 - BN_MOMENTUM) * running_mean[c] + BN_MOMENTUM * stats.mean[c];
        running_var[c] = (1.0 - BN_MOMENTUM) * running_var[c] + BN_MOMENTUM * stats.var[c] * unbias;
    }
}
