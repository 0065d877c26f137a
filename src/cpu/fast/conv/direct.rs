//! [`ConvMethod::Direct`](crate::cpu::fast::plan::ConvMethod::Direct): for convolutions with a
//! handful of input taps (the 1-channel 3×3 stem has 9), where a GEMM would spend its time
//! unfolding and storing rather than multiplying. Each output row is the bias plus `cin·k·k`
//! shifted rows of the zero-padded input, each times one weight; two rows at a time when a 2×2
//! max pooling is fused, so only the pooled row is ever written.
//!
//! The sum over taps is a chain of dependent multiply-adds, so one output vector at a time is
//! bound by the adder's latency, not its throughput: the AVX-512 kernel keeps [`BLOCK`] output
//! channels' accumulators in flight over the same 16 input pixels (one load, eight FMAs). Other
//! machines, and the columns past the last whole vector, take the portable loop.

use crate::cpu::fast::plan::ConvStep;
use crate::cpu::fast::team::{Out, Part};

/// Output channels computed together.
const BLOCK: usize = 8;
/// Output pixels per vector.
const LANES: usize = 16;

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
                rows_of(
                    step,
                    x,
                    &offs,
                    (o0, m),
                    (oy + r) * wp,
                    &mut rows[r * m * to.w..][..m * to.w],
                );
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
/// (`m × W`), bias included, before ReLU.
fn rows_of(
    step: &ConvStep,
    x: &[f32],
    offs: &[usize],
    (o0, m): (usize, usize),
    row: usize,
    rows: &mut [f32],
) {
    let w = step.to.w;
    let taps = offs.len();
    let weights = &step.weight[o0 * taps..(o0 + m) * taps];
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if m == BLOCK && std::arch::is_x86_feature_detected!("avx512f") {
        let bias: &[f32; BLOCK] = step.bias[o0..o0 + BLOCK].try_into().expect("BLOCK long");
        // Whole vectors only: the last one reads at most W + k − 1 − 1 pixels into the row.
        while done + LANES <= w {
            let last = row + done + LANES - 1 + offs.last().copied().unwrap_or(0);
            assert!(last < x.len());
            // SAFETY: AVX-512F is present (checked above); every load reads
            // x[row + done + offs[t] ..][..LANES], inside x (checked for the largest offset).
            let acc = unsafe { block_avx512(x.as_ptr().add(row + done), offs, weights, bias) };
            for (o, lane) in acc.iter().enumerate() {
                rows[o * w + done..][..LANES].copy_from_slice(lane);
            }
            done += LANES;
        }
    }
    // The portable loop: the rest of the row.
    for o in 0..m {
        let out = &mut rows[o * w + done..(o + 1) * w];
        out.fill(step.bias[o0 + o]);
        for (t, &off) in offs.iter().enumerate() {
            let wt = weights[o * taps + t];
            let src = &x[row + done + off..][..out.len()];
            for (a, s) in out.iter_mut().zip(src) {
                *a += wt * s;
            }
        }
    }
}

/// `BLOCK` output channels × `LANES` pixels: `bias[o] + Σ_t weights[o·taps + t] · x[offs[t] ..]`.
///
/// # Safety
/// AVX-512F must be available, and `x + offs[t] .. + LANES` readable for every tap.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512(
    x: *const f32,
    offs: &[usize],
    weights: &[f32],
    bias: &[f32; BLOCK],
) -> [[f32; LANES]; BLOCK] {
    use std::arch::x86_64::*;
    let taps = offs.len();
    let mut acc = [_mm512_setzero_ps(); BLOCK];
    for (a, b) in acc.iter_mut().zip(bias) {
        *a = _mm512_set1_ps(*b);
    }
    for (t, &off) in offs.iter().enumerate() {
        // SAFETY: the caller's promise.
        let v = unsafe { _mm512_loadu_ps(x.add(off)) };
        for (o, a) in acc.iter_mut().enumerate() {
            *a = _mm512_fmadd_ps(_mm512_set1_ps(weights[o * taps + t]), v, *a);
        }
    }
    let mut out = [[0.0f32; LANES]; BLOCK];
    for (o, a) in out.iter_mut().zip(acc) {
        // SAFETY: `o` holds LANES floats.
        unsafe { _mm512_storeu_ps(o.as_mut_ptr(), a) };
    }
    out
}
