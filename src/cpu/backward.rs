//! Gradients of the cheap ops (ReLU, pooling, upsampling, patches, concatenation) and dropout
//! (its mask from [`crate::net::training`], which the GPU's shader computes alike).

use rayon::prelude::*;

use crate::net::Shape;
use crate::net::training::{dropout_keep, dropout_threshold};

/// Backward of ReLU from its output: the gradient passes where `y > 0`.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; y.len()];
    relu_backward_into(y, dy, &mut dx);
    dx
}

/// [`relu_backward`] into `dx`.
pub fn relu_backward_into(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    dx.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(d, (y, g))| {
            for ((d, y), g) in d.iter_mut().zip(y).zip(g) {
                *d = if *y > 0.0 { *g } else { 0.0 };
            }
        });
}

/// Elements per parallel task of the element-wise maps: big enough to amortize a task, small
/// enough to split a tensor across threads.
pub(crate) const CHUNK: usize = 1 << 14;

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
/// 2×2 stride-2 window the network uses branch-free (its windows do not overlap, so each
/// input element is written once, the gradient or 0), any other by
/// [`max_pool_backward_plane_any`]. Both pick the first maximum, so they give the same bits.
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
    let w = from.w;
    for (oy, g) in g.chunks_exact(to.w).enumerate().take(to.h) {
        let (top, bottom) = dst[2 * oy * w..][..2 * w].split_at_mut(w);
        let r0 = src[2 * oy * w..][..2 * to.w].chunks_exact(2);
        let r1 = src[(2 * oy + 1) * w..][..2 * to.w].chunks_exact(2);
        let d0 = top[..2 * to.w].chunks_exact_mut(2);
        let d1 = bottom[..2 * to.w].chunks_exact_mut(2);
        for ((((a, b), d0), d1), &g) in r0.zip(r1).zip(d0).zip(d1).zip(g) {
            // The first maximum in row-major order: later ones win only when strictly larger.
            let (mut m, mut k) = (a[0], 0u8);
            for (v, i) in [(a[1], 1u8), (b[0], 2), (b[1], 3)] {
                let larger = v > m;
                m = if larger { v } else { m };
                k = if larger { i } else { k };
            }
            let pick = |i: u8| if k == i { g } else { 0.0 };
            d0[0] = pick(0);
            d0[1] = pick(1);
            d1[0] = pick(2);
            d1[1] = pick(3);
        }
        // An odd width's last column is in no window.
        top[2 * to.w..].fill(0.0);
        bottom[2 * to.w..].fill(0.0);
    }
    // As is an odd height's last row.
    dst[2 * to.h * w..].fill(0.0);
}

/// [`max_pool_backward_plane`] for any window (overlapping ones add up): the plain loop, and
/// the reference of the 2×2 path.
pub(crate) fn max_pool_backward_plane_any(
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
            let mut best = (f32::NEG_INFINITY, 0);
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

/// Backward of nearest upsampling: each input pixel gets the sum of its `factor²` copies.
pub fn upsample_backward(dy: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * input.len()];
    upsample_backward_into(dy, input, factor, &mut dx);
    dx
}

/// [`upsample_backward`] into `dx` (`batch × input`, every element written).
pub fn upsample_backward_into(dy: &[f32], input: Shape, factor: usize, dx: &mut [f32]) {
    let (ow, op) = (input.w * factor, input.h * factor * input.w * factor);
    let ip = input.h * input.w;
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        let g = &dy[nc * op..][..op];
        for y in 0..input.h {
            let row = &mut dst[y * input.w..][..input.w];
            row.fill(0.0);
            for fy in 0..factor {
                let src = &g[(y * factor + fy) * ow..][..ow];
                for (d, s) in row.iter_mut().zip(src.chunks_exact(factor)) {
                    *d += s.iter().sum::<f32>();
                }
            }
        }
    });
}

/// Backward of a patch: its gradient placed back into a zero tensor of the input's shape.
#[allow(clippy::too_many_arguments)] // the patch geometry
pub fn patch_backward(
    dy: &[f32],
    batch: usize,
    input: Shape,
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * input.len()];
    patch_backward_into(dy, input, (y0, x0, h, w), &mut dx);
    dx
}

/// [`patch_backward`] into `dx` (`batch × input`, every element written); the window is
/// `(y0, x0, h, w)`.
pub fn patch_backward_into(
    dy: &[f32],
    input: Shape,
    (y0, x0, h, w): (usize, usize, usize, usize),
    dx: &mut [f32],
) {
    let ip = input.h * input.w;
    dx.par_chunks_mut(ip).enumerate().for_each(|(nc, dst)| {
        dst.fill(0.0);
        for r in 0..h {
            dst[(y0 + r) * input.w + x0..][..w].copy_from_slice(&dy[(nc * h + r) * w..][..w]);
        }
    });
}

/// Backward of concatenation: the gradient split back into the parts' lengths.
pub fn concat_backward(dy: &[f32], lens: &[usize], batch: usize) -> Vec<Vec<f32>> {
    let mut parts: Vec<Vec<f32>> = lens.iter().map(|&len| vec![0.0; batch * len]).collect();
    let mut views: Vec<&mut [f32]> = parts.iter_mut().map(Vec::as_mut_slice).collect();
    concat_backward_into(dy, lens, &mut views);
    parts
}

/// [`concat_backward`] into one slice per part (`batch × len` each, every element written).
pub fn concat_backward_into(dy: &[f32], lens: &[usize], parts: &mut [&mut [f32]]) {
    let total: usize = lens.iter().sum();
    let mut offset = 0;
    for (part, &len) in parts.iter_mut().zip(lens) {
        concat_part_backward_into(dy, total, offset, part, len);
        offset += len;
    }
}

/// The gradient of one part of a concatenation: the `len` values at `offset` of each sample's
/// `total`, into `part` (`batch × len`).
pub fn concat_part_backward_into(
    dy: &[f32],
    total: usize,
    offset: usize,
    part: &mut [f32],
    len: usize,
) {
    for (n, dst) in part.chunks_mut(len).enumerate() {
        dst.copy_from_slice(&dy[n * total + offset..][..len]);
    }
}

/// Dropout forward and backward are the same map: kept elements scaled by `1/(1 − rate)`, the
/// others zero.
pub fn dropout(x: &[f32], key: u32, rate: f32) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    dropout_into(x, key, rate, &mut y);
    y
}

/// [`dropout`] into `y`.
pub fn dropout_into(x: &[f32], key: u32, rate: f32, y: &mut [f32]) {
    let threshold = dropout_threshold(rate);
    let scale = 1.0 / (1.0 - rate);
    y.par_iter_mut().zip(x).enumerate().for_each(|(i, (y, v))| {
        *y = if dropout_keep(key, i as u32, threshold) {
            v * scale
        } else {
            0.0
        };
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::elementwise::{max_pool_plane, max_pool_plane_any};

    /// The 2×2 paths against the plain loops, bit for bit, on odd sizes (a last row and column
    /// in no window) and on values with many ties (ReLU outputs: zeros), where the first
    /// maximum must win.
    #[test]
    fn the_two_by_two_pooling_paths_match_the_plain_loops() {
        for (h, w) in [(2, 2), (7, 9), (6, 5), (5, 34), (1, 3)] {
            let from = Shape { c: 1, h, w };
            let to = Shape {
                c: 1,
                h: h / 2,
                w: w / 2,
            };
            let mut state = 12345u32 ^ (h * 100 + w) as u32;
            let mut next = || {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                state >> 8
            };
            // Several levels, half of them clamped to zero as after a ReLU.
            let x: Vec<f32> = (0..h * w)
                .map(|_| (next() % 7) as f32 - 3.0)
                .map(|v: f32| v.max(0.0))
                .collect();
            let g: Vec<f32> = (0..to.h * to.w)
                .map(|_| next() as f32 / 1e6 + 0.5)
                .collect();

            let (mut fast, mut plain) = (vec![9.0; to.h * to.w], vec![7.0; to.h * to.w]);
            max_pool_plane(&x, &mut fast, from, to, (2, 2));
            max_pool_plane_any(&x, &mut plain, from, to, (2, 2));
            assert_eq!(bits(&fast), bits(&plain), "forward {h}×{w}");

            // Stale values in the gradient buffers: every element must be written.
            let (mut fast, mut plain) = (vec![9.0; h * w], vec![7.0; h * w]);
            max_pool_backward_plane(&x, &g, &mut fast, from, to, (2, 2));
            max_pool_backward_plane_any(&x, &g, &mut plain, from, to, (2, 2));
            assert_eq!(bits(&fast), bits(&plain), "backward {h}×{w}");
            // Every window's gradient landed once, on its first maximum.
            let sum: f32 = fast.iter().sum();
            assert!((sum - g.iter().sum::<f32>()).abs() < 1e-3, "{h}×{w}");
        }
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }
}
