//! Max pooling over square windows without padding, and its backward (each window's gradient
//! to its first maximum, the element the forward picked).

use rayon::prelude::*;

use crate::net::Shape;

/// Max pooling with a `kernel × kernel` window (no padding).
pub fn max_pool(
    x: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * output.len()];
    max_pool_into(x, input, output, kernel, stride, &mut y);
    y
}

/// [`max_pool`] into `y` (`batch × output`), planes in parallel.
pub fn max_pool_into(
    x: &[f32],
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
    y: &mut [f32],
) {
    let (ip, op) = (input.h * input.w, output.h * output.w);
    y.par_chunks_mut(op).enumerate().for_each(|(nc, dst)| {
        max_pool_plane(&x[nc * ip..][..ip], dst, input, output, (kernel, stride));
    });
}

/// Max pooling of one plane, `from` → `to` (their `h × w`), `window` = (kernel, stride): the
/// 2×2 stride-2 window the network uses on a path the compiler vectorizes, any other window
/// by [`max_pool_plane_any`]. Both take the maximum in the same order, so they give the same
/// bits.
pub(crate) fn max_pool_plane(
    src: &[f32],
    dst: &mut [f32],
    from: Shape,
    to: Shape,
    window: (usize, usize),
) {
    if window != (2, 2) || to.w == 0 {
        return max_pool_plane_any(src, dst, from, to, window);
    }
    for (oy, out) in dst.chunks_exact_mut(to.w).enumerate().take(to.h) {
        let r0 = src[2 * oy * from.w..][..2 * to.w].chunks_exact(2);
        let r1 = src[(2 * oy + 1) * from.w..][..2 * to.w].chunks_exact(2);
        for ((d, a), b) in out.iter_mut().zip(r0).zip(r1) {
            *d = a[0].max(a[1]).max(b[0]).max(b[1]);
        }
    }
}

/// [`max_pool_plane`] for any window: the plain loop (and the reference of the 2×2 path).
fn max_pool_plane_any(
    src: &[f32],
    dst: &mut [f32],
    from: Shape,
    to: Shape,
    (kernel, stride): (usize, usize),
) {
    for oy in 0..to.h {
        for ox in 0..to.w {
            let mut m = f32::NEG_INFINITY;
            for ky in 0..kernel {
                for kx in 0..kernel {
                    m = m.max(src[(oy * stride + ky) * from.w + ox * stride + kx]);
                }
            }
            dst[oy * to.w + ox] = m;
        }
    }
}

/// Backward of max pooling: each output's gradient goes to the first maximum of its window
/// (row-major), the element the forward picked.
pub fn max_pool_backward(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * input.len()];
    max_pool_backward_into(x, dy, input, output, kernel, stride, &mut dx);
    dx
}

/// [`max_pool_backward`] into `dx` (`batch × input`, every element written).
pub fn max_pool_backward_into(
    x: &[f32],
    dy: &[f32],
    input: Shape,
    output: Shape,
    kernel: usize,
    stride: usize,
    dx: &mut [f32],
) {
    let (ip, op) = (input.h * input.w, output.h * output.w);
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        let (src, g) = (&x[nc * ip..][..ip], &dy[nc * op..][..op]);
        max_pool_backward_plane(src, g, dst, input, output, (kernel, stride));
    });
}

/// Backward of max pooling on one plane (`dst` all written), `window` = (kernel, stride): the
/// 2×2 stride-2 window the network uses in one branch-free pass that writes each window's four
/// gradients at once, any other window by [`max_pool_backward_plane_any`]. Both send a window's
/// gradient to its first maximum (row-major), so they give the same bits.
pub(crate) fn max_pool_backward_plane(
    src: &[f32],
    g: &[f32],
    dst: &mut [f32],
    from: Shape,
    to: Shape,
    window: (usize, usize),
) {
    if window != (2, 2) {
        return max_pool_backward_plane_any(src, g, dst, from, to, window);
    }
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::is_x86_feature_detected!("avx2");
    // Rows and columns past the last window (odd sizes) get no gradient.
    dst[2 * to.h * from.w..].fill(0.0);
    for oy in 0..to.h {
        let (top, bottom) = dst[2 * oy * from.w..][..2 * from.w].split_at_mut(from.w);
        top[2 * to.w..].fill(0.0);
        bottom[2 * to.w..].fill(0.0);
        let rows = (
            &src[2 * oy * from.w..][..2 * to.w],
            &src[(2 * oy + 1) * from.w..][..2 * to.w],
        );
        let (d0, d1) = (&mut top[..2 * to.w], &mut bottom[..2 * to.w]);
        let gs = &g[oy * to.w..][..to.w];
        #[cfg(target_arch = "x86_64")]
        let done = if avx2 {
            // SAFETY: AVX2 is present.
            unsafe { avx2::row(rows, gs, (&mut *d0, &mut *d1)) }
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = 0;
        for ox in done..to.w {
            let (a0, a1) = (rows.0[2 * ox], rows.0[2 * ox + 1]);
            let (b0, b1) = (rows.1[2 * ox], rows.1[2 * ox + 1]);
            let m = a0.max(a1).max(b0).max(b1);
            let gv = gs[ox];
            // The first of the four (row-major) equal to the maximum takes the gradient.
            let (e0, e1, e2) = (a0 == m, a1 == m, b0 == m);
            d0[2 * ox] = if e0 { gv } else { 0.0 };
            d0[2 * ox + 1] = if !e0 && e1 { gv } else { 0.0 };
            d1[2 * ox] = if !e0 && !e1 && e2 { gv } else { 0.0 };
            d1[2 * ox + 1] = if !e0 && !e1 && !e2 { gv } else { 0.0 };
        }
    }
}

/// The 2×2 backward's row on AVX2: eight windows a step (a last four through padded buffers),
/// the selections as masks, so ties (ReLU zeros) cost no mispredicted branches.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    /// Windows `0..8·⌊n/8⌋` of a row pair (`rows`: the two input rows, `2n` values each; `g`:
    /// the `n` output gradients; `dst`: the two gradient rows, `2n` each), and four more where
    /// at least four are left; returns how many windows it did.
    ///
    /// # Safety
    /// AVX2 must be present.
    #[target_feature(enable = "avx2")]
    pub unsafe fn row(rows: (&[f32], &[f32]), g: &[f32], dst: (&mut [f32], &mut [f32])) -> usize {
        let n = g.len() / 8 * 8;
        assert!(rows.0.len() >= 2 * n && rows.1.len() >= 2 * n);
        assert!(dst.0.len() >= 2 * n && dst.1.len() >= 2 * n);
        let (r0, r1) = (rows.0.as_ptr(), rows.1.as_ptr());
        let (d0, d1) = (dst.0.as_mut_ptr(), dst.1.as_mut_ptr());
        for ox in (0..n).step_by(8) {
            // SAFETY: 2·ox + 16 ≤ 2n values of every row, ox + 8 ≤ n of g (asserted above).
            unsafe {
                eight(
                    (r0.add(2 * ox), r1.add(2 * ox)),
                    g.as_ptr().add(ox),
                    (d0.add(2 * ox), d1.add(2 * ox)),
                )
            };
        }
        if g.len() - n < 4 {
            return n;
        }
        // Four more windows, through eight-window buffers whose last four windows are zeros
        // (their gradients, zero, are not copied out): all of a row of the 8×8 planes'
        // poolings (four windows, which the 8-window steps skip, and which the scalar loop took
        // 3.2× as long for: `hourglass.low.pool`'s backward 0.641 → 0.199 ms a 64×64 step at
        // batch 32, 2 cores of an Intel Xeon, both in one build, alternating), or the tail of a
        // wider row.
        let (mut a, mut b, mut gs) = ([0.0f32; 16], [0.0f32; 16], [0.0f32; 8]);
        a[..8].copy_from_slice(&rows.0[2 * n..][..8]);
        b[..8].copy_from_slice(&rows.1[2 * n..][..8]);
        gs[..4].copy_from_slice(&g[n..][..4]);
        let (mut e, mut f) = ([0.0f32; 16], [0.0f32; 16]);
        // SAFETY: every buffer holds the 16 (or 8) values the step reads or writes.
        unsafe {
            eight(
                (a.as_ptr(), b.as_ptr()),
                gs.as_ptr(),
                (e.as_mut_ptr(), f.as_mut_ptr()),
            )
        };
        dst.0[2 * n..][..8].copy_from_slice(&e[..8]);
        dst.1[2 * n..][..8].copy_from_slice(&f[..8]);
        n + 4
    }

    /// Eight windows: the 16 values of each input row at `rows`, their 8 gradients at `g`, the
    /// 16 of each gradient row at `dst`.
    ///
    /// # Safety
    /// AVX2 must be present, and every pointer must cover the values named.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn eight(rows: (*const f32, *const f32), g: *const f32, dst: (*mut f32, *mut f32)) {
        // SAFETY: the caller's promise.
        unsafe {
            let (a0, a1) = split(rows.0);
            let (b0, b1) = split(rows.1);
            let m = _mm256_max_ps(_mm256_max_ps(a0, a1), _mm256_max_ps(b0, b1));
            let e0 = _mm256_cmp_ps::<_CMP_EQ_OQ>(a0, m);
            let e1 = _mm256_cmp_ps::<_CMP_EQ_OQ>(a1, m);
            let e2 = _mm256_cmp_ps::<_CMP_EQ_OQ>(b0, m);
            let gv = _mm256_loadu_ps(g);
            let taken01 = _mm256_or_ps(e0, e1);
            let taken012 = _mm256_or_ps(taken01, e2);
            let t0 = _mm256_and_ps(e0, gv);
            let t1 = _mm256_andnot_ps(e0, _mm256_and_ps(e1, gv));
            let u0 = _mm256_andnot_ps(taken01, _mm256_and_ps(e2, gv));
            let u1 = _mm256_andnot_ps(taken012, gv);
            join(t0, t1, dst.0);
            join(u0, u1, dst.1);
        }
    }

    /// The 16 values at `p` as their even and odd elements, each in order.
    #[inline(always)]
    unsafe fn split(p: *const f32) -> (__m256, __m256) {
        // SAFETY: the caller's 16 values.
        unsafe {
            let (lo, hi) = (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)));
            // Within 128-bit lanes: [lo0 lo2 hi0 hi2 | lo4 lo6 hi4 hi6]; then lanes reordered.
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(lo, hi);
            let odd = _mm256_shuffle_ps::<0b11_01_11_01>(lo, hi);
            let order = |v: __m256| {
                _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(v)))
            };
            (order(even), order(odd))
        }
    }

    /// Writes `even` and `odd` interleaved (`even₀ odd₀ even₁ odd₁ …`) as 16 values at `p`.
    #[inline(always)]
    unsafe fn join(even: __m256, odd: __m256, p: *mut f32) {
        // SAFETY: the caller's 16 values.
        unsafe {
            let (lo, hi) = (_mm256_unpacklo_ps(even, odd), _mm256_unpackhi_ps(even, odd));
            _mm256_storeu_ps(p, _mm256_permute2f128_ps::<0x20>(lo, hi));
            _mm256_storeu_ps(p.add(8), _mm256_permute2f128_ps::<0x31>(lo, hi));
        }
    }
}

/// [`max_pool_backward_plane`] for any window (overlapping windows add up): the plain loop,
/// and the reference of the 2×2 path.
fn max_pool_backward_plane_any(
    src: &[f32],
    g: &[f32],
    dst: &mut [f32],
    from: Shape,
    to: Shape,
    (kernel, stride): (usize, usize),
) {
    dst.fill(0.0);
    for oy in 0..to.h {
        for ox in 0..to.w {
            let mut best = (f32::NEG_INFINITY, (oy * stride) * from.w + ox * stride);
            for ky in 0..kernel {
                for kx in 0..kernel {
                    let at = (oy * stride + ky) * from.w + ox * stride + kx;
                    if src[at] > best.0 {
                        best = (src[at], at);
                    }
                }
            }
            dst[best.1] += g[oy * to.w + ox];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Odd sizes (a last row and column in no window), rows of several 8-window steps, rows of
    /// four windows alone (8×8 planes) and after eight (26 columns: 8 + 4 + 1).
    const SIZES: [(usize, usize); 10] = [
        (2, 2),
        (7, 9),
        (6, 5),
        (5, 34),
        (1, 3),
        (3, 1),
        (4, 18),
        (9, 67),
        (8, 8),
        (3, 26),
    ];

    /// A plane of `h × w` ReLU outputs (a few levels, half of them zeros, so windows often tie)
    /// pooled 2×2, and `next` for more values.
    fn plane(h: usize, w: usize, seed: u32) -> (Shape, Shape, Vec<f32>, impl FnMut() -> u32) {
        let mut state = seed ^ (h * 100 + w) as u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state >> 8
        };
        let x = (0..h * w)
            .map(|_| ((next() % 7) as f32 - 3.0).max(0.0))
            .collect();
        let to = Shape {
            c: 1,
            h: h / 2,
            w: w / 2,
        };
        (Shape { c: 1, h, w }, to, x, next)
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    /// The 2×2 path against the plain loop, bit for bit, over stale values in the outputs
    /// (every element must be written).
    #[test]
    fn the_two_by_two_pooling_path_matches_the_plain_loop() {
        for (h, w) in SIZES {
            let (from, to, x, _) = plane(h, w, 12345);
            let (mut fast, mut plain) = (vec![9.0; to.h * to.w], vec![7.0; to.h * to.w]);
            max_pool_plane(&x, &mut fast, from, to, (2, 2));
            max_pool_plane_any(&x, &mut plain, from, to, (2, 2));
            assert_eq!(bits(&fast), bits(&plain), "{h}×{w}");
        }
    }

    /// The 2×2 backward path against the plain loop, bit for bit, over stale values in the
    /// output: the first of a window's maxima takes its gradient, and the rows and columns in
    /// no window get zeros.
    #[test]
    fn the_two_by_two_backward_path_matches_the_plain_loop() {
        for (h, w) in SIZES {
            let (from, to, x, mut next) = plane(h, w, 777);
            let g: Vec<f32> = (0..to.h * to.w)
                .map(|_| next() as f32 / 1e6 - 4.0)
                .collect();
            let (mut fast, mut plain) = (vec![9.0; h * w], vec![7.0; h * w]);
            max_pool_backward_plane(&x, &g, &mut fast, from, to, (2, 2));
            max_pool_backward_plane_any(&x, &g, &mut plain, from, to, (2, 2));
            assert_eq!(bits(&fast), bits(&plain), "{h}×{w}");
            // Each window's gradient lands once.
            let total: f32 = fast.iter().sum();
            assert!((total - g.iter().sum::<f32>()).abs() < 1e-3, "{h}×{w}");
        }
    }
}
