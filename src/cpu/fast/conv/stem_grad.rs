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

/// Whether [`weight_grad`] takes a convolution: one input channel, stride 1, a kernel of at
/// most 3×3 and padding below its size.
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
        let Channel {
            padded,
            at,
            kernel,
            dy,
            dw,
            db,
        } = self;
        let (oh, ow) = at.output(kernel);
        let plane = oh * ow;
        let mut bias = [*db];
        for (n, dy) in dy.chunks_exact(plane.max(1)).enumerate() {
            let rows = Rows {
                simd,
                padded: &padded[n * at.sample..][..at.sample],
                width: at.width,
                output: Shape::new(1, oh, ow),
            };
            match kernel {
                1 => rows.channels::<1, 1>(dy, dw, &mut bias),
                2 => rows.channels::<1, 2>(dy, dw, &mut bias),
                3 => rows.channels::<1, 3>(dy, dw, &mut bias),
                _ => unreachable!("runs() takes kernels up to 3×3"),
            }
        }
        *db = bias[0];
    }
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
    use crate::cpu::fast::conv::testing::stride1;
    use crate::cpu::testing::{arches, values};

    /// Against the reference backward (im2col + GEMMs) on planes narrower and wider than a
    /// vector and not multiples of one, odd channel counts (a last block of one channel),
    /// 3×3, 2×2 and 1×1 kernels with padding 0 to 2, on every instruction set the CPU runs,
    /// every output written over NaNs.
    #[test]
    fn matches_the_reference_on_odd_sizes() {
        for (cout, h, w, kernel, pad) in [
            (5, 7, 9, 3, 1),
            (4, 3, 37, 3, 0),
            (3, 11, 64, 3, 1),
            (2, 6, 23, 2, 1),
            (7, 5, 18, 1, 0),
            (1, 9, 33, 3, 2),
        ] {
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
                for (what, got, want) in [("dw", &dw, &want.dw), ("db", &db, &want.db)] {
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
