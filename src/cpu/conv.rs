//! Convolution on the CPU: im2col, then one SGEMM per sample ([`super::sgemm`]), samples in
//! parallel (rayon).

use rayon::prelude::*;

use crate::net::Shape;
use crate::net::program::Conv2d;

use super::sgemm::{Threads, sgemm};

/// `y = relu?(conv(x, w) + b)` for a batch; `x` is `batch × input`, the result `batch × output`.
pub fn conv2d(
    x: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    c: &Conv2d,
    w: &[f32],
    b: &[f32],
) -> Vec<f32> {
    let k = c.kernel;
    let taps = c.cin * k * k;
    let pixels = output.h * output.w;
    let pointwise = k == 1 && c.stride == 1 && c.pad == 0;
    let mut y = vec![0.0f32; batch * output.len()];
    y.par_chunks_mut(output.len())
        .enumerate()
        .for_each(|(n, yn)| {
            let xn = &x[n * input.len()..(n + 1) * input.len()];
            let cols_owned;
            let cols: &[f32] = if pointwise {
                xn
            } else {
                cols_owned = im2col(xn, input, output, c);
                &cols_owned
            };
            // SAFETY: the pointers cover `cout × taps`, `taps × pixels` and `cout × pixels` elements
            // with the row/column strides given, all within their slices.
            unsafe {
                sgemm(
                    (c.cout, taps, pixels),
                    1.0,
                    w.as_ptr(),
                    (taps as isize, 1),
                    cols.as_ptr(),
                    (pixels as isize, 1),
                    0.0,
                    yn.as_mut_ptr(),
                    (pixels as isize, 1),
                    Threads::One,
                );
            }
            for (o, plane) in yn.chunks_mut(pixels).enumerate() {
                for v in plane {
                    *v += b[o];
                    if c.relu && *v < 0.0 {
                        *v = 0.0;
                    }
                }
            }
        });
    y
}

/// Gradients of a convolution with respect to its input, weights and bias.
#[derive(Debug, Clone)]
pub struct ConvGrads {
    /// `∂L/∂x`, `batch × input` (empty when not asked for: the first layer's input is data).
    pub dx: Vec<f32>,
    /// `∂L/∂w`, `cout × cin × k × k`, summed over the batch.
    pub dw: Vec<f32>,
    /// `∂L/∂b`, `cout`, summed over the batch.
    pub db: Vec<f32>,
}

/// Backward of [`conv2d`] without a fused ReLU (the training form keeps ReLU separate):
/// `dw = Σₙ dyₙ · colsₙᵀ` and `dx = col2im(wᵀ · dyₙ)`, one SGEMM each per sample, samples in
/// parallel (each thread sums its own `dw`, then the partial sums are added).
#[allow(clippy::too_many_arguments)] // the op's geometry, its tensors and one switch
pub fn conv2d_backward(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    c: &Conv2d,
    w: &[f32],
    need_dx: bool,
) -> ConvGrads {
    assert!(
        !c.relu,
        "conv2d_backward expects the training form (no fused ReLU)"
    );
    let k = c.kernel;
    let taps = c.cin * k * k;
    let pixels = output.h * output.w;
    let pointwise = k == 1 && c.stride == 1 && c.pad == 0;
    let zeros = || (vec![0.0f32; c.cout * taps], vec![0.0f32; c.cout]);
    let (dw, db) = (0..batch)
        .into_par_iter()
        .fold(zeros, |(mut dw, mut db), n| {
            let xn = &x[n * input.len()..(n + 1) * input.len()];
            let dyn_ = &dy[n * output.len()..(n + 1) * output.len()];
            let cols_owned;
            let cols: &[f32] = if pointwise {
                xn
            } else {
                cols_owned = im2col(xn, input, output, c);
                &cols_owned
            };
            // SAFETY: dy is cout × pixels (row stride pixels), colsᵀ is read from the
            // taps × pixels matrix with swapped strides, dw is cout × taps; all in bounds.
            unsafe {
                sgemm(
                    (c.cout, pixels, taps),
                    1.0,
                    dyn_.as_ptr(),
                    (pixels as isize, 1),
                    cols.as_ptr(),
                    (1, pixels as isize),
                    1.0,
                    dw.as_mut_ptr(),
                    (taps as isize, 1),
                    Threads::One,
                );
            }
            for (o, plane) in dyn_.chunks(pixels).enumerate() {
                db[o] += plane.iter().sum::<f32>();
            }
            (dw, db)
        })
        .reduce(zeros, |(mut a, mut b), (c2, d)| {
            a.iter_mut().zip(&c2).for_each(|(a, c)| *a += c);
            b.iter_mut().zip(&d).for_each(|(b, d)| *b += d);
            (a, b)
        });
    let mut dx = Vec::new();
    if need_dx {
        dx = vec![0.0f32; batch * input.len()];
        dx.par_chunks_mut(input.len())
            .enumerate()
            .for_each(|(n, dxn)| {
                let dyn_ = &dy[n * output.len()..(n + 1) * output.len()];
                let mut cols_owned = Vec::new();
                let cols: &mut [f32] = if pointwise {
                    dxn
                } else {
                    cols_owned = vec![0.0f32; taps * pixels];
                    &mut cols_owned
                };
                // SAFETY: wᵀ is read from the cout × taps matrix with swapped strides, dy is
                // cout × pixels, cols is taps × pixels; all in bounds.
                unsafe {
                    sgemm(
                        (taps, c.cout, pixels),
                        1.0,
                        w.as_ptr(),
                        (1, taps as isize),
                        dyn_.as_ptr(),
                        (pixels as isize, 1),
                        0.0,
                        cols.as_mut_ptr(),
                        (pixels as isize, 1),
                        Threads::One,
                    );
                }
                if !pointwise {
                    col2im(&cols_owned, input, output, c, dxn);
                }
            });
    }
    ConvGrads { dx, dw, db }
}

/// The adjoint of [`im2col`]: adds every tap's gradient back onto the input pixel it read.
fn col2im(cols: &[f32], input: Shape, output: Shape, c: &Conv2d, dx: &mut [f32]) {
    let k = c.kernel;
    let pixels = output.h * output.w;
    for ic in 0..c.cin {
        let plane = &mut dx[ic * input.h * input.w..(ic + 1) * input.h * input.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = &cols[((ic * k + ky) * k + kx) * pixels..][..pixels];
                for oy in 0..output.h {
                    let iy = (oy * c.stride + ky) as isize - c.pad as isize;
                    if iy < 0 || iy >= input.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * input.w..][..input.w];
                    for ox in 0..output.w {
                        let ix = (ox * c.stride + kx) as isize - c.pad as isize;
                        if ix >= 0 && ix < input.w as isize {
                            dst[ix as usize] += row[oy * output.w + ox];
                        }
                    }
                }
            }
        }
    }
}

/// Unfolds one sample into a `(cin·k·k) × (hout·wout)` matrix of input taps (zeros outside).
fn im2col(x: &[f32], input: Shape, output: Shape, c: &Conv2d) -> Vec<f32> {
    let k = c.kernel;
    let pixels = output.h * output.w;
    let mut cols = vec![0.0f32; c.cin * k * k * pixels];
    for ic in 0..c.cin {
        let plane = &x[ic * input.h * input.w..(ic + 1) * input.h * input.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut cols[((ic * k + ky) * k + kx) * pixels..][..pixels];
                for oy in 0..output.h {
                    let iy = (oy * c.stride + ky) as isize - c.pad as isize;
                    if iy < 0 || iy >= input.h as isize {
                        continue;
                    }
                    let src = &plane[iy as usize * input.w..][..input.w];
                    for ox in 0..output.w {
                        let ix = (ox * c.stride + kx) as isize - c.pad as isize;
                        if ix >= 0 && ix < input.w as isize {
                            row[oy * output.w + ox] = src[ix as usize];
                        }
                    }
                }
            }
        }
    }
    cols
}

/// Direct convolution by the definition: the reference the im2col path is tested against.
pub fn conv2d_naive(
    x: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    c: &Conv2d,
    w: &[f32],
    b: &[f32],
) -> Vec<f32> {
    let k = c.kernel;
    let mut y = vec![0.0f32; batch * output.len()];
    for n in 0..batch {
        for o in 0..c.cout {
            for oy in 0..output.h {
                for ox in 0..output.w {
                    let mut acc = b[o] as f64;
                    for ic in 0..c.cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * c.stride + ky) as isize - c.pad as isize;
                                let ix = (ox * c.stride + kx) as isize - c.pad as isize;
                                if iy < 0
                                    || ix < 0
                                    || iy >= input.h as isize
                                    || ix >= input.w as isize
                                {
                                    continue;
                                }
                                let xv = x[n * input.len()
                                    + (ic * input.h + iy as usize) * input.w
                                    + ix as usize];
                                acc += (w[((o * c.cin + ic) * k + ky) * k + kx] * xv) as f64;
                            }
                        }
                    }
                    let v = if c.relu { acc.max(0.0) } else { acc };
                    y[n * output.len() + (o * output.h + oy) * output.w + ox] = v as f32;
                }
            }
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn im2col_gemm_matches_the_definition() {
        let mut seed = 7u32;
        let mut rnd = move || {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        for (cin, cout, h, w, k, stride, pad, relu) in [
            (3, 5, 7, 9, 3, 1, 1, true),
            (2, 3, 6, 5, 1, 1, 0, false),
            (4, 7, 11, 8, 3, 2, 0, true),
            (1, 2, 5, 5, 5, 1, 2, false),
        ] {
            let input = Shape::new(cin, h, w);
            let c = Conv2d {
                name: "c".into(),
                input: "x".into(),
                output: "y".into(),
                cin,
                cout,
                kernel: k,
                stride,
                pad,
                relu,
            };
            let output = Shape::new(
                cout,
                (h + 2 * pad - k) / stride + 1,
                (w + 2 * pad - k) / stride + 1,
            );
            let x: Vec<f32> = (0..2 * input.len()).map(|_| rnd()).collect();
            let wt: Vec<f32> = (0..cout * cin * k * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..cout).map(|_| rnd()).collect();
            let fast = conv2d(&x, 2, input, output, &c, &wt, &b);
            let slow = conv2d_naive(&x, 2, input, output, &c, &wt, &b);
            let diff = fast
                .iter()
                .zip(&slow)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "{cin}→{cout} {h}×{w} k{k}: max diff {diff}");
        }
    }
}
