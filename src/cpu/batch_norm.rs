//! Batch norm in training mode: normalization by the batch's own statistics, its backward, and
//! the running averages inference uses later.

use rayon::prelude::*;

use crate::cpu::Dx;
use crate::cpu::fast::team::Out;
use crate::net::Shape;
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
    let mut y = vec![0.0f32; x.len()];
    let stats = batch_norm_train_into(x, batch, shape, (gamma, beta), false, &mut y);
    (y, stats)
}

/// [`batch_norm_train`] into `y` (every element written), followed by a ReLU when `relu`
/// (one pass instead of two, and the batch norm's own output never stored); returns the batch
/// statistics.
pub fn batch_norm_train_into(
    x: &[f32],
    batch: usize,
    shape: Shape,
    (gamma, beta): (&[f32], &[f32]),
    relu: bool,
    y: &mut [f32],
) -> BatchStats {
    let plane = shape.h * shape.w;
    let count = (batch * plane) as f64;
    let (mean, var): (Vec<f32>, Vec<f32>) = (0..shape.c)
        .into_par_iter()
        .map(|c| {
            let planes = (0..batch).map(|n| &x[(n * shape.c + c) * plane..][..plane]);
            let sum: f64 = planes.clone().map(sum_f64).sum();
            let mean = sum / count;
            let sq: f64 = planes.map(|p| sum_sq_f64(p, mean)).sum();
            (mean as f32, (sq / count) as f32)
        })
        .unzip();
    let stats = BatchStats { mean, var };
    y.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .enumerate()
        .for_each(|(i, (yp, xp))| {
            let c = i % shape.c;
            let (scale, mean) = (gamma[c] * stats.inv_std(c), stats.mean[c]);
            for (o, v) in yp.iter_mut().zip(xp) {
                let v = normalize(*v, mean, scale, beta[c]);
                *o = if relu { v.max(0.0) } else { v };
            }
        });
    stats
}

/// A batch norm's output `(v − mean)·scale + β`, `scale = γ/σ`: one expression for the forward
/// and for the backward of a fused ReLU, which recomputes it to find where the ReLU passed, so
/// the two agree bit for bit.
#[inline(always)]
fn normalize(v: f32, mean: f32, scale: f32, beta: f32) -> f32 {
    (v - mean) * scale + beta
}

/// `Σ v` in f64, in eight independent lanes so the sum vectorizes (a single running f64 sum
/// is one dependent add per element).
fn sum_f64(p: &[f32]) -> f64 {
    lanes(p, |v| v as f64)
}

/// `Σ (v − mean)²` in f64, in eight lanes like [`sum_f64`].
fn sum_sq_f64(p: &[f32], mean: f64) -> f64 {
    lanes(p, |v| (v as f64 - mean) * (v as f64 - mean))
}

/// `Σ f(v)` over `p` in eight independent f64 lanes, added at the end.
fn lanes(p: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut chunks = p.chunks_exact(8);
    for c in &mut chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += f(*v);
        }
    }
    let tail: f64 = chunks.remainder().iter().map(|v| f(*v)).sum();
    acc.iter().sum::<f64>() + tail
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
    let mut dx = vec![0.0f32; x.len()];
    let (mut dgamma, mut dbeta) = (vec![0.0f32; shape.c], vec![0.0f32; shape.c]);
    batch_norm_backward_into(
        x,
        dy,
        batch,
        shape,
        (gamma, None),
        stats,
        (Dx::Write(&mut dx), &mut dgamma, &mut dbeta),
    );
    (dx, dgamma, dbeta)
}

/// [`batch_norm_backward`] into `(dx, dγ, dβ)`: `dx` written or added to ([`Dx`]), every
/// element of `dγ` and `dβ` written. With `Some(β)`, the batch norm was followed by a ReLU
/// ([`batch_norm_train_into`] with `relu`) and `dy` is the gradient of the ReLU's output: the
/// ReLU's backward is applied on the fly, where the recomputed batch-norm output is positive.
///
/// Each channel is one task: its sums over the batch's planes, then its `dx` from the same
/// planes while they are still in cache (up to 32 planes of 32×32 of `x` and `dy` fit a core's
/// L2). Two passes over memory instead of four took the backward 0.82–0.97× the time in training
/// at batch 32 (64×64 network, 2 cores of a Zen 3, the two alternating in one process; a step
/// 0.965–0.977×). The forward keeps its plane-order normalize pass: done per channel, while the
/// statistics' planes were in cache, it took 1.26× the time, its output written as scattered
/// planes instead of one stream.
pub fn batch_norm_backward_into(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    shape: Shape,
    (gamma, relu_beta): (&[f32], Option<&[f32]>),
    stats: &BatchStats,
    (dx, dgamma, dbeta): (Dx<'_>, &mut [f32], &mut [f32]),
) {
    let (dx, add) = match dx {
        Dx::Write(dx) => (dx, false),
        Dx::Add(dx) => (dx, true),
    };
    assert!(
        x.len() == dy.len() && x.len() == dx.len(),
        "batch norm backward: input, gradient and output lengths differ"
    );
    let plane = shape.h * shape.w;
    let m = (batch * plane) as f64;
    let at = move |n: usize, c: usize| (n * shape.c + c) * plane;
    let out = Out::new(dx);
    dgamma
        .par_iter_mut()
        .zip(dbeta.par_iter_mut())
        .enumerate()
        .for_each(|(c, (dg_out, db_out))| {
            let mask = Mask::new(c, gamma, relu_beta, stats);
            let (mut dg, mut db) = (0.0f64, 0.0f64);
            for n in 0..batch {
                let (sg, sd) = mask.sums(&x[at(n, c)..][..plane], &dy[at(n, c)..][..plane]);
                dg += sg;
                db += sd;
            }
            // Σ dy·x̂ = inv·Σ dy·(x − mean).
            *dg_out = (dg * mask.inv as f64) as f32;
            *db_out = db as f32;
            // The channel's planes again while they are still in cache.
            let k = gamma[c] * mask.inv;
            let (mean_dy, mean_dyx) = ((*db_out as f64 / m) as f32, (*dg_out as f64 / m) as f32);
            let (mean, inv) = (mask.mean, mask.inv);
            for n in 0..batch {
                let range = at(n, c)..at(n, c) + plane;
                // SAFETY: channel c's planes are written by this task alone.
                let dxp = unsafe { out.slice(range.clone()) };
                let rows = dxp.iter_mut().zip(&x[range.clone()]).zip(&dy[range]);
                let dx_of = |v: f32, g: f32| k * (g - mean_dy - (v - mean) * inv * mean_dyx);
                match (mask.relu, add) {
                    (true, false) => rows.for_each(|((o, &v), &g)| *o = dx_of(v, mask.pass(v, g))),
                    (true, true) => rows.for_each(|((o, &v), &g)| *o += dx_of(v, mask.pass(v, g))),
                    (false, false) => rows.for_each(|((o, &v), &g)| *o = dx_of(v, g)),
                    (false, true) => rows.for_each(|((o, &v), &g)| *o += dx_of(v, g)),
                }
            }
        });
}

/// A channel's statistics in the backward, and where its fused ReLU (if any) let the gradient
/// through: where the batch norm's output, recomputed by [`normalize`] exactly as the forward
/// did, was positive.
struct Mask {
    mean: f32,
    inv: f32,
    scale: f32,
    beta: f32,
    relu: bool,
}

/// Values summed in f32 lanes before the lanes are added to the f64 totals: short enough that
/// f32 loses nothing that matters, long enough that the f64 adds are rare.
const BLOCK: usize = 512;

impl Mask {
    fn new(c: usize, gamma: &[f32], relu_beta: Option<&[f32]>, stats: &BatchStats) -> Self {
        let inv = stats.inv_std(c);
        Mask {
            mean: stats.mean[c],
            inv,
            scale: gamma[c] * inv,
            beta: relu_beta.map_or(0.0, |b| b[c]),
            relu: relu_beta.is_some(),
        }
    }

    /// The gradient `g` where the ReLU passed `v`'s output, else 0 (branch-free).
    #[inline(always)]
    fn pass(&self, v: f32, g: f32) -> f32 {
        if normalize(v, self.mean, self.scale, self.beta) > 0.0 {
            g
        } else {
            0.0
        }
    }

    /// `(Σ g·(x − mean), Σ g)` over a plane, `g` the gradient reaching the batch norm's output;
    /// sixteen f32 lanes over blocks of [`BLOCK`] values, the blocks added in f64.
    fn sums(&self, x: &[f32], dy: &[f32]) -> (f64, f64) {
        if self.relu {
            self.sums_with(x, dy, |v, g| self.pass(v, g))
        } else {
            self.sums_with(x, dy, |_, g| g)
        }
    }

    #[inline(always)]
    fn sums_with(&self, x: &[f32], dy: &[f32], grad: impl Fn(f32, f32) -> f32) -> (f64, f64) {
        let (mut dg, mut db) = (0.0f64, 0.0f64);
        for (xb, gb) in x.chunks(BLOCK).zip(dy.chunks(BLOCK)) {
            let (mut sg, mut sd) = ([0.0f32; 16], [0.0f32; 16]);
            let (xc, gc) = (xb.chunks_exact(16), gb.chunks_exact(16));
            let (xr, gr) = (xc.remainder(), gc.remainder());
            for (xs, gs) in xc.zip(gc) {
                for l in 0..16 {
                    let g = grad(xs[l], gs[l]);
                    sg[l] += g * (xs[l] - self.mean);
                    sd[l] += g;
                }
            }
            for (&v, &g) in xr.iter().zip(gr) {
                let g = grad(v, g);
                sg[0] += g * (v - self.mean);
                sd[0] += g;
            }
            dg += sg.iter().sum::<f32>() as f64;
            db += sd.iter().sum::<f32>() as f64;
        }
        (dg, db)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch statistics against two passes in f64 over every value, on planes of odd sizes
    /// and values far from zero with a small spread (where `Σv² − (Σv)²/n` would cancel).
    #[test]
    fn the_batch_statistics_match_two_passes_in_f64() {
        let (batch, shape) = (3, Shape::new(2, 19, 61));
        let mut state = 11u32;
        let x: Vec<f32> = (0..batch * shape.len())
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let u = (state >> 8) as f32 / (1u32 << 24) as f32;
                if i / (shape.h * shape.w) % 2 == 0 {
                    1000.0 + 0.01 * u
                } else {
                    u - 0.5
                }
            })
            .collect();
        let (_, stats) = batch_norm_train(&x, batch, shape, &[1.0, 1.0], &[0.0, 0.0]);
        let plane = shape.h * shape.w;
        for c in 0..2 {
            let values: Vec<f64> = (0..batch)
                .flat_map(|n| &x[(n * shape.c + c) * plane..][..plane])
                .map(|&v| v as f64)
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(
                (stats.mean[c] as f64 - mean).abs() <= 1e-6 * mean.abs().max(1.0),
                "mean {c}"
            );
            assert!(
                (stats.var[c] as f64 - var).abs() <= 1e-5 * var,
                "var {c}: {} vs {var}",
                stats.var[c]
            );
        }
    }

    /// The blocked, laned backward against the formula in plain f64, on planes that span
    /// several blocks and end in a partial lane group, with and without the fused ReLU, `dx`
    /// written (over NaNs, so an element left unwritten fails) and added to what it held.
    #[test]
    fn the_backward_matches_the_formula_in_f64() {
        let (batch, shape) = (3, Shape::new(2, 23, 47));
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32
        };
        let x: Vec<f32> = (0..batch * shape.len())
            .map(|_| next() * 4.0 - 1.0)
            .collect();
        let dy: Vec<f32> = (0..batch * shape.len())
            .map(|_| next() * 2.0 - 1.0)
            .collect();
        let (gamma, beta) = (vec![0.7, 1.3], vec![-0.2, 0.4]);
        let (_, stats) = batch_norm_train(&x, batch, shape, &gamma, &beta);
        let plane = shape.h * shape.w;
        let m = (batch * plane) as f64;
        // What the input's gradient holds before, from its other readers (`Dx::Add`).
        let before: Vec<f32> = (0..x.len()).map(|_| next() - 0.5).collect();
        for (relu, add) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut dx = if add {
                before.clone()
            } else {
                vec![f32::NAN; x.len()]
            };
            let (mut dg, mut db) = (vec![0.0; 2], vec![0.0; 2]);
            let relu_beta = relu.then_some(beta.as_slice());
            let into = if add {
                Dx::Add(&mut dx)
            } else {
                Dx::Write(&mut dx)
            };
            batch_norm_backward_into(
                &x,
                &dy,
                batch,
                shape,
                (&gamma, relu_beta),
                &stats,
                (into, &mut dg, &mut db),
            );
            for c in 0..2 {
                let (mean, inv) = (stats.mean[c] as f64, stats.inv_std(c) as f64);
                let at = |n: usize| (n * shape.c + c) * plane;
                let index = (0..batch).flat_map(|n| at(n)..at(n) + plane);
                let g = |i: usize| {
                    let y = (x[i] as f64 - mean) * inv * gamma[c] as f64 + beta[c] as f64;
                    if relu && y <= 0.0 { 0.0 } else { dy[i] as f64 }
                };
                let want_db: f64 = index.clone().map(g).sum();
                let want_dg: f64 = index
                    .clone()
                    .map(|i| g(i) * (x[i] as f64 - mean) * inv)
                    .sum();
                assert!((db[c] as f64 - want_db).abs() < 1e-3, "{relu} dβ {c}");
                assert!((dg[c] as f64 - want_dg).abs() < 1e-3, "{relu} dγ {c}");
                for i in index {
                    let xhat = (x[i] as f64 - mean) * inv;
                    let mut want =
                        gamma[c] as f64 * inv * (g(i) - want_db / m - xhat * want_dg / m);
                    if add {
                        want += before[i] as f64;
                    }
                    assert!((dx[i] as f64 - want).abs() < 1e-5, "{relu} {add} dx[{i}]");
                }
            }
        }
    }
}
