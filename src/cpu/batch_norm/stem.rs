//! The network's stem in training, `conv → batch norm → ReLU → 2×2 max pooling`, as one op
//! forward and one backward, where the convolution has one input channel (the depth crop) and
//! its input needs no gradient.
//!
//! Why: the convolution's output (32 channels of the input's size a sample: 16.8 MB at batch 32
//! on the 64×64 network, 67 MB on the 128×128 one) is the largest tensor of a step, and apart
//! ([`pooled`](super::pooled) after the convolution) it was written, read for the statistics,
//! read to normalize and pool, read twice more by the batch norm's backward, its gradient
//! written and read back for the weights' gradient. Its input is a few KB a sample, and a
//! channel's planes cost 9 multiply-adds a value to recompute. Here each channel is one task
//! from the batch's zero-padded input: its planes convolved into a buffer in cache
//! ([`one_channel::channel_into`]), its statistics, then normalized, rectified and pooled
//! forward; backward the same planes convolved again (the same bits), the pooled gradient
//! routed through them, the batch norm's backward ([`ChannelBackward`]) into a second buffer and
//! the channel's weight gradient from it ([`stem_grad::channel_weight_grad`]). Only the pooled
//! output and its gradient go through memory.
//!
//! Measured on 2 cores of an Intel Xeon (AVX-512), batch 32, with and without it alternating:
//! the stem's ops 3.8 against 7.3 ms a 64×64 step, the step 1.05× the samples a second (1.03–1.06×
//! over 5 rounds); a 128×128 step level (the stem's 22.8 against 26.9 ms, within the step's
//! noise: there a channel's three buffers, 2 MB each, overflow a core's L2).

use std::cell::RefCell;

use rayon::prelude::*;

use super::backward::{ChannelBackward, Mask};
use super::forward::ChannelStats;
use super::pooled::{WINDOW, pooled_shape, rectify};
use super::{BatchStats, inv_std};
use crate::cpu::fast::conv::one_channel::{self, PaddedBatch};
use crate::cpu::fast::conv::stem_grad;
use crate::cpu::fast::team::Out;
use crate::cpu::max_pool::{max_pool_backward_plane, max_pool_plane};
use crate::net::Shape;

thread_local! {
    /// The batch's zero-padded input, on the thread that starts the op: taken out while the
    /// channels' tasks read it (the thread may run another op's tasks meanwhile, which then
    /// pads into a buffer of its own) and put back after.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A channel's planes of the convolution's output, sample after sample.
    static CONVOLVED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A channel's gradient at the batch norm's output.
    static ROUTED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A channel's gradient at the convolution's output.
    static GRADIENT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A plane of the rectified batch norm's output.
    static RECTIFIED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The convolution of the stem: its kernel side and padding (stride 1), weights
/// (`cout × 1 × k × k`) and bias (`cout`).
#[derive(Debug, Clone, Copy)]
pub struct StemConv<'a> {
    /// The kernel's side.
    pub kernel: usize,
    /// The zero padding on every side.
    pub pad: usize,
    /// `cout × 1 × k × k` weights.
    pub weight: &'a [f32],
    /// `cout` biases.
    pub bias: &'a [f32],
}

impl StemConv<'_> {
    /// Channel `c`'s planes over the batch into `out`.
    fn channel(&self, arch: pulp::Arch, padded: (&[f32], PaddedBatch), c: usize, out: &mut [f32]) {
        let taps = self.kernel * self.kernel;
        let w = (&self.weight[c * taps..][..taps], self.bias[c]);
        one_channel::channel_into(arch, padded.0, padded.1, self.kernel, w, out);
    }

    /// The convolution's output shape from `input`'s (one channel).
    pub fn output(&self, input: Shape) -> Shape {
        let (h, w) = one_channel::output_size(input, self.kernel, self.pad);
        Shape::new(self.bias.len(), h, w)
    }

    fn check(&self, input: Shape) {
        assert!(
            stem_grad::runs(input.c, self.kernel, 1, self.pad),
            "the fused stem takes one-channel stride-1 convolutions up to 3×3"
        );
        assert_eq!(
            self.weight.len(),
            self.bias.len() * self.kernel * self.kernel,
            "the stem convolution's weights"
        );
    }
}

/// `y = maxpool₂ₓ₂(relu(batch_norm(conv(x))))` with the batch's statistics: `x` is
/// `batch × input` (one channel), `y` `batch × pooled_shape(conv.output(input))`, every element
/// written; returns the batch norm's statistics.
pub fn conv_batch_norm_relu_pool_into(
    x: &[f32],
    batch: usize,
    input: Shape,
    conv: StemConv<'_>,
    (gamma, beta): (&[f32], &[f32]),
    y: &mut [f32],
) -> BatchStats {
    conv.check(input);
    let shape = conv.output(input);
    let pooled = pooled_shape(shape);
    let (plane, out_plane) = (shape.h * shape.w, pooled.h * pooled.w);
    assert!(gamma.len() == shape.c && beta.len() == shape.c);
    assert_eq!(y.len(), batch * pooled.len());
    let arch = pulp::Arch::new();
    let out = Out::new(y);
    let mut buffer = PADDED.take();
    let at = one_channel::pad_batch(x, batch, input, conv.pad, &mut buffer);
    let padded = (buffer.as_slice(), at);
    let (mean, var) = (0..shape.c)
        .into_par_iter()
        .map(|c| {
            CONVOLVED.with_borrow_mut(|v| {
                v.resize(batch * plane, 0.0);
                conv.channel(arch, padded, c, v);
                let planes = (0..batch).map(|n| n * plane);
                let (mean, var) = arch.dispatch(ChannelStats {
                    x: v,
                    planes,
                    plane,
                });
                let terms = (mean, gamma[c] * inv_std(var), beta[c]);
                if out_plane > 0 {
                    RECTIFIED.with_borrow_mut(|t| {
                        for n in 0..batch {
                            rectify(arch, &v[n * plane..][..plane], terms, t);
                            // SAFETY: plane (n, c) of the output is written by this task
                            // alone.
                            let dst = unsafe {
                                out.slice(
                                    (n * shape.c + c) * out_plane
                                        ..(n * shape.c + c + 1) * out_plane,
                                )
                            };
                            max_pool_plane(t, dst, shape, pooled, WINDOW);
                        }
                    });
                }
                (mean, var)
            })
        })
        .unzip();
    PADDED.set(buffer);
    BatchStats { mean, var }
}

/// Backward of [`conv_batch_norm_relu_pool_into`] from `dy` (the pooled output's gradient):
/// every element of the convolution's weight and bias gradients (`dw`, `db`) and of the batch
/// norm's (`dγ`, `dβ`). No gradient for `x`.
#[allow(clippy::too_many_arguments)] // the tensors, the geometry, both layers' parameters, the statistics and the four outputs
pub fn conv_batch_norm_relu_pool_backward_into(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    input: Shape,
    conv: StemConv<'_>,
    (gamma, beta): (&[f32], &[f32]),
    stats: &BatchStats,
    (dw, db, dgamma, dbeta): (&mut [f32], &mut [f32], &mut [f32], &mut [f32]),
) {
    conv.check(input);
    let shape = conv.output(input);
    let pooled = pooled_shape(shape);
    let (plane, out_plane) = (shape.h * shape.w, pooled.h * pooled.w);
    let taps = conv.kernel * conv.kernel;
    assert!(gamma.len() == shape.c && beta.len() == shape.c);
    assert_eq!(dy.len(), batch * pooled.len());
    assert!(dw.len() == shape.c * taps && db.len() == shape.c);
    assert!(dgamma.len() == shape.c && dbeta.len() == shape.c);
    let arch = pulp::Arch::new();
    let mut buffer = PADDED.take();
    let at = one_channel::pad_batch(x, batch, input, conv.pad, &mut buffer);
    let padded = (buffer.as_slice(), at);
    dgamma
        .par_iter_mut()
        .zip(dbeta.par_iter_mut())
        .zip(dw.par_chunks_mut(taps))
        .zip(db.par_iter_mut())
        .enumerate()
        .for_each(|(c, (((dg, dbeta), dw), db))| {
            let terms = (stats.mean[c], gamma[c] * stats.inv_std(c), beta[c]);
            CONVOLVED.with_borrow_mut(|v| {
                v.resize(batch * plane, 0.0);
                conv.channel(arch, padded, c, v);
                ROUTED.with_borrow_mut(|routed| {
                    routed.resize(batch * plane, 0.0);
                    RECTIFIED.with_borrow_mut(|t| {
                        for (n, dst) in routed.chunks_exact_mut(plane.max(1)).enumerate() {
                            rectify(arch, &v[n * plane..][..plane], terms, t);
                            let g = &dy[(n * shape.c + c) * out_plane..][..out_plane];
                            max_pool_backward_plane(t, g, dst, shape, pooled, WINDOW);
                        }
                    });
                    GRADIENT.with_borrow_mut(|grad| {
                        grad.resize(batch * plane, 0.0);
                        (*dg, *dbeta) = arch.dispatch(ChannelBackward {
                            x: v,
                            dy: routed,
                            out: Out::new(grad),
                            planes: (0..batch).map(|n| (n * plane, n * plane)),
                            plane,
                            gamma: gamma[c],
                            mask: Mask::new(c, gamma, Some(beta), stats),
                            add: false,
                        });
                        dw.fill(0.0);
                        *db = 0.0;
                        stem_grad::channel_weight_grad(arch, padded, conv.kernel, grad, dw, db);
                    });
                });
            });
        });
    PADDED.set(buffer);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::Dx;
    use crate::cpu::batch_norm::{batch_norm_relu_pool_backward_into, batch_norm_relu_pool_into};
    use crate::cpu::conv2d::{conv2d, conv2d_backward};
    use crate::cpu::fast::conv::testing::stride1;
    use crate::cpu::testing::values;

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    fn close(what: &str, got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (g, e)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - e).abs() <= tol * (1.0 + e.abs()),
                "{what} [{i}]: {g} != {e}"
            );
        }
    }

    /// Against the ops apart: the convolution's channels as [`one_channel::channel_into`]
    /// computes them, then [`batch_norm_relu_pool_into`] and its backward, bit for bit (the
    /// pooled output, the statistics, `dγ`, `dβ`); the weights' gradients against the
    /// reference's backward of the convolution from that `dx`, and the output against the
    /// reference convolution's. Planes of odd and even sides (a last row and column no window
    /// covers), narrower and wider than a vector, 3×3 and 2×2 kernels, padding 0 to 2, one
    /// channel and several, a negative γ; every output written over NaNs.
    #[test]
    fn the_fused_stem_is_the_ops_apart() {
        for (cout, h, w, kernel, pad, batch) in [
            (3, 7, 9, 3, 1, 3),
            (2, 2, 2, 3, 1, 5),
            (4, 9, 37, 3, 1, 2),
            (1, 6, 20, 2, 0, 3),
            (5, 5, 18, 3, 2, 2),
        ] {
            let input = Shape::new(1, h, w);
            let x = values(batch * input.len(), 3);
            let wt = values(cout * kernel * kernel, 5);
            let bias = values(cout, 7);
            let mut gamma = values(cout, 9);
            gamma[0] = -gamma[0].abs() - 0.5;
            let beta = values(cout, 11);
            let conv = StemConv {
                kernel,
                pad,
                weight: &wt,
                bias: &bias,
            };
            let shape = conv.output(input);
            let pooled = pooled_shape(shape);
            let plane = shape.h * shape.w;
            let dy = values(batch * pooled.len(), 13);
            let what = format!("{cout}×{h}×{w}, {kernel}×{kernel} pad {pad}, batch {batch}");

            // The convolution apart, channel by channel into the batch's layout.
            let mut padded = Vec::new();
            let at = one_channel::pad_batch(&x, batch, input, pad, &mut padded);
            let mut convolved = vec![0.0; batch * shape.len()];
            let mut channel = vec![0.0; batch * plane];
            for c in 0..cout {
                conv.channel(pulp::Arch::new(), (&padded, at), c, &mut channel);
                for n in 0..batch {
                    convolved[(n * cout + c) * plane..][..plane]
                        .copy_from_slice(&channel[n * plane..][..plane]);
                }
            }
            let reference = stride1(1, cout, kernel, pad, false);
            let want_conv = conv2d(&x, batch, input, shape, &reference, &wt, &bias);
            close(
                &format!("{what}: convolution"),
                &convolved,
                &want_conv,
                1e-5,
            );

            let mut want_y = vec![0.0; dy.len()];
            let want_stats =
                batch_norm_relu_pool_into(&convolved, batch, shape, (&gamma, &beta), &mut want_y);
            let mut got_y = vec![f32::NAN; dy.len()];
            let stats =
                conv_batch_norm_relu_pool_into(&x, batch, input, conv, (&gamma, &beta), &mut got_y);
            assert_eq!(stats, want_stats, "{what}: statistics");
            assert_eq!(bits(&got_y), bits(&want_y), "{what}: forward");

            let mut dx = vec![0.0; convolved.len()];
            let (mut want_dg, mut want_db) = (vec![0.0; cout], vec![0.0; cout]);
            batch_norm_relu_pool_backward_into(
                &convolved,
                &dy,
                batch,
                shape,
                (&gamma, &beta),
                &stats,
                (Dx::Write(&mut dx), &mut want_dg, &mut want_db),
            );
            let want = conv2d_backward(&x, &dx, batch, input, shape, &reference, &wt, false);
            let (mut dw, mut db) = (vec![f32::NAN; wt.len()], vec![f32::NAN; cout]);
            let (mut dg, mut dbeta) = (vec![f32::NAN; cout], vec![f32::NAN; cout]);
            conv_batch_norm_relu_pool_backward_into(
                &x,
                &dy,
                batch,
                input,
                conv,
                (&gamma, &beta),
                &stats,
                (&mut dw, &mut db, &mut dg, &mut dbeta),
            );
            assert_eq!(bits(&dg), bits(&want_dg), "{what}: dγ");
            assert_eq!(bits(&dbeta), bits(&want_db), "{what}: dβ");
            close(&format!("{what}: dw"), &dw, &want.dw, 1e-4);
            close(&format!("{what}: db"), &db, &want.db, 1e-4);
        }
    }
}
