//! The training-mode forward: the batch's statistics per channel, then the normalized (and
//! optionally rectified) output.

use rayon::prelude::*;

use super::{BLOCK, BatchStats, normalize};
use crate::net::Shape;

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
    train_on(pulp::Arch::new(), x, batch, shape, (gamma, beta), relu, y)
}

/// [`batch_norm_train_into`] on `arch`'s instruction set (the tests run each).
fn train_on(
    arch: pulp::Arch,
    x: &[f32],
    batch: usize,
    shape: Shape,
    (gamma, beta): (&[f32], &[f32]),
    relu: bool,
    y: &mut [f32],
) -> BatchStats {
    let plane = shape.h * shape.w;
    let stats = batch_stats(arch, x, batch, shape);
    // Each channel's `(mean, scale, β)` once, and the planes in tasks of at least
    // `NORMALIZE_TASK` values: on the hourglass's 2×2 planes a task and a dispatch per plane
    // cost more than the plane. With the statistics' small planes several to a sum
    // (`sum_planes`), the forward over 64 channels of 2×2, 4×4 and 8×8 planes at batch 32 took
    // 20, 19 and 27 µs against 40, 34 and 36 (2 cores of a Zen 4, from inside the pool).
    let terms: Vec<(f32, f32, f32)> = (0..shape.c)
        .map(|c| (stats.mean[c], gamma[c] * stats.inv_std(c), beta[c]))
        .collect();
    let per_task = NORMALIZE_TASK.div_ceil(plane.max(1)).max(1) * plane.max(1);
    y.par_chunks_mut(per_task)
        .zip(x.par_chunks(per_task))
        .enumerate()
        .for_each(|(task, (y, x))| {
            arch.dispatch(NormalizePlanes {
                x,
                y,
                first: task * (per_task / plane.max(1)),
                plane,
                terms: &terms,
                relu,
            })
        });
    stats
}

/// The batch's mean and biased variance of every channel, channels in parallel.
pub(super) fn batch_stats(arch: pulp::Arch, x: &[f32], batch: usize, shape: Shape) -> BatchStats {
    let plane = shape.h * shape.w;
    let (mean, var): (Vec<f32>, Vec<f32>) = (0..shape.c)
        .into_par_iter()
        .map(|c| {
            let planes = (0..batch).map(|n| (n * shape.c + c) * plane);
            arch.dispatch(ChannelStats { x, planes, plane })
        })
        .unzip();
    BatchStats { mean, var }
}

/// The fewest values one task of the forward's normalize pass takes (whole planes).
const NORMALIZE_TASK: usize = 4096;

/// One channel's batch mean and biased variance, from its planes (`planes`: where each starts
/// in `x`): a pass for the mean, a pass for the deviations from it.
///
/// This and [`NormalizePlane`] run through `pulp`'s dispatch, which compiles their loops for
/// the widest vectors the CPU has (AVX-512, AVX2 + FMA or the baseline): the crate is built for
/// x86-64's SSE2 baseline, where these loops ran at four lanes at best. Summing in f32 blocks
/// rather than in eight f64 lanes, the forward took 0.66–0.93× the time (batch 32, 32 to 128
/// channels on 32×32 to 128×128 planes, 2 cores of an AMD EPYC Zen 4, the two alternating in one
/// process; in a training step 1.21× and 1.29× as fast at 64×64 and 128×128). The statistics'
/// sums are then written on `pulp`'s vectors with two accumulators each (as the backward's),
/// which took the forward 0.80–0.96× the time again (same shapes, down to 4×4 planes).
pub(super) struct ChannelStats<'a, P> {
    pub x: &'a [f32],
    pub planes: P,
    pub plane: usize,
}

impl<P: Iterator<Item = usize> + Clone> pulp::WithSimd for ChannelStats<'_, P> {
    type Output = (f32, f32);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> (f32, f32) {
        let ChannelStats { x, planes, plane } = self;
        let count = (planes.clone().count() * plane) as f64;
        let mean = (sum_planes(simd, x, planes.clone(), plane) / count) as f32;
        // Deviations from the f32 mean; the square of their sum corrects for the mean's
        // rounding (the corrected two-pass formula).
        let (d, sq) = deviation_planes(simd, x, planes, plane, mean);
        (mean, ((sq - d * d / count) / count) as f32)
    }
}

/// Consecutive planes of the forward's output: [`normalize`], then the ReLU if fused.
struct NormalizePlanes<'a> {
    x: &'a [f32],
    y: &'a mut [f32],
    /// The index of the first plane in the batch (its channel is this modulo the channels).
    first: usize,
    plane: usize,
    /// `(mean, scale, β)` by channel.
    terms: &'a [(f32, f32, f32)],
    relu: bool,
}

impl pulp::WithSimd for NormalizePlanes<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let NormalizePlanes {
            x,
            y,
            first,
            plane,
            terms,
            relu,
        } = self;
        if plane == 0 {
            return;
        }
        for (i, (y, x)) in y.chunks_mut(plane).zip(x.chunks(plane)).enumerate() {
            let (mean, scale, beta) = terms[(first + i) % terms.len()];
            for (o, v) in y.iter_mut().zip(x) {
                let v = normalize(*v, mean, scale, beta);
                *o = if relu { v.max(0.0) } else { v };
            }
        }
    }
}

/// The fewest values the f32 sums of [`sum_planes`] and [`deviation_planes`] take before they are
/// added into f64: several small planes to a sum (on the hourglass's 2×2 planes a reduction per
/// plane cost more than the plane), but fewer than [`BLOCK`]: values near 1000 summed in blocks
/// of 512 over 35-value planes left the mean 16 f32 ulps off on one lane (the scalar form).
pub(super) const GROUPED: usize = 128;

/// `Σ v` over a channel's planes (`planes`: where each starts in `x`) in f32 vectors of `S`, two
/// accumulators, added into f64 after every [`GROUPED`] values or more: a plane longer than
/// [`BLOCK`] in pieces of `BLOCK`, shorter ones several to a sum. The values past a piece's last
/// whole vector are summed one by one (`pulp`'s partial loads jump through a table: see the
/// backward's `Lanes::dx`).
#[inline(always)]
fn sum_planes<S: pulp::Simd>(
    s: S,
    x: &[f32],
    planes: impl Iterator<Item = usize>,
    plane: usize,
) -> f64 {
    let zero = s.splat_f32s(0.0);
    let (mut total, mut acc, mut rest, mut pending) = (0.0f64, [zero; 2], 0.0f32, 0);
    for at in planes {
        for piece in x[at..][..plane].chunks(BLOCK) {
            let (vs, tail) = S::as_simd_f32s(piece);
            let pairs = vs.len() / 2;
            for i in 0..pairs {
                acc[0] = s.add_f32s(acc[0], vs[2 * i]);
                acc[1] = s.add_f32s(acc[1], vs[2 * i + 1]);
            }
            if vs.len() % 2 == 1 {
                acc[0] = s.add_f32s(acc[0], vs[2 * pairs]);
            }
            rest += tail.iter().sum::<f32>();
            pending += piece.len();
            if pending >= GROUPED {
                total += s.reduce_sum_f32s(s.add_f32s(acc[0], acc[1])) as f64 + rest as f64;
                (acc, rest, pending) = ([zero; 2], 0.0, 0);
            }
        }
    }
    total + s.reduce_sum_f32s(s.add_f32s(acc[0], acc[1])) as f64 + rest as f64
}

/// `(Σ (v − mean), Σ (v − mean)²)` over a channel's planes, in vectors and blocks as
/// [`sum_planes`]; the values past a piece's last whole vector one by one.
#[inline(always)]
fn deviation_planes<S: pulp::Simd>(
    s: S,
    x: &[f32],
    planes: impl Iterator<Item = usize>,
    plane: usize,
    mean: f32,
) -> (f64, f64) {
    let (m, zero) = (s.splat_f32s(mean), s.splat_f32s(0.0));
    let (mut d, mut sq) = (0.0f64, 0.0f64);
    let (mut ad, mut asq, mut td, mut tsq, mut pending) = ([zero; 2], [zero; 2], 0.0f32, 0.0f32, 0);
    for at in planes {
        for piece in x[at..][..plane].chunks(BLOCK) {
            let (vs, tail) = S::as_simd_f32s(piece);
            let mut add = |j: usize, v: S::f32s| {
                ad[j] = s.add_f32s(ad[j], v);
                asq[j] = s.mul_add_e_f32s(v, v, asq[j]);
            };
            let pairs = vs.len() / 2;
            for i in 0..pairs {
                add(0, s.sub_f32s(vs[2 * i], m));
                add(1, s.sub_f32s(vs[2 * i + 1], m));
            }
            if vs.len() % 2 == 1 {
                add(0, s.sub_f32s(vs[2 * pairs], m));
            }
            for &v in tail {
                td += v - mean;
                tsq += (v - mean) * (v - mean);
            }
            pending += piece.len();
            if pending >= GROUPED {
                d += (s.reduce_sum_f32s(s.add_f32s(ad[0], ad[1])) + td) as f64;
                sq += (s.reduce_sum_f32s(s.add_f32s(asq[0], asq[1])) + tsq) as f64;
                (ad, asq, td, tsq, pending) = ([zero; 2], [zero; 2], 0.0, 0.0, 0);
            }
        }
    }
    d += (s.reduce_sum_f32s(s.add_f32s(ad[0], ad[1])) + td) as f64;
    sq += (s.reduce_sum_f32s(s.add_f32s(asq[0], asq[1])) + tsq) as f64;
    (d, sq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::testing::{arches, unit};
    use crate::net::lower::BN_EPS;

    /// The batch statistics on each instruction set against two passes in f64 over every value,
    /// on planes of odd sizes, small and large
    /// (their last block an odd number of vectors and a partial one, on AVX-512 and AVX2)
    /// and values far from zero with a small spread (where `Σv² − (Σv)²/n` would cancel).
    #[test]
    fn the_batch_statistics_match_two_passes_in_f64() {
        // Planes longer than a block, and planes of 4 and 35 values, several to a block.
        for (batch, shape) in [
            (3, Shape::new(3, 23, 47)),
            (200, Shape::new(3, 2, 2)),
            (60, Shape::new(3, 5, 7)),
        ] {
            batch_statistics_match(batch, shape);
        }
    }

    fn batch_statistics_match(batch: usize, shape: Shape) {
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
        let plane = shape.h * shape.w;
        for (arch, c) in arches()
            .into_iter()
            .flat_map(|a| (0..3).map(move |c| (a, c)))
        {
            let mut y = vec![0.0; x.len()];
            let stats = train_on(
                arch,
                &x,
                batch,
                shape,
                (&[1.0; 3], &[0.0; 3]),
                false,
                &mut y,
            );
            let values: Vec<f64> = (0..batch)
                .flat_map(|n| &x[(n * shape.c + c) * plane..][..plane])
                .map(|&v| v as f64)
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
            assert!(
                (stats.mean[c] as f64 - mean).abs() <= 1e-6 * mean.abs().max(1.0),
                "{shape:?} {arch:?}: mean {c}: {} vs {mean}",
                stats.mean[c]
            );
            assert!(
                (stats.var[c] as f64 - var).abs() <= 1e-5 * var,
                "{shape:?} {arch:?}: var {c}: {} vs {var}",
                stats.var[c]
            );
        }
    }

    /// The forward's output on each instruction set against the formula in f64, with and
    /// without the fused ReLU, written over NaNs (an element left unwritten fails), on planes of
    /// odd sizes, and on batches of small planes that span several of the normalize pass's
    /// tasks, a task starting mid-way through the channels.
    #[test]
    fn the_output_matches_the_formula_in_f64() {
        for (batch, shape) in [
            (3, Shape::new(3, 7, 37)),
            (700, Shape::new(3, 2, 2)),
            (40, Shape::new(5, 9, 11)),
        ] {
            let mut state = 5u32;
            let x: Vec<f32> = (0..batch * shape.len())
                .map(|_| unit(&mut state) * 4.0 - 1.0)
                .collect();
            let gamma: Vec<f32> = (0..shape.c).map(|c| 0.5 - 0.75 * c as f32).collect();
            let beta: Vec<f32> = (0..shape.c).map(|c| 0.25 * c as f32 - 0.5).collect();
            let plane = shape.h * shape.w;
            for (arch, relu) in arches().into_iter().flat_map(|a| [(a, false), (a, true)]) {
                let mut y = vec![f32::NAN; x.len()];
                let stats = train_on(arch, &x, batch, shape, (&gamma, &beta), relu, &mut y);
                for (i, (&v, &got)) in x.iter().zip(&y).enumerate() {
                    let c = i / plane % shape.c;
                    let (mean, var) = (stats.mean[c] as f64, stats.var[c] as f64);
                    let want = (v as f64 - mean) / (var + BN_EPS as f64).sqrt() * gamma[c] as f64
                        + beta[c] as f64;
                    let want = if relu { want.max(0.0) } else { want };
                    assert!(
                        (got as f64 - want).abs() < 1e-5,
                        "{shape:?} {arch:?} {relu} {i}: {got} vs {want}"
                    );
                }
            }
        }
    }
}
