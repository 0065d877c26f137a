//! [`ConvMethod::Direct`](crate::cpu::fast::plan::ConvMethod::Direct): for convolutions with a
//! handful of input taps (the 1-channel 3×3 stem has 9), where a GEMM would spend its time
//! unfolding and storing rather than multiplying. Each output row is the bias plus `cin·k·k`
//! shifted rows of the zero-padded input, each times one weight; two rows at a time when a 2×2
//! max pooling is fused, so only the pooled row is ever written.
//!
//! Where the plan picks [`ConvKernel::Blocked`](super::ConvKernel::Blocked) the rows are
//! computed by the register-blocked kernel ([`blocked`](super::blocked): with AVX-512, 8
//! channels × 48 pixels in registers over every tap, the taps being offsets into the padded
//! input); elsewhere by an AVX2+FMA loop of 8 channels × 8 pixels where the CPU has it, which
//! pools in registers when a pooling is fused, else by the portable loop.

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
        #[cfg(target_arch = "x86_64")]
        if let ConvWeights::Plain(weight) = &step.weights
            && step.pool
            && avx2()
        {
            let taps = offs.len();
            let block = TapMajor::new(&step.bias[o0..o0 + m], &weight[o0 * taps..(o0 + m) * taps]);
            let plane = o0 * batch + b;
            for oy in (0..to.h - to.h % 2).step_by(2) {
                // SAFETY: AVX2 and FMA are present; the pooled row oy / 2 of planes
                // (o0 + o, b), o < m, which lie `batch · out_plane` apart, belongs to this
                // item alone and holds `out.w` = W / 2 values.
                unsafe {
                    pooled_pair_avx2(
                        &block,
                        (x, &offs, oy * wp, wp, to.w),
                        step.relu,
                        (
                            y.ptr().add(plane * out_plane + oy / 2 * out.w),
                            batch * out_plane,
                        ),
                    )
                };
            }
            continue;
        }
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
                    ConvWeights::Plain(_) | ConvWeights::Winograd(_) => {
                        let (weight, taps) = (step.weights.plain(), offs.len());
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
    if avx2() {
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

/// Whether this CPU runs the AVX2+FMA kernels.
#[cfg(target_arch = "x86_64")]
fn avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// A block's weights as the AVX2 kernels read them: tap-major, [`BLOCK`] channels a tap, zero
/// past the block's `m` channels so every block computes all of them.
#[cfg(target_arch = "x86_64")]
struct TapMajor {
    weights: [f32; BLOCK * super::DIRECT_MAX_TAPS],
    bias: [f32; BLOCK],
    /// The block's real channels.
    m: usize,
}

#[cfg(target_arch = "x86_64")]
impl TapMajor {
    /// `m = bias.len()` channels of `weights` (`m × taps`).
    fn new(bias: &[f32], weights: &[f32]) -> Self {
        let m = bias.len();
        let taps = weights.len() / m.max(1);
        assert!(m <= BLOCK && taps <= super::DIRECT_MAX_TAPS && weights.len() == m * taps);
        let mut packed = Self {
            weights: [0.0; BLOCK * super::DIRECT_MAX_TAPS],
            bias: [0.0; BLOCK],
            m,
        };
        for o in 0..m {
            for t in 0..taps {
                packed.weights[t * BLOCK + o] = weights[o * taps + t];
            }
        }
        packed.bias[..m].copy_from_slice(bias);
        packed
    }

    /// Channel `o`'s sum at input position `at` of `x` over the taps at `offs`, bias included
    /// (the kernels' columns past their whole vectors).
    fn at(&self, o: usize, x: &[f32], offs: &[usize], at: usize) -> f32 {
        let mut s = self.bias[o];
        for (t, &off) in offs.iter().enumerate() {
            s = self.weights[t * BLOCK + o].mul_add(x[at + off], s);
        }
        s
    }
}

/// 8 columns × all [`BLOCK`] channels from input position `at` over every tap: one input vector
/// loaded per tap, each channel's weight broadcast into one FMA. The sums are eight named
/// locals, not an array: LLVM kept an array of them on the stack, every FMA's chain through a
/// store and a load, and the stem ran at 40 GFLOP/s on 2 cores of a Zen 3.
///
/// # Safety
/// AVX2 and FMA must be available; `x[at + off..][..8]` must lie inside `x` for every `off`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn block_avx2(
    block: &TapMajor,
    x: &[f32],
    offs: &[usize],
    at: usize,
) -> [std::arch::x86_64::__m256; BLOCK] {
    use std::arch::x86_64::*;
    const { assert!(BLOCK == 8) };
    let b = &block.bias;
    let (mut a0, mut a1, mut a2, mut a3) = (
        _mm256_set1_ps(b[0]),
        _mm256_set1_ps(b[1]),
        _mm256_set1_ps(b[2]),
        _mm256_set1_ps(b[3]),
    );
    let (mut a4, mut a5, mut a6, mut a7) = (
        _mm256_set1_ps(b[4]),
        _mm256_set1_ps(b[5]),
        _mm256_set1_ps(b[6]),
        _mm256_set1_ps(b[7]),
    );
    for (&off, w) in offs.iter().zip(block.weights.chunks_exact(BLOCK)) {
        // SAFETY: the caller keeps 8 floats from `at + off` inside `x`.
        let xv = unsafe { _mm256_loadu_ps(x.as_ptr().add(at + off)) };
        a0 = _mm256_fmadd_ps(_mm256_set1_ps(w[0]), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_set1_ps(w[1]), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_set1_ps(w[2]), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_set1_ps(w[3]), xv, a3);
        a4 = _mm256_fmadd_ps(_mm256_set1_ps(w[4]), xv, a4);
        a5 = _mm256_fmadd_ps(_mm256_set1_ps(w[5]), xv, a5);
        a6 = _mm256_fmadd_ps(_mm256_set1_ps(w[6]), xv, a6);
        a7 = _mm256_fmadd_ps(_mm256_set1_ps(w[7]), xv, a7);
    }
    [a0, a1, a2, a3, a4, a5, a6, a7]
}

/// [`rows_of`] on AVX2+FMA: 8 columns × all [`BLOCK`] channels in registers over every tap,
/// stored once. The portable loop, which the crate's baseline target compiles to SSE2 without
/// FMA, reads and writes the output row once per tap and ran the 1-channel stem at 15 GFLOP/s
/// a core on a Zen 3.
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
    let block = TapMajor::new(bias, weights);
    let m = block.m;
    let w = rows.len() / m;
    let last = offs.iter().max().map_or(0, |&o| row + o + w);
    assert!(last <= x.len());
    let whole = w / 8 * 8;
    for j in (0..whole).step_by(8) {
        // SAFETY: every tap's 8 columns from `row + j` end by `last`.
        let acc = unsafe { block_avx2(&block, x, offs, row + j) };
        for (o, acc) in acc.iter().enumerate().take(m) {
            let dst = &mut rows[o * w + j..][..8];
            // SAFETY: `dst` holds 8 floats.
            unsafe { _mm256_storeu_ps(dst.as_mut_ptr(), *acc) };
        }
    }
    // The last columns, fewer than a vector, one by one.
    for o in 0..m {
        for j in whole..w {
            rows[o * w + j] = block.at(o, x, offs, row + j);
        }
    }
}

/// Two output rows of the block's channels, max-pooled 2×2 in registers (ReLU after the
/// maximum when `relu`), straight into the pooled rows: `(x, offs, row, wp, w)` is the padded
/// input, the taps' offsets, the first row's padded offset, the padded row stride and the
/// output width; `(dst, dst_rs)` the first channel's pooled row and the distance to the next
/// channel's. Each 16 columns are two blocks of 8 per row ([`block_avx2`]), the rows' maximum,
/// then the maximum of neighbouring columns by two shuffles. With the sums kept in registers
/// (see [`block_avx2`]) the stem took 0.40–0.48× the time of the rows computed into a buffer
/// and pooled on their way out (2 cores of a Zen 3, interleaved: 7.17 → 2.90 ms at batch 32,
/// 0.247 → 0.118 ms at batch 1).
///
/// # Safety
/// AVX2 and FMA must be available; every tap of both rows' `w` columns must read inside `x`;
/// `dst + o · dst_rs` must be valid for `w / 2` writes for each of the block's channels, and
/// no one else may access them meanwhile.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn pooled_pair_avx2(
    block: &TapMajor,
    (x, offs, row, wp, w): (&[f32], &[usize], usize, usize, usize),
    relu: bool,
    (dst, dst_rs): (*mut f32, usize),
) {
    use std::arch::x86_64::*;
    let m = block.m;
    let last = offs.iter().max().map_or(0, |&o| row + wp + o + w);
    assert!(last <= x.len());
    let zero = _mm256_setzero_ps();
    let whole = w / 16 * 16;
    for j in (0..whole).step_by(16) {
        let mut halves = [[_mm256_setzero_ps(); BLOCK]; 2];
        for (h, half) in halves.iter_mut().enumerate() {
            let at = row + j + 8 * h;
            // SAFETY: both rows' taps of these 8 columns end by `last`.
            let (top, bottom) = unsafe {
                (
                    block_avx2(block, x, offs, at),
                    block_avx2(block, x, offs, at + wp),
                )
            };
            for ((v, t), b) in half.iter_mut().zip(&top).zip(&bottom) {
                *v = _mm256_max_ps(*t, *b);
            }
        }
        for (o, (&a, &b)) in halves[0].iter().zip(&halves[1]).enumerate().take(m) {
            // Lanes [a0 a2 b0 b2 | a4 a6 b4 b6] and [a1 a3 b1 b3 | a5 a7 b5 b7]: their maximum
            // holds the pooled columns in the 64-bit order 0 2 1 3.
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(a, b);
            let odd = _mm256_shuffle_ps::<0b11_01_11_01>(a, b);
            let pairs = _mm256_castps_pd(_mm256_max_ps(even, odd));
            let pooled = _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(pairs));
            let out = if relu {
                _mm256_max_ps(pooled, zero)
            } else {
                pooled
            };
            // SAFETY: the caller's pooled row of channel o holds w / 2 ≥ j / 2 + 8 values.
            unsafe { _mm256_storeu_ps(dst.add(o * dst_rs + j / 2), out) };
        }
    }
    // The last pooled columns, fewer than 8, one by one.
    for o in 0..m {
        for p in whole / 2..w / 2 {
            let at = row + 2 * p;
            let v = [at, at + 1, at + wp, at + wp + 1]
                .map(|q| block.at(o, x, offs, q))
                .into_iter()
                .fold(f32::NEG_INFINITY, f32::max);
            // SAFETY: as above, p < w / 2.
            unsafe { *dst.add(o * dst_rs + p) = if relu { v.max(0.0) } else { v } };
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
        let mut next = crate::cpu::testing::centred(5);
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

    /// The fused pooling's AVX2 kernel against a plain f64 loop: output widths below, at and
    /// past a 16-column block, with and without ReLU (half the sums are negative), fewer
    /// channels than a block, 1, 9 and 27 taps.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn pooled_pairs_match_a_plain_loop_on_odd_sizes() {
        if !avx2() {
            return;
        }
        let mut next = crate::cpu::testing::centred(11);
        for (m, taps, w, relu) in [
            (1, 1, 2, false),
            (8, 9, 16, true),
            (3, 9, 14, false),
            (8, 27, 50, true),
            (5, 4, 18, false),
            (8, 9, 130, false),
        ] {
            let wp = w + 3;
            let offs: Vec<usize> = (0..taps).map(|t| t % 3 * wp + t / 3 % 3 + t / 9).collect();
            let row = 2 * wp + 1;
            let len = row + wp + offs.iter().max().unwrap() + w;
            let x: Vec<f32> = (0..len).map(|_| next()).collect();
            let weights: Vec<f32> = (0..m * taps).map(|_| next()).collect();
            let bias: Vec<f32> = (0..m).map(|_| next() * 0.1).collect();
            let dst_rs = w / 2 + 3;
            let mut got = vec![f32::NAN; m * dst_rs];
            let block = TapMajor::new(&bias, &weights);
            // SAFETY: AVX2 and FMA are present; `x` holds every tap of both rows; `got` holds
            // m rows of `dst_rs` ≥ w / 2.
            unsafe {
                pooled_pair_avx2(
                    &block,
                    (&x, &offs, row, wp, w),
                    relu,
                    (got.as_mut_ptr(), dst_rs),
                )
            };
            for o in 0..m {
                for p in 0..w / 2 {
                    let sum = |q: usize| {
                        let mut s = bias[o] as f64;
                        for (t, &off) in offs.iter().enumerate() {
                            s += weights[o * taps + t] as f64 * x[q + off] as f64;
                        }
                        s
                    };
                    let q = row + 2 * p;
                    let mut want = [q, q + 1, q + wp, q + wp + 1]
                        .map(sum)
                        .into_iter()
                        .fold(f64::NEG_INFINITY, f64::max);
                    if relu {
                        want = want.max(0.0);
                    }
                    let g = got[o * dst_rs + p] as f64;
                    assert!(
                        (g - want).abs() < 1e-5,
                        "m {m} taps {taps} w {w} relu {relu}: [{o}][{p}] {g} != {want}"
                    );
                }
                assert!(
                    got[o * dst_rs + w / 2..(o + 1) * dst_rs]
                        .iter()
                        .all(|v| v.is_nan()),
                    "m {m} w {w}: written past the pooled row of channel {o}"
                );
            }
        }
    }
}
