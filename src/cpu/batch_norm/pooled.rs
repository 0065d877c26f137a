//! A batch norm in training mode, the ReLU after it and a 2×2, stride-2 max pooling after that,
//! as one op forward and one backward: the stem's `conv → batch norm → ReLU → pool`, whose
//! full-size tensors (32 channels of the input's size) are the largest of a training step.
//!
//! Why: apart, the three wrote the batch norm's rectified output (kept for the pooling's
//! backward), read it back to pool, wrote the pooling's full-size gradient and read it back for
//! the batch norm's backward. Here the forward normalizes, rectifies and pools a plane at a time
//! in cache, storing only the pooled output; the backward recomputes a plane's rectified output
//! from the batch norm's input, routes the pooled gradient through it in cache, and hands the
//! channel's gradient to the batch norm's backward ([`ChannelBackward`]) from a buffer in L2.
//! Both give the same bits as the three ops apart: the same expressions on the same values.
//!
//! Measured on 2 cores of a Zen 4 (fused and apart alternating in one process, batch 32): the
//! stem's and the head's three ops 5.4–6.2 against 6.7–8.0 ms a 64×64 step, the step 0.985× the
//! time; a 128×128 step 0.94×. The backward gains least (the stem's 2.6–3.2 against 3.5–3.6 ms):
//! a channel's input and routed gradient, 512 KB each at 64×64, overflow a core's L2 between the
//! batch norm's two passes, as the two ops' did apart. Routing each plane again in the second
//! pass instead of keeping the routed gradient (the channel's input alone then fits) was slower:
//! the stem's backward 2.94–3.52 against 2.59–3.33 ms, the head's 1.16–1.49 against 0.88–1.07.

use std::cell::RefCell;

use rayon::prelude::*;

use super::backward::{ChannelBackward, Mask, by_channel};
use super::forward::batch_stats;
use super::{BatchStats, normalize};
use crate::cpu::Dx;
use crate::cpu::max_pool::{max_pool_backward_plane, max_pool_plane};
use crate::net::Shape;

/// The pooling's window: 2×2, stride 2.
pub(super) const WINDOW: (usize, usize) = (2, 2);

thread_local! {
    /// A plane of the rectified batch norm's output.
    static RECTIFIED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A channel's gradient at the batch norm's output, plane after plane.
    static ROUTED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The shape `shape` pools to.
pub fn pooled_shape(shape: Shape) -> Shape {
    Shape::new(shape.c, shape.h / 2, shape.w / 2)
}

/// `y = maxpool₂ₓ₂(relu(batch_norm(x)))` with the batch's statistics (`x` is `batch × shape`,
/// `y` `batch × pooled_shape(shape)`, every element written); returns the statistics.
pub fn batch_norm_relu_pool_into(
    x: &[f32],
    batch: usize,
    shape: Shape,
    (gamma, beta): (&[f32], &[f32]),
    y: &mut [f32],
) -> BatchStats {
    let pooled = pooled_shape(shape);
    let (plane, out_plane) = (shape.h * shape.w, pooled.h * pooled.w);
    assert_eq!(x.len(), batch * shape.len());
    assert_eq!(y.len(), batch * pooled.len());
    let arch = pulp::Arch::new();
    let stats = batch_stats(arch, x, batch, shape);
    if out_plane == 0 {
        return stats;
    }
    let terms: Vec<(f32, f32, f32)> = (0..shape.c)
        .map(|c| (stats.mean[c], gamma[c] * stats.inv_std(c), beta[c]))
        .collect();
    y.par_chunks_mut(out_plane)
        .zip(x.par_chunks(plane))
        .enumerate()
        .for_each(|(i, (y, x))| {
            let (mean, scale, beta) = terms[i % shape.c];
            RECTIFIED.with_borrow_mut(|t| {
                rectify(arch, x, (mean, scale, beta), t);
                max_pool_plane(t, y, shape, pooled, WINDOW);
            });
        });
    stats
}

/// Backward of [`batch_norm_relu_pool_into`]: from `dy` (`batch × pooled_shape(shape)`), the
/// input's gradient `dx` (written or added to, [`Dx`]) and every element of `dγ` and `dβ`.
/// Each channel is one task: its planes' gradients at the batch norm's output into a buffer,
/// then the batch norm's backward (with its ReLU) from it.
#[allow(clippy::too_many_arguments)] // the two tensors, the geometry, the parameters, the statistics and the three outputs
pub fn batch_norm_relu_pool_backward_into(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    shape: Shape,
    (gamma, beta): (&[f32], &[f32]),
    stats: &BatchStats,
    grads: (Dx<'_>, &mut [f32], &mut [f32]),
) {
    let pooled = pooled_shape(shape);
    let (plane, out_plane) = (shape.h * shape.w, pooled.h * pooled.w);
    assert_eq!(x.len(), batch * shape.len());
    assert_eq!(dy.len(), batch * pooled.len());
    assert!(gamma.len() == shape.c && beta.len() == shape.c);
    let arch = pulp::Arch::new();
    let at = move |n: usize, c: usize| (n * shape.c + c) * plane;
    by_channel(grads, x.len(), |c, out, add| {
        let terms = (stats.mean[c], gamma[c] * stats.inv_std(c), beta[c]);
        ROUTED.with_borrow_mut(|routed| {
            routed.resize(batch * plane, 0.0);
            RECTIFIED.with_borrow_mut(|t| {
                for (n, dst) in routed.chunks_exact_mut(plane.max(1)).enumerate() {
                    rectify(arch, &x[at(n, c)..][..plane], terms, t);
                    let g = &dy[(n * shape.c + c) * out_plane..][..out_plane];
                    max_pool_backward_plane(t, g, dst, shape, pooled, WINDOW);
                }
            });
            arch.dispatch(ChannelBackward {
                x,
                dy: routed,
                out,
                planes: (0..batch).map(|n| (at(n, c), n * plane)),
                plane,
                gamma: gamma[c],
                mask: Mask::new(c, gamma, Some(beta), stats),
                add,
            })
        })
    });
}

/// `t = relu(normalize(x))` over a plane, as the batch norm's forward computes it.
pub(super) fn rectify(
    arch: pulp::Arch,
    x: &[f32],
    (mean, scale, beta): (f32, f32, f32),
    t: &mut Vec<f32>,
) {
    t.resize(x.len(), 0.0);
    arch.dispatch(|| {
        for (t, &v) in t.iter_mut().zip(x) {
            *t = normalize(v, mean, scale, beta).max(0.0);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::batch_norm::{batch_norm_backward_into, batch_norm_train_into};
    use crate::cpu::max_pool::{max_pool_backward_into, max_pool_into};
    use crate::cpu::testing::values;

    fn dx(d: &mut [f32], add: bool) -> Dx<'_> {
        if add { Dx::Add(d) } else { Dx::Write(d) }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    /// Against the three ops apart, bit for bit: planes of odd and even sides (a last row and
    /// column no window covers), 2×2 planes, one channel; `dx` written over NaNs
    /// and added to; negative γ (the ReLU then passes where the input is low).
    #[test]
    fn the_fused_op_is_the_three_ops_apart() {
        for (c, h, w, batch) in [(3, 7, 9, 3), (2, 2, 2, 5), (4, 8, 6, 2), (1, 3, 5, 2)] {
            let shape = Shape::new(c, h, w);
            let pooled = pooled_shape(shape);
            let x = values(batch * shape.len(), 3);
            let mut gamma = values(c, 5);
            gamma[0] = -gamma[0].abs() - 0.5;
            let beta = values(c, 7);
            let dy = values(batch * pooled.len(), 9);

            let mut rectified = vec![0.0; x.len()];
            let want_stats =
                batch_norm_train_into(&x, batch, shape, (&gamma, &beta), true, &mut rectified);
            let mut want_y = vec![0.0; dy.len()];
            max_pool_into(&rectified, shape, pooled, 2, 2, &mut want_y);
            let mut got_y = vec![f32::NAN; dy.len()];
            let stats = batch_norm_relu_pool_into(&x, batch, shape, (&gamma, &beta), &mut got_y);
            assert_eq!(stats, want_stats, "{shape:?}");
            assert_eq!(bits(&got_y), bits(&want_y), "{shape:?}: forward");

            let mut routed = vec![0.0; x.len()];
            max_pool_backward_into(&rectified, &dy, shape, pooled, 2, 2, &mut routed);
            for add in [false, true] {
                let before = values(x.len(), 11);
                let start = |v: &[f32]| {
                    if add {
                        v.to_vec()
                    } else {
                        vec![f32::NAN; v.len()]
                    }
                };
                let (mut want_dx, mut got_dx) = (start(&before), start(&before));
                let (mut want_dg, mut want_db) = (vec![0.0; c], vec![0.0; c]);
                let (mut got_dg, mut got_db) = (vec![f32::NAN; c], vec![f32::NAN; c]);
                batch_norm_backward_into(
                    &x,
                    &routed,
                    batch,
                    shape,
                    (&gamma, Some(&beta)),
                    &stats,
                    (dx(&mut want_dx, add), &mut want_dg, &mut want_db),
                );
                batch_norm_relu_pool_backward_into(
                    &x,
                    &dy,
                    batch,
                    shape,
                    (&gamma, &beta),
                    &stats,
                    (dx(&mut got_dx, add), &mut got_dg, &mut got_db),
                );
                assert_eq!(bits(&got_dx), bits(&want_dx), "{shape:?} add {add}: dx");
                assert_eq!(bits(&got_dg), bits(&want_dg), "{shape:?}: dγ");
                assert_eq!(bits(&got_db), bits(&want_db), "{shape:?}: dβ");
            }
        }
    }
}
