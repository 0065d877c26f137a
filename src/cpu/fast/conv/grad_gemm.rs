//! The GEMM of training's Winograd weight gradients ([`super::winograd::weight_grad`]),
//! `du[c][o] += Σ_j v[c][j] · g[j][o]`, whose inner dimension runs along the tiles of both
//! operands: `v` as the input's transform lies (channels × tiles), `g` positions × channels (the
//! output's gradient transposed by [`transpose`], 16×16 blocks in registers, then transformed).
//!
//! Why: with both operands along the tiles, the sums are dot products, each needing a
//! horizontal sum of its vector at the end (as [`super::weight_grad`]'s kernel does, holding a
//! chunk of samples in cache to make them rare). With `g` transposed, each value of `v` is
//! broadcast against 32 output channels' values of `g`: [`ROWS`] × 2 vector sums held in
//! registers along the tiles, added to `du` at the end, and no horizontal sums. The
//! transposition reads and writes the gradient once; the GEMM reads `g` `cin / ROWS` times.
//! Tried on the 1×1 convolutions' weight gradient too (`v` their input as it lies, `g` their
//! gradient transposed): level with the `gemm` crate in a training step, not kept (README).

/// Input channels a register block takes (broadcast), against [`COLUMNS`] output channels.
pub const ROWS: usize = 12;

/// Output channels a register block takes: two vectors.
pub const COLUMNS: usize = 32;

#[cfg(target_arch = "x86_64")]
pub(super) use avx512::mask;
pub use avx512::{block, transpose};

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{COLUMNS, ROWS};
    use std::arch::x86_64::*;

    /// The first `n` (≤ 16) lanes (Winograd's transforms load and store with it too).
    pub fn mask(n: usize) -> __mmask16 {
        ((1u32 << n.min(16)) - 1) as __mmask16
    }

    /// `src` (`rows × cols`, row-major) transposed into `dst` (`cols` rows `stride` apart, of
    /// `rows` rounded up to 16 values: zeros past `rows`).
    ///
    /// # Safety
    /// AVX-512F. Panics (slice bounds) rather than reading or writing outside the slices.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn transpose(
        src: &[f32],
        (rows, cols): (usize, usize),
        dst: &mut [f32],
        stride: usize,
    ) {
        assert!(src.len() >= rows * cols && stride >= rows.next_multiple_of(16));
        for r0 in (0..rows).step_by(16) {
            for c0 in (0..cols).step_by(16) {
                let n = (cols - c0).min(16);
                let block: [__m512; 16] = std::array::from_fn(|i| {
                    if r0 + i >= rows {
                        return _mm512_setzero_ps();
                    }
                    let row = &src[(r0 + i) * cols + c0..][..n];
                    // SAFETY: the mask keeps the `n` values of `row`.
                    unsafe { _mm512_maskz_loadu_ps(mask(n), row.as_ptr()) }
                });
                let t = transpose16(block);
                for (i, t) in t.iter().enumerate().take(n) {
                    let out = &mut dst[(c0 + i) * stride + r0..][..16];
                    // SAFETY: 16 values inside `out`.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), *t) };
                }
            }
        }
    }

    /// A 16×16 block transposed: vector `i` of the result holds lane `i` of each of `r`.
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        // Pairs of rows interleaved, then fours: b[4i + k] holds, in each 128-bit lane L,
        // column 4L + k of rows 4i..4i + 4.
        let a: [__m512; 16] = std::array::from_fn(|i| {
            let (x, y) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_ps(x, y)
            } else {
                _mm512_unpackhi_ps(x, y)
            }
        });
        let b: [__m512; 16] = std::array::from_fn(|i| {
            let (q, k) = (i / 4, i % 4);
            let (x, y) = (a[4 * q + k / 2], a[4 * q + 2 + k / 2]);
            if k % 2 == 0 {
                _mm512_shuffle_ps::<0x44>(x, y)
            } else {
                _mm512_shuffle_ps::<0xEE>(x, y)
            }
        });
        // Lanes L of b[k], b[4 + k], b[8 + k], b[12 + k] are column 4L + k: gathered in two
        // steps of 128-bit lane shuffles.
        let mut out = [_mm512_setzero_ps(); 16];
        for k in 0..4 {
            let c0 = _mm512_shuffle_f32x4::<0x88>(b[k], b[4 + k]);
            let c1 = _mm512_shuffle_f32x4::<0xDD>(b[k], b[4 + k]);
            let d0 = _mm512_shuffle_f32x4::<0x88>(b[8 + k], b[12 + k]);
            let d1 = _mm512_shuffle_f32x4::<0xDD>(b[8 + k], b[12 + k]);
            out[k] = _mm512_shuffle_f32x4::<0x88>(c0, d0);
            out[4 + k] = _mm512_shuffle_f32x4::<0x88>(c1, d1);
            out[8 + k] = _mm512_shuffle_f32x4::<0xDD>(c0, d0);
            out[12 + k] = _mm512_shuffle_f32x4::<0xDD>(c1, d1);
        }
        out
    }

    /// `du[c][o] += Σ_j v[c][j] · dm[j][o]` for input channels `c0..c0 + ROWS` (those below
    /// `cin`) and output channels `o0..o0 + COLUMNS` (or 16, where `width` ends first): `v` is
    /// `cin` rows of `columns`, `dm` `columns` rows of `width`, `du` `cin` rows of `width`.
    ///
    /// # Safety
    /// AVX-512F. Panics (slice bounds) rather than reading or writing outside the slices.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn block(
        (v, c0, cin): (&[f32], usize, usize),
        (dm, o0): (&[f32], usize),
        columns: usize,
        (du, width): (&mut [f32], usize),
    ) {
        if width - o0 >= COLUMNS {
            block_of::<2>((v, c0, cin), (dm, o0), columns, (du, width))
        } else {
            block_of::<1>((v, c0, cin), (dm, o0), columns, (du, width))
        }
    }

    /// [`block`] over `C` vectors of output channels.
    #[target_feature(enable = "avx512f")]
    fn block_of<const C: usize>(
        (v, c0, cin): (&[f32], usize, usize),
        (dm, o0): (&[f32], usize),
        columns: usize,
        (du, width): (&mut [f32], usize),
    ) {
        assert!(c0 < cin && v.len() >= cin * columns && o0 + 16 * C <= width);
        assert!(dm.len() >= columns * width && du.len() >= cin * width);
        // Rows past `cin` repeat the last and are dropped.
        let rows: [*const f32; ROWS] =
            std::array::from_fn(|i| v[(c0 + i).min(cin - 1) * columns..].as_ptr());
        let mut acc = [[_mm512_setzero_ps(); C]; ROWS];
        let dm = dm[o0..].as_ptr();
        for j in 0..columns {
            // SAFETY: row j's `C` vectors from o0 lie inside `dm` (asserted above).
            let d: [__m512; C] =
                std::array::from_fn(|k| unsafe { _mm512_loadu_ps(dm.add(j * width + 16 * k)) });
            for (i, acc) in acc.iter_mut().enumerate() {
                // SAFETY: each row holds `columns` values.
                let b = _mm512_set1_ps(unsafe { *rows[i].add(j) });
                for k in 0..C {
                    acc[k] = _mm512_fmadd_ps(b, d[k], acc[k]);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate().take(cin - c0) {
            for (k, acc) in acc.iter().enumerate() {
                let out = &mut du[(c0 + i) * width + o0 + 16 * k..][..16];
                // SAFETY: 16 values inside `out`.
                unsafe {
                    let sum = _mm512_add_ps(_mm512_loadu_ps(out.as_ptr()), *acc);
                    _mm512_storeu_ps(out.as_mut_ptr(), sum);
                }
            }
        }
    }
}

/// Off x86-64 there is no AVX-512, and nothing reaches these (their callers run where
/// [`super::winograd::runs_here`] or AVX-512 is).
#[cfg(not(target_arch = "x86_64"))]
mod avx512 {
    pub unsafe fn transpose(_: &[f32], _: (usize, usize), _: &mut [f32], _: usize) {
        unreachable!("the weight gradients' GEMM runs on AVX-512 only")
    }

    pub unsafe fn block(
        _: (&[f32], usize, usize),
        _: (&[f32], usize),
        _: usize,
        _: (&mut [f32], usize),
    ) {
        unreachable!("the weight gradients' GEMM runs on AVX-512 only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::testing::values;

    fn runs_here() -> bool {
        super::super::blocked::Isa::best() == Some(super::super::blocked::Isa::Avx512)
    }

    /// The transposition on blocks cut by either side.
    #[test]
    fn transposes_blocks_cut_by_either_side() {
        if !runs_here() {
            return;
        }
        for (rows, cols) in [(16, 16), (5, 3), (20, 37), (33, 16), (1, 50)] {
            let src = values(rows * cols, 3);
            let stride = rows.next_multiple_of(16) + 16;
            let mut dst = vec![f32::NAN; cols * stride];
            // SAFETY: AVX-512F checked above.
            unsafe { transpose(&src, (rows, cols), &mut dst, stride) };
            for c in 0..cols {
                for r in 0..rows.next_multiple_of(16) {
                    let want = if r < rows { src[r * cols + c] } else { 0.0 };
                    assert_eq!(dst[c * stride + r], want, "{rows}×{cols}: ({r}, {c})");
                }
            }
        }
    }

    /// Against plain sums: channels that fill no register block, one, and one and a part, in
    /// both dimensions (one vector of output channels, two, and three), positions not a multiple
    /// of anything, and `du` added to.
    #[test]
    fn block_adds_the_products_summed_along_the_positions() {
        if !runs_here() {
            return;
        }
        for (cin, cout, columns) in [
            (5_usize, 16_usize, 7_usize),
            (12, 32, 33),
            (13, 48, 64),
            (30, 20, 1),
        ] {
            let width: usize = cout.next_multiple_of(16_usize);
            let v = values(cin * columns, 11);
            let g = values(columns * width, 12);
            let mut du = values(cin * width, 13);
            let mut want: Vec<f64> = du.iter().map(|&d| f64::from(d)).collect();
            for c in 0..cin {
                for o in 0..width {
                    for j in 0..columns {
                        want[c * width + o] +=
                            f64::from(v[c * columns + j]) * f64::from(g[j * width + o]);
                    }
                }
            }
            for c0 in (0..cin).step_by(ROWS) {
                for o0 in (0..width).step_by(COLUMNS) {
                    // SAFETY: AVX-512F checked above.
                    unsafe { block((&v, c0, cin), (&g, o0), columns, (&mut du, width)) };
                }
            }
            for (i, (&got, &want)) in du.iter().zip(&want).enumerate() {
                assert!(
                    (f64::from(got) - want).abs() < 1e-4,
                    "{cin}×{cout}, {columns} positions: du[{i}] {got} against {want}"
                );
            }
        }
    }
}
