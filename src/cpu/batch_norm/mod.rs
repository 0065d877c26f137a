//! Batch norm in training mode: normalization by the batch's own statistics, its backward, and
//! the running averages inference uses later; and the three of a batch norm, its ReLU and a
//! 2×2 max pooling as one op (`pooled`), and with the stem's one-channel convolution before
//! them too (`stem`).
//!
//! The forward and the backward each take a channel at a time through the batch's planes for
//! its sums, compiled through `pulp`'s dispatch for the widest vectors the CPU has: the crate
//! is built for x86-64's SSE2 baseline, where their loops ran at four lanes at best.

mod backward;
mod forward;
mod pooled;
mod stem;

pub use backward::{batch_norm_backward, batch_norm_backward_into};
pub use forward::{batch_norm_train, batch_norm_train_into};
pub use pooled::{batch_norm_relu_pool_backward_into, batch_norm_relu_pool_into, pooled_shape};
pub use stem::{StemConv, conv_batch_norm_relu_pool_backward_into, conv_batch_norm_relu_pool_into};

use crate::net::lower::BN_EPS;
use crate::net::training::BN_MOMENTUM;

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
        inv_std(self.var[c])
    }
}

/// `1/√(σ² + ε)` of a variance.
fn inv_std(var: f32) -> f32 {
    1.0 / (var + BN_EPS).sqrt()
}

/// Values summed in f32 lanes before the lanes are added to the f64 totals: short enough that
/// f32 loses nothing that matters, long enough that the f64 adds are rare.
const BLOCK: usize = 512;

/// A batch norm's output `(v − mean)·scale + β`, `scale = γ/σ`: the forward's expression, which
/// the backward of a fused ReLU repeats on vectors, operation for operation (a subtraction, a
/// product, a sum, never fused), to find where the ReLU passed: the two agree bit for bit.
#[inline(always)]
fn normalize(v: f32, mean: f32, scale: f32, beta: f32) -> f32 {
    (v - mean) * scale + beta
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
