//! Winograd's transforms on AVX-512 vectors of 16 tiles: the input's (`Bᵀ d B`) and the
//! products' way back (`Aᵀ M A`), with the loads and stores of a chunk's four groups of tiles.

use super::ELEMENTS;
use crate::cpu::fast::conv::grad_gemm::mask;
use std::arch::x86_64::*;

/// Splits 32 consecutive values `a ‖ b` into their even and odd ones.
#[target_feature(enable = "avx512f")]
fn deinterleave(a: __m512, b: __m512) -> (__m512, __m512) {
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    (
        _mm512_permutex2var_ps(a, even, b),
        _mm512_permutex2var_ps(a, odd, b),
    )
}

/// Interleaves `even` and `odd` into 32 consecutive values `lo ‖ hi`.
#[target_feature(enable = "avx512f")]
fn interleave(even: __m512, odd: __m512) -> (__m512, __m512) {
    let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    (
        _mm512_permutex2var_ps(even, lo, odd),
        _mm512_permutex2var_ps(even, hi, odd),
    )
}

/// `Bᵀ` applied to four values (rows or columns of a patch).
#[target_feature(enable = "avx512f")]
fn bt([d0, d1, d2, d3]: [__m512; 4]) -> [__m512; 4] {
    [
        _mm512_sub_ps(d0, d2),
        _mm512_add_ps(d1, d2),
        _mm512_sub_ps(d2, d1),
        _mm512_sub_ps(d1, d3),
    ]
}

/// `Aᵀ` applied to four values.
#[target_feature(enable = "avx512f")]
fn at([m0, m1, m2, m3]: [__m512; 4]) -> [__m512; 2] {
    [
        _mm512_add_ps(_mm512_add_ps(m0, m1), m2),
        _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3),
    ]
}

/// One padded input row of a chunk's four groups of tiles (`(offset, tiles)`: the first
/// tile's column in `row`, up to 4 tiles): the two vectors of 32 consecutive values whose
/// even and odd lanes are the tiles' columns `2t` and `2t + 1`, groups 0 and 1 in the first
/// and 2 and 3 in the second, 8 lanes a group; from `shift` columns on (0, or 2 for the
/// columns `2t + 2` and `2t + 3`). Lanes past a group's tiles are zero.
#[target_feature(enable = "avx512f")]
fn group_row(row: &[f32], groups: [(usize, usize); 4], shift: usize) -> (__m512, __m512) {
    let mut v = [_mm512_setzero_ps(); 2];
    for (i, (at, tiles)) in groups.into_iter().enumerate() {
        let n = 2 * tiles;
        if n == 0 {
            continue;
        }
        let values = &row[at + shift..at + shift + n];
        // Lanes 8·(i % 2) on: the load starts that many values before the group's first
        // (a masked-off lane is not read).
        let lane = 8 * (i % 2);
        let from = values.as_ptr().wrapping_sub(lane);
        // SAFETY: the mask keeps lanes lane..lane + n, the `n` values of `values`.
        v[i / 2] = unsafe { _mm512_mask_loadu_ps(v[i / 2], mask(n) << lane, from) };
    }
    (v[0], v[1])
}

/// The transformed patches of a chunk's four groups of tiles (`(offset, tiles)`: the first
/// tile's top-left padded input value in `src`, whose rows are `wp` apart, and up to 4
/// tiles), element `p` stored at `v[dst + p·stride..][..16]`.
///
/// # Safety
/// AVX-512F. Panics (slice bounds) rather than reading outside `src` or writing outside `v`.
#[target_feature(enable = "avx512f")]
pub unsafe fn input_tiles(
    src: &[f32],
    wp: usize,
    groups: [(usize, usize); 4],
    v: &mut [f32],
    dst: usize,
    stride: usize,
) {
    // Tile t reads padded columns 2t..2t + 4 of four rows: the even and odd columns of the
    // groups' values, and the same from two columns on.
    let mut cols = [[_mm512_setzero_ps(); 4]; 4];
    for (r, cols) in cols.iter_mut().enumerate() {
        let row = &src[r * wp..];
        let (a, b) = group_row(row, groups, 0);
        let (a2, b2) = group_row(row, groups, 2);
        let (e0, e1) = deinterleave(a, b);
        let (e2, e3) = deinterleave(a2, b2);
        *cols = bt([e0, e1, e2, e3]);
    }
    // Bᵀ over the rows of each column.
    let [r0, r1, r2, r3] = cols;
    for k in 0..4 {
        let t = bt([r0[k], r1[k], r2[k], r3[k]]);
        for (a, t) in t.into_iter().enumerate() {
            let p = a * 4 + k;
            let out = &mut v[dst + p * stride..][..16];
            // SAFETY: 16 values inside `out`.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), t) };
        }
    }
}

/// The outputs of a chunk's four groups of tiles (`(offset, tiles)`: the first tile's
/// top-left output in `dst`, whose rows are `w` apart, and up to 4 tiles) from their
/// products (element `p` at `products[src + p·stride..][..16]`):
/// `relu?(Aᵀ M A + bias + add)`, `add` indexed like `dst`.
///
/// # Safety
/// AVX-512F. Panics (slice bounds) rather than reading or writing outside the slices.
#[target_feature(enable = "avx512f")]
pub unsafe fn output_tiles(
    (products, src, stride): (&[f32], usize, usize),
    groups: [(usize, usize); 4],
    (bias, add, relu): (f32, Option<&[f32]>, bool),
    dst: &mut [f32],
    w: usize,
) {
    let m: [__m512; ELEMENTS] = std::array::from_fn(|p| {
        let at = &products[src + p * stride..][..16];
        // SAFETY: 16 values inside `at`.
        unsafe { _mm512_loadu_ps(at.as_ptr()) }
    });
    // Aᵀ over the rows of each column, then over the columns of each of the two rows.
    let s: [[__m512; 2]; 4] = std::array::from_fn(|k| at([m[k], m[4 + k], m[8 + k], m[12 + k]]));
    let bias = _mm512_set1_ps(bias);
    let [s0, s1, s2, s3] = s;
    for r in 0..2 {
        let [even, odd] = at([s0[r], s1[r], s2[r], s3[r]]);
        let (lo, hi) = interleave(even, odd);
        let mut out = [lo, hi].map(|v| _mm512_add_ps(v, bias));
        // Group i's 8 values are lanes 8·(i % 2) on of vector i / 2.
        if let Some(add) = add {
            let added = group_row(&add[r * w..], groups, 0);
            out = [
                _mm512_add_ps(out[0], added.0),
                _mm512_add_ps(out[1], added.1),
            ];
        }
        if relu {
            out = out.map(|v| _mm512_max_ps(v, _mm512_setzero_ps()));
        }
        for (i, (at, tiles)) in groups.into_iter().enumerate() {
            let n = 2 * tiles;
            if n == 0 {
                continue;
            }
            let values = &mut dst[r * w + at..r * w + at + n];
            let lane = 8 * (i % 2);
            let to = values.as_mut_ptr().wrapping_sub(lane);
            // SAFETY: the mask keeps lanes lane..lane + n, the `n` values of `values`.
            unsafe { _mm512_mask_storeu_ps(to, mask(n) << lane, out[i / 2]) };
        }
    }
}
