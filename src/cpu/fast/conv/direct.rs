//! [`ConvMethod::Direct`](crate::cpu::fast::plan::ConvMethod::Direct): for convolutions with a
//! handful of input taps (the 1-channel 3×3 stem has 9), where a GEMM would spend its time
//! unfolding and storing rather than multiplying. Each output row is the bias plus `cin·k·k`
//! shifted rows of the zero-padded input, each times one weight; two rows at a time when a 2×2
//! max pooling is fused, so only the pooled row is ever written.
//!
//! Where the plan picks [`ConvKernel::Blocked`](super::ConvKernel::Blocked) the rows are
//! computed by the register-blocked kernel ([`blocked`](super::blocked): with AVX-512, 8
//! channels × 48 pixels in registers over every tap, the taps being offsets into the padded
//! input); elsewhere by an AVX2+FMA loop of 8 channels × 8 pixels where the CPU has it (the
//! stem 1.5–1.6× as fast as the portable loop on a Zen 3), else by the portable loop.

use super::blocked::{self, Epilogue, Operands};
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
                            Operands {
                                x: x.as_ptr().add((b * hp + oy + r) * wp),
                                x_rs: batch * hp * wp,
                                offsets: &tap_offsets,
                                width: to.w,
                                dst: out.as_mut_ptr(),
                                dst_rs: to.w,
                                epilogue: Epilogue {
                                    bias: Some(&step.bias),
                                    add: None,
                                    relu: false,
                                },
                            },
                        )
                    },
                    ConvWeights::Plain(weight) => {
                        let taps = offs.len();
                        let (bias, weights) =
                            (&step.bias[o0..o0 + m], &weight[o0 * taps..(o0 + m) * taps]);
                        rows_of(bias, weights, x, &offs, (oy + r) * wp, out)
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

/// One output row (starting at padded offset `row` of `x`) of `m = bias.len()` channels into
/// `rows` (`m × W`), bias included, before ReLU; `weights` is `m × taps`, one per offset in
/// `offs`. On AVX2+FMA where the CPU has it, else the portable loop.
fn rows_of(bias: &[f32], weights: &[f32], x: &[f32], offs: &[usize], row: usize, rows: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA are present.
        unsafe { rows_of_avx2(bias, weights, x, offs, row, rows) };
        return;
    }
    rows_of_portable(bias, weights, x, offs, row, rows);
}

/// [`rows_of`] as a portable loop: each tap's shifted input row, times its weight, added to
/// the output row in turn.
fn rows_of_portable(
    bias: &[f32],
    weights: &[f32],
    x: &[f32],
    offs: &[usize],
    row: usize,
    rows: &mut [f32],
) {
    let (m, taps) = (bias.len(), offs.len());
    assert_eq!(weights.len(), m * taps);
    let w = rows.len() / m;
    for o in 0..m {
        let out = &mut rows[o * w..(o + 1) * w];
        out.fill(bias[o]);
        for (t, &off) in offs.iter().enumerate() {
            let wt = weights[o * taps + t];
            let src = &x[row + off..][..out.len()];
            for (a, s) in out.iter_mut().zip(src) {
                *a += wt * s;
            }
        }
    }
}

/// [`rows_of`] on AVX2+FMA: 8 columns × all [`BLOCK`] channels in registers over every tap
/// (one input vector loaded per tap, each channel's weight broadcast into one FMA), stored
/// once. The portable loop, which the crate's baseline target compiles to SSE2 without FMA,
/// reads and writes the output row once per tap and ran the 1-channel stem at 15 GFLOP/s a
/// core on a Zen 3.
///
/// # Safety
/// AVX2 and FMA must be available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_of_avx2(
    bias: &[f32],
    weights: &[f32],
    x: &[f32],
    offs: &[usize],
    row: usize,
    rows: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (m, taps) = (bias.len(), offs.len());
    const MAX_TAPS: usize = super::DIRECT_MAX_TAPS;
    assert!(m <= BLOCK && taps <= MAX_TAPS && weights.len() == m * taps);
    let w = rows.len() / m;
    // Tap-major, zero past `m`, so every block computes all BLOCK channels.
    let mut wt = [0.0f32; BLOCK * MAX_TAPS];
    for o in 0..m {
        for t in 0..taps {
            wt[t * BLOCK + o] = weights[o * taps + t];
        }
    }
    let mut b = [0.0f32; BLOCK];
    b[..m].copy_from_slice(bias);
    let whole = w / 8 * 8;
    for j in (0..whole).step_by(8) {
        let mut acc: [__m256; BLOCK] = std::array::from_fn(|o| _mm256_set1_ps(b[o]));
        for (t, &off) in offs.iter().enumerate() {
            let src = &x[row + off + j..][..8];
            // SAFETY: `src` holds 8 floats.
            let xv = unsafe { _mm256_loadu_ps(src.as_ptr()) };
            for (o, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_ps(_mm256_set1_ps(wt[t * BLOCK + o]), xv, *acc);
            }
        }
        for (o, acc) in acc.iter().enumerate().take(m) {
            let dst = &mut rows[o * w + j..][..8];
            // SAFETY: `dst` holds 8 floats.
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *acc) };
        }
    }
    // The last columns, fewer than a vector, one by one.
    for o in 0..m {
        for j in whole..w {
            let mut s = bias[o];
            for (t, &off) in offs.iter().enumerate() {
                s = weights[o * taps + t].mul_add(x[row + off + j], s);
            }
            rows[o * w + j] = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both forms against a plain f64 loop on odd sizes: rows narrower than a vector, and not
    /// a multiple of it; fewer channels than a block; 1, 9 and 27 taps at scattered offsets.
    #[test]
    fn rows_match_a_plain_loop_on_odd_sizes() {
        let mut seed = 5u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (m, taps, w, row) in [
            (1, 1, 1, 0),
            (8, 9, 128, 3),
            (3, 9, 13, 0),
            (8, 27, 37, 5),
            (5, 4, 7, 1),
        ] {
            let offs: Vec<usize> = (0..taps).map(|t| t * 7 % 23 + t / 3).collect();
            let len = row + offs.iter().max().unwrap() + w;
            let x: Vec<f32> = (0..len).map(|_| next()).collect();
            let weights: Vec<f32> = (0..m * taps).map(|_| next()).collect();
            let bias: Vec<f32> = (0..m).map(|_| next()).collect();
            let mut got = vec![f32::NAN; m * w];
            rows_of(&bias, &weights, &x, &offs, row, &mut got);
            let mut portable = vec![f32::NAN; m * w];
            rows_of_portable(&bias, &weights, &x, &offs, row, &mut portable);
            for o in 0..m {
                for j in 0..w {
                    let mut s = bias[o] as f64;
                    for (t, &off) in offs.iter().enumerate() {
                        s += weights[o * taps + t] as f64 * x[row + off + j] as f64;
                    }
                    for (what, v) in [("dispatched", &got), ("portable", &portable)] {
                        let g = v[o * w + j] as f64;
                        assert!(
                            (g - s).abs() < 1e-5,
                            "{what}: m {m} taps {taps} w {w}: [{o}][{j}] {g} != {s}"
                        );
                    }
                }
            }
        }
    }
}
