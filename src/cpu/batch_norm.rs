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
/// values per channel (summed in f32 blocks of 512 values added in f64, so large batches
/// lose nothing).
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
    let arch = pulp::Arch::new();
    let (mean, var): (Vec<f32>, Vec<f32>) = (0..shape.c)
        .into_par_iter()
        .map(|c| {
            let planes = (0..batch).map(|n| (n * shape.c + c) * plane);
            arch.dispatch(ChannelStats { x, planes, plane })
        })
        .unzip();
    let stats = BatchStats { mean, var };
    y.par_chunks_mut(plane)
        .zip(x.par_chunks(plane))
        .enumerate()
        .for_each(|(i, (y, x))| {
            let c = i % shape.c;
            let (scale, mean, beta) = (gamma[c] * stats.inv_std(c), stats.mean[c], beta[c]);
            arch.dispatch(NormalizePlane {
                x,
                y,
                mean,
                scale,
                beta,
                relu,
            })
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

/// One channel's batch mean and biased variance, from its planes (`planes`: where each starts
/// in `x`): a pass for the mean, a pass for the deviations from it.
///
/// This and [`NormalizePlane`] run through `pulp`'s dispatch, which compiles their loops for
/// the widest vectors the CPU has (AVX-512, AVX2 + FMA or the baseline): the crate is built for
/// x86-64's SSE2 baseline, where these loops ran at four lanes at best. Summing in f32 blocks
/// rather than in eight f64 lanes, the forward took 0.66–0.93× the time (batch 32, 32 to 128
/// channels on 32×32 to 128×128 planes, 2 cores of an AMD EPYC Zen 4, the two alternating in one
/// process; in a training step 1.21× and 1.29× as fast at 64×64 and 128×128). The backward
/// through the same dispatch (AVX-512 or AVX2) took 1.08–1.31× the time there, so it keeps the
/// baseline's code.
struct ChannelStats<'a, P> {
    x: &'a [f32],
    planes: P,
    plane: usize,
}

impl<P: Iterator<Item = usize> + Clone> pulp::WithSimd for ChannelStats<'_, P> {
    type Output = (f32, f32);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> (f32, f32) {
        let ChannelStats { x, planes, plane } = self;
        let count = (planes.clone().count() * plane) as f64;
        let mut sum = 0.0f64;
        for at in planes.clone() {
            sum += sum_f64(&x[at..][..plane]);
        }
        let mean = (sum / count) as f32;
        // Deviations from the f32 mean; the square of their sum corrects for the mean's
        // rounding (the corrected two-pass formula).
        let (mut d, mut sq) = (0.0f64, 0.0f64);
        for at in planes {
            let (pd, psq) = deviations(&x[at..][..plane], mean);
            d += pd;
            sq += psq;
        }
        (mean, ((sq - d * d / count) / count) as f32)
    }
}

/// One plane of the forward's output: [`normalize`], then the ReLU if fused.
struct NormalizePlane<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    mean: f32,
    scale: f32,
    beta: f32,
    relu: bool,
}

impl pulp::WithSimd for NormalizePlane<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let NormalizePlane {
            x,
            y,
            mean,
            scale,
            beta,
            relu,
        } = self;
        for (o, v) in y.iter_mut().zip(x) {
            let v = normalize(*v, mean, scale, beta);
            *o = if relu { v.max(0.0) } else { v };
        }
    }
}

/// `Σ v` over a plane: sixteen f32 lanes over blocks of [`BLOCK`] values, the blocks added in
/// f64, as the backward's sums.
#[inline(always)]
fn sum_f64(p: &[f32]) -> f64 {
    let mut total = 0.0f64;
    for block in p.chunks(BLOCK) {
        let mut acc = [0.0f32; 16];
        let chunks = block.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            for (a, v) in acc.iter_mut().zip(c) {
                *a += v;
            }
        }
        acc[0] += tail.iter().sum::<f32>();
        total += acc.iter().sum::<f32>() as f64;
    }
    total
}

/// `(Σ (v − mean), Σ (v − mean)²)` over a plane, in blocks like [`sum_f64`].
#[inline(always)]
fn deviations(p: &[f32], mean: f32) -> (f64, f64) {
    let (mut d, mut sq) = (0.0f64, 0.0f64);
    for block in p.chunks(BLOCK) {
        let (mut ad, mut asq) = ([0.0f32; 16], [0.0f32; 16]);
        let chunks = block.chunks_exact(16);
        let tail = chunks.remainder();
        for c in chunks {
            for ((d, sq), &v) in ad.iter_mut().zip(&mut asq).zip(c) {
                let v = v - mean;
                *d += v;
                *sq += v * v;
            }
        }
        for &v in tail {
            ad[0] += v - mean;
            asq[0] += (v - mean) * (v - mean);
        }
        d += ad.iter().sum::<f32>() as f64;
        sq += asq.iter().sum::<f32>() as f64;
    }
    (d, sq)
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

    /// A value in [0, 1) from a linear congruential generator.
    fn unit(state: &mut u32) -> f32 {
        *state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (*state >> 8) as f32 / (1u32 << 24) as f32
    }

    /// The batch statistics against two passes in f64 over every value, on planes of odd sizes
    /// and values far from zero with a small spread (where `Σv² − (Σv)²/n` would cancel).
    #[test]
    fn the_batch_statistics_match_two_passes_in_f64() {
        let (batch, shape) = (3, Shape::new(3, 19, 61));
        let mut state = 11u32;
        // Channels far from zero against their spread, where the f32 mean's rounding shows in
        // the variance unless the deviations' sum corrects it, and one about zero.
        let x: Vec<f32> = (0..batch * shape.len())
            .map(|i| {
                let u = unit(&mut state);
                match i / (shape.h * shape.w) % 3 {
                    0 => 1000.0 + 0.01 * u,
                    1 => u - 0.5,
                    _ => 4096.0 + 0.004 * u,
                }
            })
            .collect();
        let (_, stats) = batch_norm_train(&x, batch, shape, &[1.0; 3], &[0.0; 3]);
        let plane = shape.h * shape.w;
        for c in 0..3 {
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

    /// The forward's output against the formula in f64, with and without the fused ReLU,
    /// written over NaNs (an element left unwritten fails), on planes of odd sizes.
    #[test]
    fn the_output_matches_the_formula_in_f64() {
        let (batch, shape) = (3, Shape::new(3, 7, 37));
        let mut state = 5u32;
        let x: Vec<f32> = (0..batch * shape.len())
            .map(|_| unit(&mut state) * 4.0 - 1.0)
            .collect();
        let (gamma, beta) = ([0.5, -1.5, 2.0], [0.25, 0.0, -0.5]);
        let plane = shape.h * shape.w;
        for relu in [false, true] {
            let mut y = vec![f32::NAN; x.len()];
            let stats = batch_norm_train_into(&x, batch, shape, (&gamma, &beta), relu, &mut y);
            for (i, (&v, &got)) in x.iter().zip(&y).enumerate() {
                let c = i / plane % shape.c;
                let (mean, var) = (stats.mean[c] as f64, stats.var[c] as f64);
                let want = (v as f64 - mean) / (var + BN_EPS as f64).sqrt() * gamma[c] as f64
                    + beta[c] as f64;
                let want = if relu { want.max(0.0) } else { want };
                assert!(
                    (got as f64 - want).abs() < 1e-5,
                    "{relu} {i}: {got} vs {want}"
                );
            }
        }
    }

    /// The blocked, laned backward against the formula in plain f64, on planes that span
    /// several blocks and end in a partial lane group, with and without the fused ReLU, `dx`
    /// written (over NaNs, so an element left unwritten fails) and added to what it held.
    #[test]
    fn the_backward_matches_the_formula_in_f64() {
        let (batch, shape) = (3, Shape::new(2, 23, 47));
        let mut state = 7u32;
        let mut next = || unit(&mut state);
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
