//! The backward: `dγ`, `dβ` and the input's gradient, the fused ReLU's backward applied on
//! the fly.

use rayon::prelude::*;

use super::forward::GROUPED;
use super::{BLOCK, BatchStats};
use crate::cpu::Dx;
use crate::cpu::fast::team::Out;
use crate::net::Shape;

/// Backward of [`batch_norm_train`](super::batch_norm_train): `(dx, dγ, dβ)` with
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
/// ([`batch_norm_train_into`](super::batch_norm_train_into) with `relu`) and `dy` is the
/// gradient of the ReLU's output: the ReLU's backward is applied on the fly, where the
/// recomputed batch-norm output is positive.
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
    let grads = (dx, dgamma, dbeta);
    backward_on(
        pulp::Arch::new(),
        x,
        dy,
        batch,
        shape,
        (gamma, relu_beta),
        stats,
        grads,
    );
}

/// [`batch_norm_backward_into`] on `arch`'s instruction set (the tests run each).
#[allow(clippy::too_many_arguments)] // as batch_norm_backward_into, and the instruction set
fn backward_on(
    arch: pulp::Arch,
    x: &[f32],
    dy: &[f32],
    batch: usize,
    shape: Shape,
    (gamma, relu_beta): (&[f32], Option<&[f32]>),
    stats: &BatchStats,
    grads: (Dx<'_>, &mut [f32], &mut [f32]),
) {
    assert!(
        x.len() == dy.len(),
        "batch norm backward: input and gradient lengths differ"
    );
    let plane = shape.h * shape.w;
    let at = move |n: usize, c: usize| (n * shape.c + c) * plane;
    by_channel(grads, x.len(), |c, out, add| {
        arch.dispatch(ChannelBackward {
            x,
            dy,
            out,
            planes: (0..batch).map(|n| (at(n, c), at(n, c))),
            plane,
            gamma: gamma[c],
            mask: Mask::new(c, gamma, relu_beta, stats),
            add,
        })
    });
}

/// A batch norm's backward one task a channel (here and for the fused pooling's): `dx`, of
/// `len` values, written or added to as [`Dx`] says, and every channel's `(dγ, dβ)` from
/// `channel(c, dx, add)`, which writes that channel's planes of `dx` and no others.
pub(super) fn by_channel(
    (dx, dgamma, dbeta): (Dx<'_>, &mut [f32], &mut [f32]),
    len: usize,
    channel: impl Fn(usize, Out<'_>, bool) -> (f32, f32) + Sync,
) {
    let (dx, add) = match dx {
        Dx::Write(dx) => (dx, false),
        Dx::Add(dx) => (dx, true),
    };
    assert_eq!(
        dx.len(),
        len,
        "batch norm backward: the input's gradient has the wrong length"
    );
    let out = Out::new(dx);
    dgamma
        .par_iter_mut()
        .zip(dbeta.par_iter_mut())
        .enumerate()
        .for_each(|(c, (dg_out, db_out))| (*dg_out, *db_out) = channel(c, out, add));
}

/// One channel's backward ([`batch_norm_backward_into`]): its sums over the batch's planes,
/// then its `dx` from the same planes while they are still in cache; returns `(dγ, dβ)`.
///
/// Written on `pulp`'s vector types rather than left to the compiler: the scalar loops
/// (sixteen f32 lanes a sum) compiled through the same dispatch for AVX-512 or AVX2 ran
/// 1.08–1.31× slower than at the SSE2 baseline, a sum in one vector being one chain of
/// dependent adds; here each sum has two. Against the baseline's scalar loops this took
/// 0.59–0.73× the time (batch 32, 32 to 128 channels on 4×4 to 64×64 planes, fused ReLU, `dx`
/// added to; 2 cores of an AMD EPYC Zen 4, the two alternating in one process); in a training
/// step the batch norms' backward 1.34× as fast at 64×64 and 1.16× at 128×128, a step 1.04×
/// and 1.03×.
pub(super) struct ChannelBackward<'a, P> {
    pub x: &'a [f32],
    pub dy: &'a [f32],
    pub out: Out<'a>,
    /// Where each of the channel's planes starts: in `x` and `dx`, and in `dy`.
    pub planes: P,
    pub plane: usize,
    pub gamma: f32,
    pub mask: Mask,
    /// `dx` added to rather than written ([`Dx::Add`]).
    pub add: bool,
}

impl<P: Iterator<Item = (usize, usize)> + Clone> pulp::WithSimd for ChannelBackward<'_, P> {
    type Output = (f32, f32);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> (f32, f32) {
        let ChannelBackward {
            x,
            dy,
            out,
            planes,
            plane,
            gamma,
            mask,
            add,
        } = self;
        let lanes = Lanes::new(simd, &mask);
        let (dg, db) = if mask.relu {
            lanes.sums::<true>(x, dy, planes.clone(), plane)
        } else {
            lanes.sums::<false>(x, dy, planes.clone(), plane)
        };
        // Σ dy·x̂ = inv·Σ dy·(x − mean).
        let (dgamma, dbeta) = ((dg * mask.inv as f64) as f32, db as f32);
        let m = (planes.clone().count() * plane) as f64;
        let k = gamma * mask.inv;
        let (mean_dy, mean_dyx) = ((dbeta as f64 / m) as f32, (dgamma as f64 / m) as f32);
        // (v − mean)·inv·mean_dyx, the last two once.
        let slope = mask.inv * mean_dyx;
        let terms = DxTerms {
            k: simd.splat_f32s(k),
            mean_dy: simd.splat_f32s(mean_dy),
            slope: simd.splat_f32s(slope),
            one: (k, mean_dy, slope),
        };
        for (at, dy_at) in planes {
            let range = at..at + plane;
            // SAFETY: the channel's planes are written by this task alone.
            let dx = unsafe { out.slice(range.clone()) };
            let (x, dy) = (&x[range], &dy[dy_at..][..plane]);
            match (mask.relu, add) {
                (true, false) => lanes.dx::<true, false>(&terms, x, dy, dx),
                (true, true) => lanes.dx::<true, true>(&terms, x, dy, dx),
                (false, false) => lanes.dx::<false, false>(&terms, x, dy, dx),
                (false, true) => lanes.dx::<false, true>(&terms, x, dy, dx),
            }
        }
        (dgamma, dbeta)
    }
}

/// A channel's [`Mask`] as vectors of `S`, and the backward's two loops over a plane.
struct Lanes<S: pulp::Simd> {
    simd: S,
    /// The channel's mask as scalars, for the values past a plane's last whole vector.
    one: (f32, f32, f32),
    mean: S::f32s,
    scale: S::f32s,
    beta: S::f32s,
    zero: S::f32s,
}

/// The constants of `dx = k·(g − mean_dy − (v − mean)·slope)`, as vectors and (`one`) scalars.
struct DxTerms<S: pulp::Simd> {
    k: S::f32s,
    mean_dy: S::f32s,
    slope: S::f32s,
    one: (f32, f32, f32),
}

impl<S: pulp::Simd> Lanes<S> {
    #[inline(always)]
    fn new(simd: S, mask: &Mask) -> Self {
        Lanes {
            simd,
            one: (mask.mean, mask.scale, mask.beta),
            mean: simd.splat_f32s(mask.mean),
            scale: simd.splat_f32s(mask.scale),
            beta: simd.splat_f32s(mask.beta),
            zero: simd.splat_f32s(0.0),
        }
    }

    /// The gradient `g` where the fused ReLU passed `v`'s output (recomputed as
    /// [`normalize`](super::normalize) does: a subtraction, a product, a sum, never fused, so it
    /// matches the forward bit for bit), else 0; `g` itself without a ReLU.
    #[inline(always)]
    fn pass<const RELU: bool>(&self, v: S::f32s, g: S::f32s) -> S::f32s {
        if !RELU {
            return g;
        }
        let s = self.simd;
        let y = s.add_f32s(s.mul_f32s(s.sub_f32s(v, self.mean), self.scale), self.beta);
        s.select_f32s(s.greater_than_f32s(y, self.zero), g, self.zero)
    }

    /// [`pass`](Self::pass) for one value.
    #[inline(always)]
    fn pass_one<const RELU: bool>(&self, v: f32, g: f32) -> f32 {
        let (mean, scale, beta) = self.one;
        if !RELU || (v - mean) * scale + beta > 0.0 {
            g
        } else {
            0.0
        }
    }

    /// `(Σ g·(x − mean), Σ g)` over a channel's planes (`planes`: where each starts in `x` and
    /// in `dy`), `g` the gradient reaching the batch norm's output: f32 vectors, four
    /// accumulators, added into f64 after every [`GROUPED`] values or more — a plane longer than
    /// [`BLOCK`] in pieces of `BLOCK`, shorter ones several to a sum, as the forward's
    /// statistics. The values past a piece's last whole vector are summed one by one: `pulp`'s
    /// partial loads jump through a table, which on the hourglass's 2×2 planes (a partial vector
    /// each, nothing else) cost more than the values (see `Lanes::dx`).
    #[inline(always)]
    fn sums<const RELU: bool>(
        &self,
        x: &[f32],
        dy: &[f32],
        planes: impl Iterator<Item = (usize, usize)>,
        plane: usize,
    ) -> (f64, f64) {
        let s = self.simd;
        let mean = self.one.0;
        let (mut dg, mut db) = (0.0f64, 0.0f64);
        let (mut acc, mut tail, mut pending) = ([self.zero; 4], (0.0f32, 0.0f32), 0);
        for (at, dy_at) in planes {
            let (x, dy) = (&x[at..][..plane], &dy[dy_at..][..plane]);
            for (x, dy) in x.chunks(BLOCK).zip(dy.chunks(BLOCK)) {
                let (xs, xt) = S::as_simd_f32s(x);
                let (gs, gt) = S::as_simd_f32s(dy);
                let term = |acc: &mut [S::f32s], v: S::f32s, g: S::f32s| {
                    let g = self.pass::<RELU>(v, g);
                    acc[0] = s.mul_add_e_f32s(g, s.sub_f32s(v, self.mean), acc[0]);
                    acc[1] = s.add_f32s(acc[1], g);
                };
                let pairs = xs.len() / 2;
                for i in 0..pairs {
                    term(&mut acc[..2], xs[2 * i], gs[2 * i]);
                    term(&mut acc[2..], xs[2 * i + 1], gs[2 * i + 1]);
                }
                if xs.len() % 2 == 1 {
                    term(&mut acc[..2], xs[2 * pairs], gs[2 * pairs]);
                }
                for (&v, &g) in xt.iter().zip(gt) {
                    let g = self.pass_one::<RELU>(v, g);
                    tail.0 += g * (v - mean);
                    tail.1 += g;
                }
                pending += x.len();
                if pending >= GROUPED {
                    dg += s.reduce_sum_f32s(s.add_f32s(acc[0], acc[2])) as f64 + tail.0 as f64;
                    db += s.reduce_sum_f32s(s.add_f32s(acc[1], acc[3])) as f64 + tail.1 as f64;
                    (acc, tail, pending) = ([self.zero; 4], (0.0, 0.0), 0);
                }
            }
        }
        dg += s.reduce_sum_f32s(s.add_f32s(acc[0], acc[2])) as f64 + tail.0 as f64;
        db += s.reduce_sum_f32s(s.add_f32s(acc[1], acc[3])) as f64 + tail.1 as f64;
        (dg, db)
    }

    /// A plane of `dx`, written or (`ADD`) added to.
    #[inline(always)]
    fn dx<const RELU: bool, const ADD: bool>(
        &self,
        t: &DxTerms<S>,
        x: &[f32],
        dy: &[f32],
        dx: &mut [f32],
    ) {
        let s = self.simd;
        let value = |v: S::f32s, g: S::f32s, before: S::f32s| {
            let g = self.pass::<RELU>(v, g);
            let centred = s.sub_f32s(
                s.sub_f32s(g, t.mean_dy),
                s.mul_f32s(s.sub_f32s(v, self.mean), t.slope),
            );
            let d = s.mul_f32s(t.k, centred);
            if ADD { s.add_f32s(before, d) } else { d }
        };
        let (xs, xt) = S::as_simd_f32s(x);
        let (gs, gt) = S::as_simd_f32s(dy);
        let (os, ot) = S::as_mut_simd_f32s(dx);
        for i in 0..xs.len() {
            os[i] = value(xs[i], gs[i], os[i]);
        }
        // The values past the last whole vector one by one, the same operations in the same
        // order as a lane's. On 2×2 planes `pulp`'s partial load and store (a jump through a
        // table each) took the backward (64 channels, batch 32, 2 cores of a Zen 4) 136 µs,
        // this 25; in a 64×64 step the batch norms' backward on 2×2 and 4×4 planes 0.92–1.05
        // against 1.96–2.40 ms (three alternating `bench --train --per-layer` runs).
        let (k, mean_dy, slope) = t.one;
        let mean = self.one.0;
        for ((o, &v), &g) in ot.iter_mut().zip(xt).zip(gt) {
            let g = self.pass_one::<RELU>(v, g);
            let d = k * ((g - mean_dy) - (v - mean) * slope);
            *o = if ADD { *o + d } else { d };
        }
    }
}

/// A channel's statistics in the backward, and where its fused ReLU (if any) let the gradient
/// through: where the batch norm's output, recomputed as [`normalize`](super::normalize)
/// computes it, was positive.
pub(super) struct Mask {
    mean: f32,
    inv: f32,
    scale: f32,
    beta: f32,
    relu: bool,
}

impl Mask {
    pub(super) fn new(
        c: usize,
        gamma: &[f32],
        relu_beta: Option<&[f32]>,
        stats: &BatchStats,
    ) -> Self {
        let inv = stats.inv_std(c);
        Mask {
            mean: stats.mean[c],
            inv,
            scale: gamma[c] * inv,
            beta: relu_beta.map_or(0.0, |b| b[c]),
            relu: relu_beta.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::batch_norm_train;
    use super::*;
    use crate::cpu::testing::{arches, unit};

    /// The blocked, laned backward on each instruction set against the formula in plain f64,
    /// on planes that span several blocks and end in a partial lane group, and on planes
    /// smaller than a vector summed several to a group (2×2 and 3×5, over 160 and 165 values a
    /// channel: two groups, the second short), with and without the fused ReLU, `dx` written
    /// (over NaNs, so an element left unwritten fails) and added to what it held.
    #[test]
    fn the_backward_matches_the_formula_in_f64() {
        for (batch, shape) in [
            (3, Shape::new(2, 23, 47)),
            (40, Shape::new(2, 2, 2)),
            (11, Shape::new(2, 3, 5)),
        ] {
            matches_the_formula(batch, shape);
        }
    }

    fn matches_the_formula(batch: usize, shape: Shape) {
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
        let modes = [(false, false), (true, false), (false, true), (true, true)];
        for (arch, (relu, add)) in arches().into_iter().flat_map(|a| modes.map(|m| (a, m))) {
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
            let grads = (into, &mut dg[..], &mut db[..]);
            backward_on(
                arch,
                &x,
                &dy,
                batch,
                shape,
                (&gamma, relu_beta),
                &stats,
                grads,
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
                assert!(
                    (db[c] as f64 - want_db).abs() < 1e-3,
                    "{arch:?} {relu} dβ {c}"
                );
                assert!(
                    (dg[c] as f64 - want_dg).abs() < 1e-3,
                    "{arch:?} {relu} dγ {c}"
                );
                for i in index {
                    let xhat = (x[i] as f64 - mean) * inv;
                    let mut want =
                        gamma[c] as f64 * inv * (g(i) - want_db / m - xhat * want_dg / m);
                    if add {
                        want += before[i] as f64;
                    }
                    assert!(
                        (dx[i] as f64 - want).abs() < 1e-5,
                        "{arch:?} {relu} {add} dx[{i}]"
                    );
                }
            }
        }
    }
}
