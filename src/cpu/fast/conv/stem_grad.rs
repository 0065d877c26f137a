//! The weight and bias gradients of a stride-1 convolution with one input channel (the
//! network's stem: 3×3, 1 → 32 channels on the full-size input), read in place.
//!
//! Why: [`super::weight_grad`]'s kernel first copies `dy` onto the zero-padded grid's rows,
//! which for the stem is the largest gradient of the network (32 channels of 64×64 a sample
//! in the 64×64 network), and blocks its sums by (input channel, tap) pairs, of which the stem
//! has only `k·k`. Here each row of `dy` is read once where it lies, against the `k·k` shifted
//! rows of the sample's zero-padded input (a few KB, in L1): two output channels at a time,
//! `2 × k·k` vector sums and the two bias sums in registers.

use std::cell::RefCell;

use super::one_channel::PaddedBatch;
use super::pad_sample;
use crate::cpu::conv2d::sum_over_sample_groups;
use crate::net::Shape;

/// The most taps (`k·k`) the kernel keeps in registers: 3×3.
const MAX_TAPS: usize = 9;

/// Whether [`weight_grad`], [`channel_weight_grad`], the one-channel forward
/// ([`super::one_channel::channel_into`]) and so training's fused stem take a convolution: one
/// input channel, stride 1, a kernel of at most 3×3 and padding below its size.
pub fn runs(cin: usize, kernel: usize, stride: usize, pad: usize) -> bool {
    cin == 1 && stride == 1 && kernel * kernel <= MAX_TAPS && pad < kernel
}

thread_local! {
    /// The sample's zero-padded input, followed by a vector's worth of zeros.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `dw` (`cout × 1 × k × k`) and `db` (`cout`) of a convolution that [`runs`], summed over the
/// batch: `x` is `batch × input`, `dy` `batch × output`. Every element of `dw` and `db` is
/// written; `parts` is scratch, as for [`sum_over_sample_groups`] (one group of samples a
/// thread, their sums added in group order).
#[allow(clippy::too_many_arguments)] // the geometry, the tensors, the outputs and scratch
pub fn weight_grad(
    (kernel, pad): (usize, usize),
    x: &[f32],
    dy: &[f32],
    batch: usize,
    (input, output): (Shape, Shape),
    dw: &mut [f32],
    db: &mut [f32],
    parts: &mut Vec<f32>,
) {
    weight_grad_on(
        pulp::Arch::new(),
        (kernel, pad),
        x,
        dy,
        batch,
        (input, output),
        (dw, db),
        parts,
    );
}

/// [`weight_grad`] on `arch`'s instruction set (the tests run each).
#[allow(clippy::too_many_arguments)] // as weight_grad, and the instruction set
fn weight_grad_on(
    arch: pulp::Arch,
    (kernel, pad): (usize, usize),
    x: &[f32],
    dy: &[f32],
    batch: usize,
    (input, output): (Shape, Shape),
    (dw, db): (&mut [f32], &mut [f32]),
    parts: &mut Vec<f32>,
) {
    assert!(
        runs(input.c, kernel, 1, pad),
        "not a one-channel stride-1 convolution"
    );
    assert_eq!(
        (output.h, output.w),
        (
            input.h + 2 * pad + 1 - kernel,
            input.w + 2 * pad + 1 - kernel
        )
    );
    assert_eq!(x.len(), batch * input.len());
    assert_eq!(dy.len(), batch * output.len());
    assert_eq!((dw.len(), db.len()), (output.c * kernel * kernel, output.c));
    sum_over_sample_groups(batch, dw, db, parts, |samples, dw, db| {
        PADDED.with_borrow_mut(|padded| {
            for n in samples {
                arch.dispatch(Sample {
                    x: &x[n * input.len()..][..input.len()],
                    dy: &dy[n * output.len()..][..output.len()],
                    geometry: (input, output, kernel, pad),
                    padded: &mut *padded,
                    dw: &mut *dw,
                    db: &mut *db,
                });
            }
        })
    });
}

/// One output channel's weight and bias gradients from its gradient `dy` (`batch × oh × ow`, the
/// channel's plane of each sample) against the batch's input as
/// [`pad_batch`](super::one_channel::pad_batch) laid it out: added into `dw` (`k·k`) and `db`,
/// sample after sample. What training's fused stem (`batch_norm::stem`) runs on each channel's
/// gradient while it is in cache.
pub fn channel_weight_grad(
    arch: pulp::Arch,
    (padded, at): (&[f32], PaddedBatch),
    kernel: usize,
    dy: &[f32],
    dw: &mut [f32],
    db: &mut f32,
) {
    assert!(
        runs(at.input.c, kernel, 1, at.pad),
        "not a one-channel stride-1 convolution"
    );
    let (oh, ow) = at.output(kernel);
    let plane = oh * ow;
    let batch = dy.len() / plane.max(1);
    assert_eq!(dy.len(), batch * plane);
    assert!(padded.len() >= batch * at.sample);
    assert_eq!(dw.len(), kernel * kernel);
    arch.dispatch(Channel {
        padded,
        at,
        kernel,
        dy,
        dw,
        db,
    });
}

/// [`channel_weight_grad`]'s arguments.
struct Channel<'a> {
    padded: &'a [f32],
    at: PaddedBatch,
    kernel: usize,
    dy: &'a [f32],
    dw: &'a mut [f32],
    db: &'a mut f32,
}

impl pulp::WithSimd for Channel<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        match self.kernel {
            1 => self.all::<S, 1>(simd),
            2 => self.all::<S, 2>(simd),
            3 => self.all::<S, 3>(simd),
            _ => unreachable!("runs() takes kernels up to 3×3"),
        }
    }
}

/// Rows of `dy` a block of [`Channel`] takes: an input row's shifted vectors are loaded once
/// for the (up to) `k` rows of `dy` they meet. On 2 cores of an Intel Xeon (AVX-512), one
/// thread, the 32 channels of a 64×64 batch of 32 took 0.91–1.01 ms in blocks of four rows
/// (two: 1.04–1.18, six and eight no better), 1.55–1.64 a row at a time.
const ROWS: usize = 4;

impl Channel<'_> {
    /// Every sample's terms for a `K×K` kernel: `ROWS` rows of `dy` at a time, then the rows
    /// left one by one, then the columns past the last whole vector one by one.
    #[inline(always)]
    fn all<S: pulp::Simd, const K: usize>(self, s: S) {
        let Channel {
            padded,
            at,
            dy,
            dw,
            db,
            ..
        } = self;
        let (oh, ow) = at.output(K);
        let plane = oh * ow;
        let lanes = size_of::<S::f32s>() / size_of::<f32>();
        let whole = ow / lanes;
        let zero = s.splat_f32s(0.0);
        let mut sums = [zero; MAX_TAPS];
        let mut bias = [zero; ROWS];
        let (mut tail, mut tail_bias) = ([0.0f32; MAX_TAPS], 0.0f32);
        for (n, dy) in dy.chunks_exact(plane.max(1)).enumerate() {
            let src = &padded[n * at.sample..][..at.sample];
            let rows = (src, at.width);
            let mut oy = 0;
            while oy + ROWS <= oh {
                for v in 0..whole {
                    (sums, bias) = block::<S, K, ROWS>(s, rows, (dy, ow), (oy, v), sums, bias);
                }
                oy += ROWS;
            }
            while oy < oh {
                for v in 0..whole {
                    let one;
                    (sums, one) = block::<S, K, 1>(s, rows, (dy, ow), (oy, v), sums, [bias[0]]);
                    bias[0] = one[0];
                }
                oy += 1;
            }
            for oy in 0..oh {
                for ox in whole * lanes..ow {
                    let g = dy[oy * ow + ox];
                    tail_bias += g;
                    for (t, tail) in tail.iter_mut().enumerate().take(K * K) {
                        *tail += g * src[(oy + t / K) * at.width + t % K + ox];
                    }
                }
            }
        }
        let bias = bias.iter().fold(zero, |a, &b| s.add_f32s(a, b));
        *db += s.reduce_sum_f32s(bias) + tail_bias;
        for t in 0..K * K {
            dw[t] += s.reduce_sum_f32s(sums[t]) + tail[t];
        }
    }
}

/// Vector `v` of `R` rows of `dy` from row `oy` on against the padded input's shifted rows:
/// `sums[ty·K + tx] += dy[oy + r] · x[oy + r + ty][· + tx]`, `bias[r] += dy[oy + r]`, the
/// sums taken and given back by value (kept in registers).
#[inline(always)]
fn block<S: pulp::Simd, const K: usize, const R: usize>(
    s: S,
    (src, width): (&[f32], usize),
    (dy, ow): (&[f32], usize),
    (oy, v): (usize, usize),
    mut sums: [S::f32s; MAX_TAPS],
    mut bias: [S::f32s; R],
) -> ([S::f32s; MAX_TAPS], [S::f32s; R]) {
    let lanes = size_of::<S::f32s>() / size_of::<f32>();
    let g: [S::f32s; R] = std::array::from_fn(|r| {
        let at = (oy + r) * ow + v * lanes;
        S::as_simd_f32s(&dy[at..at + lanes]).0[0]
    });
    for (bias, &g) in bias.iter_mut().zip(&g) {
        *bias = s.add_f32s(*bias, g);
    }
    for iy in 0..R + K - 1 {
        for tx in 0..K {
            let at = (oy + iy) * width + tx + v * lanes;
            let x = S::as_simd_f32s(&src[at..at + lanes]).0[0];
            // Row r of dy meets input row iy through tap row iy − r.
            for (r, &g) in g.iter().enumerate() {
                if iy >= r && iy - r < K {
                    let t = (iy - r) * K + tx;
                    sums[t] = s.mul_add_e_f32s(g, x, sums[t]);
                }
            }
        }
    }
    (sums, bias)
}

/// One sample's terms added into `dw` and `db`.
struct Sample<'a> {
    x: &'a [f32],
    dy: &'a [f32],
    /// Input, output, kernel size, padding.
    geometry: (Shape, Shape, usize, usize),
    padded: &'a mut Vec<f32>,
    dw: &'a mut [f32],
    db: &'a mut [f32],
}

impl pulp::WithSimd for Sample<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Sample {
            x,
            dy,
            geometry: (input, output, k, pad),
            padded,
            dw,
            db,
        } = self;
        let width = input.w + 2 * pad;
        let lanes = size_of::<S::f32s>() / size_of::<f32>();
        let plane = (input.h + 2 * pad) * width;
        padded.clear();
        padded.resize(plane + lanes, 0.0);
        pad_sample(x, (input.h, input.w), pad, plane, padded);
        let rows = Rows {
            simd,
            padded,
            width,
            output,
        };
        // The kernel size as a constant, so the tap loops unroll and the sums stay in
        // registers (with a run-time count they were kept in memory: the stem took 2.3–2.5 ms a step
        // against 1.16; 64×64 network, batch 32, 2 cores of a Zen 4).
        match k {
            1 => rows.all::<1>(dy, dw, db),
            2 => rows.all::<2>(dy, dw, db),
            3 => rows.all::<3>(dy, dw, db),
            _ => unreachable!("runs() takes kernels up to 3×3"),
        }
    }
}

/// The padded input of one sample, and the loop over its rows for a block of channels.
struct Rows<'a, S: pulp::Simd> {
    simd: S,
    padded: &'a [f32],
    /// The padded input's row length.
    width: usize,
    output: Shape,
}

impl<S: pulp::Simd> Rows<'_, S> {
    /// Adds every channel's terms, two channels at a time: `dy` is the sample's gradient,
    /// `dw` and `db` the weights' and biases' gradients, for a `K×K` kernel.
    #[inline(always)]
    fn all<const K: usize>(&self, dy: &[f32], dw: &mut [f32], db: &mut [f32]) {
        let (taps, plane) = (K * K, self.output.h * self.output.w);
        let mut o = 0;
        while o + 2 <= self.output.c {
            let dw = &mut dw[o * taps..][..2 * taps];
            self.channels::<2, K>(&dy[o * plane..][..2 * plane], dw, &mut db[o..o + 2]);
            o += 2;
        }
        if o < self.output.c {
            let dw = &mut dw[o * taps..][..taps];
            self.channels::<1, K>(&dy[o * plane..][..plane], dw, &mut db[o..o + 1]);
        }
    }

    /// Adds `M` channels' terms: `dy` is their `M` planes, `dw` their `M × k·k` weights' and
    /// `db` their biases' gradients.
    #[inline(always)]
    #[allow(clippy::needless_range_loop)] // tap `t` indexes the sums of every channel
    fn channels<const M: usize, const K: usize>(&self, dy: &[f32], dw: &mut [f32], db: &mut [f32]) {
        let s = self.simd;
        let (taps, plane) = (K * K, self.output.h * self.output.w);
        let zero = s.splat_f32s(0.0);
        let mut sums = [[zero; MAX_TAPS]; M];
        let mut bias = [zero; M];
        // The columns past the last whole vector, one by one.
        let mut tail = [[0.0f32; MAX_TAPS]; M];
        let mut tail_bias = [0.0f32; M];
        for oy in 0..self.output.h {
            let row = |m: usize| &dy[m * plane + oy * self.output.w..][..self.output.w];
            let (whole, _) = S::as_simd_f32s(row(0));
            let lanes = size_of::<S::f32s>() / size_of::<f32>();
            for v in 0..whole.len() {
                let g: [S::f32s; M] = std::array::from_fn(|m| S::as_simd_f32s(row(m)).0[v]);
                for m in 0..M {
                    bias[m] = s.add_f32s(bias[m], g[m]);
                }
                for t in 0..taps {
                    let at = (oy + t / K) * self.width + t % K + v * lanes;
                    let xv = S::as_simd_f32s(&self.padded[at..at + lanes]).0[0];
                    for m in 0..M {
                        sums[m][t] = s.mul_add_e_f32s(g[m], xv, sums[m][t]);
                    }
                }
            }
            for ox in whole.len() * lanes..self.output.w {
                for m in 0..M {
                    let g = row(m)[ox];
                    tail_bias[m] += g;
                    for t in 0..taps {
                        tail[m][t] += g * self.padded[(oy + t / K) * self.width + t % K + ox];
                    }
                }
            }
        }
        for m in 0..M {
            db[m] += s.reduce_sum_f32s(bias[m]) + tail_bias[m];
            for t in 0..taps {
                dw[m * taps + t] += s.reduce_sum_f32s(sums[m][t]) + tail[m][t];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::conv2d::conv2d_backward;
    use crate::cpu::fast::conv::one_channel::pad_batch;
    use crate::cpu::fast::conv::testing::{ONE_CHANNEL, stride1};
    use crate::cpu::testing::{arches, values};

    /// Against the reference backward (im2col + GEMMs) on [`ONE_CHANNEL`]'s shapes (odd
    /// channel counts: a last block of one channel), on every instruction set the CPU runs,
    /// every output written over NaNs; and [`channel_weight_grad`] likewise, a channel at a
    /// time.
    #[test]
    fn matches_the_reference_on_odd_sizes() {
        for (cout, h, w, kernel, pad) in ONE_CHANNEL {
            let input = Shape::new(1, h, w);
            let output = Shape::new(cout, h + 2 * pad + 1 - kernel, w + 2 * pad + 1 - kernel);
            let conv = stride1(1, cout, kernel, pad, false);
            let batch = 3;
            let x = values(batch * input.len(), 3);
            let wt = values(cout * kernel * kernel, 5);
            let dy = values(batch * output.len(), 11);
            let want = conv2d_backward(&x, &dy, batch, input, output, &conv, &wt, false);
            for arch in arches() {
                let mut dw = vec![f32::NAN; want.dw.len()];
                let mut db = vec![f32::NAN; want.db.len()];
                weight_grad_on(
                    arch,
                    (kernel, pad),
                    &x,
                    &dy,
                    batch,
                    (input, output),
                    (&mut dw, &mut db),
                    &mut Vec::new(),
                );
                // And channel by channel from the padded batch (the fused stem's way), each
                // channel's planes gathered from dy; dw and db added to.
                let mut padded = Vec::new();
                let at = pad_batch(&x, batch, input, pad, &mut padded);
                let (mut by_channel, mut by_channel_b) = (vec![1.0; dw.len()], vec![1.0; cout]);
                let plane = output.h * output.w;
                for o in 0..cout {
                    let planes: Vec<f32> = (0..batch)
                        .flat_map(|n| dy[(n * cout + o) * plane..][..plane].iter().copied())
                        .collect();
                    let taps = kernel * kernel;
                    let dw = &mut by_channel[o * taps..][..taps];
                    channel_weight_grad(
                        arch,
                        (&padded, at),
                        kernel,
                        &planes,
                        dw,
                        &mut by_channel_b[o],
                    );
                }
                by_channel.iter_mut().for_each(|v| *v -= 1.0);
                by_channel_b.iter_mut().for_each(|v| *v -= 1.0);
                for (what, got, want) in [
                    ("dw", &dw, &want.dw),
                    ("db", &db, &want.db),
                    ("channel by channel: dw", &by_channel, &want.dw),
                    ("channel by channel: db", &by_channel_b, &want.db),
                ] {
                    for (i, (g, e)) in got.iter().zip(want).enumerate() {
                        assert!(
                            (g - e).abs() < 1e-4 * (1.0 + e.abs()),
                            "{conv:?} on {arch:?}: {what} [{i}] {g} != {e}"
                        );
                    }
                }
            }
        }
    }
}
