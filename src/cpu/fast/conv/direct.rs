//! [`ConvMethod::Direct`](crate::cpu::fast::plan::ConvMethod::Direct): for convolutions with a
//! handful of input taps (the 1-channel 3×3 stem has 9), where a GEMM would spend its time
//! unfolding and storing rather than multiplying. Each output row is the bias plus `cin·k·k`
//! shifted rows of the zero-padded input, each times one weight; two rows at a time when a 2×2
//! max pooling is fused, so only the pooled row is ever written.
//!
//! Where the plan picks [`ConvKernel::Blocked`](super::ConvKernel::Blocked) the rows are computed by the register-blocked kernel
//! ([`blocked`](super::blocked): with AVX-512, 8 channels × 48 pixels in registers over every tap, the taps
//! being offsets into the padded input); elsewhere by a portable loop.

use super::blocked::{self, Epilogue};
use crate::cpu::fast::plan::{ConvStep, ConvWeights};
use crate::cpu::fast::team::{Out, Part};

/// Output channels computed together: the blocked kernel's register block, since its calls
/// must start at a multiple of it.
const BLOCK: usize = blocked::MR;

/// This thread's share of `step`: `x` is the padded input (`cin × B × Hp × Wp`), `y` the output
/// (pooled when the step says so).
pub fn conv(step: &ConvStep, batch: usize, x: &[f32], acc: Option<&[f32]>, y: Out, part: Part) {
    assert!(acc.is_none(), "direct convolutions take no fused sum");
    let (from, to, k) = (step.from, step.to, step.kernel);
    let (hp, wp) = (from.h + 2 * step.pad, from.w + 2 * step.pad);
    assert_eq!(x.len(), from.c * batch * hp * wp);
    let taps = from.c * k * k;
    let out = step.output_shape();
    let out_plane = out.h * out.w;
    let blocks = to.c.div_ceil(BLOCK);
    let work = 2 * to.c * batch * to.h * to.w * taps;
    // Offset of each tap from the top-left input pixel of an output pixel, per sample.
    let offsets = |b: usize| -> Vec<usize> {
        (0..taps)
            .map(|t| {
                let (ic, ky, kx) = (t / (k * k), t / k % k, t % k);
                (ic * batch + b) * hp * wp + ky * wp + kx
            })
            .collect()
    };
    // Offset of each tap from the top-left input pixel, within one channel and sample (the
    // blocked kernel's form: channels are rows of `x` apart).
    let tap_offsets = super::tap_offsets(k, wp);
    let mut rows = vec![0.0f32; 2 * BLOCK * to.w];
    let mut column = vec![0.0f32; to.w];
    for item in part.items(blocks * batch, work) {
        let (blk, b) = (item / batch, item % batch);
        let (o0, m) = (blk * BLOCK, BLOCK.min(to.c - blk * BLOCK));
        let offs = offsets(b);
        let pair = if step.pool { 2 } else { 1 };
        for oy in (0..to.h).step_by(pair) {
            // rows[(r·m + o)·W ..]: output row oy + r of channel o0 + o.
            for r in 0..pair {
                let out = &mut rows[r * m * to.w..][..m * to.w];
                match &step.weights {
                    // SAFETY: the plan packs only where the kernel runs; channel c's taps read
                    // x[c·B·Hp·Wp + b·Hp·Wp + (oy + r + ky)·Wp + kx + j] for j < W, inside the
                    // padded plane; `out` is m × W.
                    ConvWeights::Packed(packed) => unsafe {
                        blocked::conv(
                            packed,
                            (o0, m),
                            x.as_ptr().add((b * hp + oy + r) * wp),
                            batch * hp * wp,
                            &tap_offsets,
                            to.w,
                            out.as_mut_ptr(),
                            to.w,
                            Epilogue {
                                bias: Some(&step.bias),
                                add: None,
                                relu: false,
                            },
                        )
                    },
                    ConvWeights::Plain(weight) => {
                        rows_of(step, weight, x, &offs, (o0, m), (oy + r) * wp, out)
                    }
                }
            }
            for o in 0..m {
                // SAFETY: plane (o0 + o, b) belongs to this item alone.
                let plane = (o0 + o) * batch + b;
                let dst = unsafe { y.slice(plane * out_plane..(plane + 1) * out_plane) };
                let r0 = &rows[o * to.w..][..to.w];
                if step.pool {
                    // Down the columns first (vectorizes), then along the row; ReLU commutes
                    // with max, so it is applied to the pooled row only.
                    let r1 = &rows[(m + o) * to.w..][..to.w];
                    for ((c, a), b) in column.iter_mut().zip(r0).zip(r1) {
                        *c = a.max(*b);
                    }
                    let row = &mut dst[(oy / 2) * out.w..][..out.w];
                    for (d, p) in row.iter_mut().zip(column.chunks_exact(2)) {
                        let v = p[0].max(p[1]);
                        *d = if step.relu { v.max(0.0) } else { v };
                    }
                } else {
                    dst[oy * out.w..][..out.w].copy_from_slice(r0);
                    if step.relu {
                        dst[oy * out.w..][..out.w]
                            .iter_mut()
                            .for_each(|v| *v = v.max(0.0));
                    }
                }
            }
        }
    }
}

/// One output row (starting at padded offset `row`) of channels `o0..o0+m` into `rows`
/// (`m × W`), bias included, before ReLU: the portable loop.
fn rows_of(
    step: &ConvStep,
    weight: &[f32],
    x: &[f32],
    offs: &[usize],
    (o0, m): (usize, usize),
    row: usize,
    rows: &mut [f32],
) {
    let w = step.to.w;
    let taps = offs.len();
    let weights = &weight[o0 * taps..(o0 + m) * taps];
    for o in 0..m {
        let out = &mut rows[o * w..(o + 1) * w];
        out.fill(step.bias[o0 + o]);
        for (t, &off) in offs.iter().enumerate() {
            let wt = weights[o * taps + t];
            let src = &x[row + off..][..out.len()];
            for (a, s) in out.iter_mut().zip(src) {
                *a += wt * s;
            }
        }
    }
}
