//! A stride-1 convolution of a one-channel input (the network's stem: 3×3, 1 → 32 channels on
//! the full-size input), one output channel at a time over the whole batch.
//!
//! Why: training's fused stem (`batch_norm::stem`) never stores the convolution's output, the
//! largest tensor of a step (32 channels of the input's size a sample); it recomputes a
//! channel's planes into a buffer in cache, forward and backward, from the batch's zero-padded
//! input (a few KB a sample, [`pad_batch`]). Recomputing must give the same bits both times,
//! so both use [`channel_into`], the same operations in the same order.

use super::pad_sample;
use super::stem_grad::runs;
use crate::net::Shape;

/// The most taps (`k·k`) a kernel may have: 3×3.
const MAX_TAPS: usize = 9;

/// The batch's inputs (`batch × input`, one channel) zero-padded by `pad` on every side into
/// `padded` (resized here), a sample every [`PaddedBatch::sample`] values: its padded plane and a
/// vector's worth of zeros after it (kernels read whole vectors).
pub fn pad_batch(
    x: &[f32],
    batch: usize,
    input: Shape,
    pad: usize,
    padded: &mut Vec<f32>,
) -> PaddedBatch {
    assert_eq!(input.c, 1, "one input channel");
    assert_eq!(x.len(), batch * input.len());
    let width = input.w + 2 * pad;
    let plane = (input.h + 2 * pad) * width;
    // 16 lanes: the widest vector (AVX-512's f32 × 16).
    let sample = plane + 16;
    padded.clear();
    padded.resize(batch * sample, 0.0);
    for (src, dst) in x
        .chunks_exact(input.len().max(1))
        .zip(padded.chunks_exact_mut(sample))
    {
        pad_sample(src, (input.h, input.w), pad, plane, dst);
    }
    PaddedBatch {
        width,
        sample,
        pad,
        input,
    }
}

/// Where [`pad_batch`] put the batch.
#[derive(Debug, Clone, Copy)]
pub struct PaddedBatch {
    /// A padded row's length.
    pub width: usize,
    /// Values from one sample's padded plane to the next's.
    pub sample: usize,
    /// The padding on every side.
    pub pad: usize,
    /// The input's shape (one channel).
    pub input: Shape,
}

impl PaddedBatch {
    /// The output's `(h, w)` under a `kernel × kernel` convolution.
    pub fn output(&self, kernel: usize) -> (usize, usize) {
        output_size(self.input, kernel, self.pad)
    }
}

/// The `(h, w)` a stride-1 `kernel × kernel` convolution with padding `pad` makes of `input`.
pub fn output_size(input: Shape, kernel: usize, pad: usize) -> (usize, usize) {
    (
        input.h + 2 * pad + 1 - kernel,
        input.w + 2 * pad + 1 - kernel,
    )
}

/// One output channel of the convolution over the batch: `out` (`batch × oh × ow`, every value
/// written) `= b + Σ_taps w_tap · x_shifted`, the taps summed in order, one fused multiply-add
/// each, on `arch`'s widest vectors. `padded` and `at` are [`pad_batch`]'s; `w` the channel's
/// `k·k` weights.
pub fn channel_into(
    arch: pulp::Arch,
    padded: &[f32],
    at: PaddedBatch,
    kernel: usize,
    (w, b): (&[f32], f32),
    out: &mut [f32],
) {
    assert!(
        runs(at.input.c, kernel, 1, at.pad),
        "not a one-channel stride-1 convolution"
    );
    assert_eq!(w.len(), kernel * kernel);
    let (oh, ow) = at.output(kernel);
    let batch = out.len() / (oh * ow).max(1);
    assert_eq!(out.len(), batch * oh * ow);
    assert!(padded.len() >= batch * at.sample);
    let planes = Planes {
        padded,
        at,
        output: (oh, ow),
        w,
        b,
        out,
    };
    match kernel {
        1 => arch.dispatch(Kernel::<1>(planes)),
        2 => arch.dispatch(Kernel::<2>(planes)),
        3 => arch.dispatch(Kernel::<3>(planes)),
        _ => unreachable!("runs() takes kernels up to 3×3"),
    }
}

/// [`channel_into`]'s arguments.
struct Planes<'a> {
    padded: &'a [f32],
    at: PaddedBatch,
    output: (usize, usize),
    w: &'a [f32],
    b: f32,
    out: &'a mut [f32],
}

/// [`Planes`] for a `K×K` kernel: the size a constant, so the tap loops unroll.
struct Kernel<'a, const K: usize>(Planes<'a>);

impl<const K: usize> pulp::WithSimd for Kernel<'_, K> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, s: S) {
        let Planes {
            padded,
            at,
            output: (oh, ow),
            w,
            b,
            out,
        } = self.0;
        let lanes = size_of::<S::f32s>() / size_of::<f32>();
        let weights: [S::f32s; MAX_TAPS] =
            std::array::from_fn(|t| s.splat_f32s(w.get(t).copied().unwrap_or(0.0)));
        let whole = ow / lanes;
        for (n, plane) in out.chunks_exact_mut((oh * ow).max(1)).enumerate() {
            let src = &padded[n * at.sample..][..at.sample];
            let block = Block {
                s,
                src,
                width: at.width,
                lanes,
                weights: &weights,
                b,
            };
            // `ROWS` rows at a time, then the rows left one by one.
            let mut oy = 0;
            while oy + ROWS <= oh {
                block.rows::<K, ROWS>(oy, whole, &mut plane[oy * ow..][..ROWS * ow], ow);
                oy += ROWS;
            }
            while oy < oh {
                block.rows::<K, 1>(oy, whole, &mut plane[oy * ow..][..ow], ow);
                oy += 1;
            }
            // The columns past the last whole vector, one by one, the taps in the same order.
            for oy in 0..oh {
                for ox in whole * lanes..ow {
                    let mut acc = b;
                    for t in 0..K * K {
                        let x = src[(oy + t / K) * at.width + t % K + ox];
                        acc = w[t].mul_add(x, acc);
                    }
                    plane[oy * ow + ox] = acc;
                }
            }
        }
    }
}

/// Output rows a block takes: each input row's shifted vectors are loaded once for the (up
/// to) `k` output rows they feed, a vector of each row in registers. On 2 cores of an Intel Xeon
/// (AVX-512), one thread, the 32 channels of a 64×64 batch of 32: four rows of one vector took
/// 0.78–0.86 ms, six 0.81–0.85, eight 0.95–1.04, one row of four vectors (every load feeding one
/// output row) 1.20–1.21, four rows of two or four vectors 1.5–2.2 (out of registers).
const ROWS: usize = 4;

/// One sample's sources.
struct Block<'a, S: pulp::Simd> {
    s: S,
    /// The sample's padded plane.
    src: &'a [f32],
    width: usize,
    lanes: usize,
    weights: &'a [S::f32s; MAX_TAPS],
    b: f32,
}

impl<S: pulp::Simd> Block<'_, S> {
    /// `R` output rows from `oy` on (`dst`, rows of `ow`), their first `whole` vectors.
    #[inline(always)]
    fn rows<const K: usize, const R: usize>(
        &self,
        oy: usize,
        whole: usize,
        dst: &mut [f32],
        ow: usize,
    ) {
        // The weights in registers for the rows' vectors.
        let w = *self.weights;
        for v in 0..whole {
            self.vector::<K, R>(&w, oy, v, dst, ow);
        }
    }

    /// Vector `v` of `R` output rows from `oy` on: every output gets `b + Σ_t w_t·x_t`, the taps
    /// `t = ty·K + tx` in order, one fused multiply-add each (an input row's vector goes to the
    /// rows it feeds, each in the order of its own taps).
    #[inline(always)]
    fn vector<const K: usize, const R: usize>(
        &self,
        weights: &[S::f32s; MAX_TAPS],
        oy: usize,
        v: usize,
        dst: &mut [f32],
        ow: usize,
    ) {
        let s = self.s;
        let mut acc = [s.splat_f32s(self.b); R];
        for iy in 0..R + K - 1 {
            for tx in 0..K {
                let at = (oy + iy) * self.width + tx + v * self.lanes;
                let x = S::as_simd_f32s(&self.src[at..at + self.lanes]).0[0];
                // Output row r reads input row iy through tap row iy − r.
                for (r, acc) in acc.iter_mut().enumerate() {
                    if iy >= r && iy - r < K {
                        *acc = s.mul_add_f32s(weights[(iy - r) * K + tx], x, *acc);
                    }
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let row = &mut dst[r * ow + v * self.lanes..][..self.lanes];
            S::as_mut_simd_f32s(row).0[0] = *acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::conv2d::conv2d;
    use crate::cpu::fast::conv::testing::{ONE_CHANNEL, stride1};
    use crate::cpu::testing::{arches, values};

    /// Every channel against the reference convolution (im2col + GEMM) on [`ONE_CHANNEL`]'s
    /// shapes, on every instruction set the CPU runs, every output written over NaNs; and the
    /// same bits twice.
    #[test]
    fn matches_the_reference_on_odd_sizes() {
        for (cout, h, w, kernel, pad) in ONE_CHANNEL {
            let input = Shape::new(1, h, w);
            let conv = stride1(1, cout, kernel, pad, false);
            let batch = 3;
            let x = values(batch * input.len(), 3);
            let wt = values(cout * kernel * kernel, 5);
            let bias = values(cout, 7);
            let output = Shape::new(cout, h + 2 * pad + 1 - kernel, w + 2 * pad + 1 - kernel);
            let want = conv2d(&x, batch, input, output, &conv, &wt, &bias);
            let mut padded = vec![f32::NAN; 3];
            let at = pad_batch(&x, batch, input, pad, &mut padded);
            assert_eq!(at.output(kernel), (output.h, output.w));
            let plane = output.h * output.w;
            for arch in arches() {
                for c in 0..cout {
                    let mut got = vec![f32::NAN; batch * plane];
                    let wc = &wt[c * kernel * kernel..][..kernel * kernel];
                    channel_into(arch, &padded, at, kernel, (wc, bias[c]), &mut got);
                    for n in 0..batch {
                        let want = &want[(n * cout + c) * plane..][..plane];
                        for (i, (g, e)) in got[n * plane..][..plane].iter().zip(want).enumerate() {
                            assert!(
                                (g - e).abs() < 1e-5 * (1.0 + e.abs()),
                                "{conv:?} on {arch:?}: sample {n} channel {c} [{i}] {g} != {e}"
                            );
                        }
                    }
                    let mut again = vec![0.0; got.len()];
                    channel_into(arch, &padded, at, kernel, (wc, bias[c]), &mut again);
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&again), bits(&got), "{conv:?}: recomputed");
                }
            }
        }
    }
}
