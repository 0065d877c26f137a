//! The cheap ops on the CPU: pooling, upsampling, sums, per-channel maps, patches, concatenation.

use rayon::prelude::*;

use super::backward::CHUNK;
use crate::net::Shape;
use crate::net::lower::BN_EPS;

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

/// Nearest-neighbour upsampling by `factor`.
pub fn upsample(x: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * input.len() * factor * factor];
    upsample_into(x, input, factor, &mut y);
    y
}

/// [`upsample`] into `y`, planes in parallel.
pub fn upsample_into(x: &[f32], input: Shape, factor: usize, y: &mut [f32]) {
    let (oh, ow) = (input.h * factor, input.w * factor);
    let ip = input.h * input.w;
    y.par_chunks_mut(oh * ow).enumerate().for_each(|(nc, dst)| {
        let src = &x[nc * ip..][..ip];
        for (oy, row) in dst.chunks_mut(ow).enumerate() {
            let s = &src[(oy / factor) * input.w..][..input.w];
            for (d, v) in row.chunks_mut(factor).zip(s) {
                d.fill(*v);
            }
        }
    });
}

/// Element-wise sum.
pub fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; a.len()];
    add_into(a, b, &mut y);
    y
}

/// [`add`] into `y`.
pub fn add_into(a: &[f32], b: &[f32], y: &mut [f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)))
        .for_each(|(y, (a, b))| {
            for ((y, a), b) in y.iter_mut().zip(a).zip(b) {
                *y = a + b;
            }
        });
}

/// `y += x`.
pub fn add_assign(y: &mut [f32], x: &[f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(y, x)| *y += x));
}

/// `max(x, 0)`.
pub fn relu(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    relu_into(x, &mut y);
    y
}

/// [`relu`] into `y`.
pub fn relu_into(x: &[f32], y: &mut [f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(y, x)| *y = x.max(0.0)));
}

/// `y = x·scale[c] + shift[c]`, then ReLU if asked.
pub fn affine(x: &[f32], shape: Shape, scale: &[f32], shift: &[f32], relu: bool) -> Vec<f32> {
    let plane = shape.h * shape.w;
    x.chunks(plane)
        .enumerate()
        .flat_map(|(i, p)| {
            let c = i % shape.c;
            p.iter().map(move |v| {
                let y = v * scale[c] + shift[c];
                if relu { y.max(0.0) } else { y }
            })
        })
        .collect()
}

/// Batch norm with running statistics, by its definition (no folding).
pub fn batch_norm(
    x: &[f32],
    shape: Shape,
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    var: &[f32],
) -> Vec<f32> {
    let plane = shape.h * shape.w;
    x.chunks(plane)
        .enumerate()
        .flat_map(|(i, p)| {
            let c = i % shape.c;
            let inv = 1.0 / (var[c] + BN_EPS).sqrt();
            p.iter()
                .map(move |v| (v - mean[c]) * inv * gamma[c] + beta[c])
        })
        .collect()
}

/// The window `[y0, y0+h) × [x0, x0+w)` of every channel.
pub fn patch(
    x: &[f32],
    batch: usize,
    input: Shape,
    y0: usize,
    x0: usize,
    h: usize,
    w: usize,
) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * input.c * h * w];
    patch_into(x, input, (y0, x0, h, w), &mut y);
    y
}

/// [`patch`] into `y`; the window is `(y0, x0, h, w)`.
pub fn patch_into(
    x: &[f32],
    input: Shape,
    (y0, x0, h, w): (usize, usize, usize, usize),
    y: &mut [f32],
) {
    for (nc, dst) in y.chunks_mut(h * w).enumerate() {
        let src = &x[nc * input.h * input.w..][..input.h * input.w];
        for (row, d) in dst.chunks_mut(w).enumerate() {
            d.copy_from_slice(&src[(y0 + row) * input.w + x0..][..w]);
        }
    }
}

/// Concatenation of flattened per-sample tensors, sample by sample.
pub fn concat(parts: &[(&[f32], usize)], batch: usize) -> Vec<f32> {
    let total: usize = parts.iter().map(|(_, len)| len).sum();
    let mut y = vec![0.0f32; batch * total];
    concat_into(parts, &mut y);
    y
}

/// [`concat`] into `y` (`batch × Σ len`).
pub fn concat_into(parts: &[(&[f32], usize)], y: &mut [f32]) {
    let total: usize = parts.iter().map(|(_, len)| len).sum();
    for (n, dst) in y.chunks_mut(total).enumerate() {
        let mut offset = 0;
        for (data, len) in parts {
            dst[offset..offset + len].copy_from_slice(&data[n * len..(n + 1) * len]);
            offset += len;
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
