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
    if window != (2, 2) {
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

/// Backward of max pooling on one plane (`dst` all written), `window` = (kernel, stride);
/// overlapping windows add up. (A branch-free 2×2 path like the forward's was measured no
/// faster: this pass is bound by memory.)
fn max_pool_backward_plane(
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2×2 path against the plain loop, bit for bit, on odd sizes (a last row and column in
    /// no window) and on values with many ties (ReLU outputs: zeros).
    #[test]
    fn the_two_by_two_pooling_path_matches_the_plain_loop() {
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
            // Stale values in the outputs: every element must be written.
            let (mut fast, mut plain) = (vec![9.0; to.h * to.w], vec![7.0; to.h * to.w]);
            max_pool_plane(&x, &mut fast, from, to, (2, 2));
            max_pool_plane_any(&x, &mut plain, from, to, (2, 2));
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&plain), "{h}×{w}");
        }
    }
}
