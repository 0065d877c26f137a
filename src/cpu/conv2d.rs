//! Convolution on the CPU: im2col, then one SGEMM per sample ([`super::sgemm`]), samples in
//! parallel (rayon). The `_into` forms write into buffers the caller keeps (the trainer's
//! workspace); the others allocate their result.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::net::Shape;
use crate::net::program::Conv2d;

use super::sgemm::{Threads, sgemm};

thread_local! {
    /// Each thread's unfolded-input matrix, kept between calls: a fresh one per sample was
    /// tens of MB faulted in and zeroed by the kernel every time.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

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
    let mut y = vec![0.0f32; batch * output.len()];
    conv2d_into(x, batch, input, output, c, w, b, None, &mut y);
    y
}

/// [`conv2d`] into `y` (`batch × output`, every element written), plus `sum` (`batch × output`)
/// when given: a sum of this convolution's output and another tensor made in the same pass,
/// each value `relu?(conv + b) + sum` as the two ops apart would round it.
#[allow(clippy::too_many_arguments)] // the op's geometry, its tensors and the output
pub fn conv2d_into(
    x: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    c: &Conv2d,
    w: &[f32],
    b: &[f32],
    sum: Option<&[f32]>,
    y: &mut [f32],
) {
    let k = c.kernel;
    let taps = c.cin * k * k;
    let pixels = output.h * output.w;
    assert_eq!(y.len(), batch * output.len());
    assert!(sum.is_none_or(|s| s.len() == y.len()));
    y.par_chunks_mut(output.len())
        .enumerate()
        .for_each(|(n, yn)| {
            let xn = &x[n * input.len()..(n + 1) * input.len()];
            let sum_n = sum.map(|s| &s[n * output.len()..][..output.len()]);
            for_each_tile(xn, input, output, c, |at, width, cols, stride| {
                // SAFETY: W is cout × taps; cols is taps × width (row stride `stride`); the
                // destination is the tile's columns of yn's cout rows; all in bounds.
                unsafe {
                    sgemm(
                        (c.cout, taps, width),
                        1.0,
                        w.as_ptr(),
                        (taps as isize, 1),
                        cols.as_ptr(),
                        (stride as isize, 1),
                        0.0,
                        yn.as_mut_ptr().add(at),
                        (pixels as isize, 1),
                        Threads::One,
                    );
                }
            });
            // Bias, ReLU and the sum in one pass over each plane while it is in cache, the same
            // operations in the same order as three passes (which training's 1×1 convolutions
            // made: with one, alternating in one build on 2 cores of an Intel Xeon, those fused
            // into a sum took 0.88–0.93× the time at batch 32, a step's convolutions' forward
            // 22.0 → 21.3 ms at 64×64).
            for (o, plane) in yn.chunks_mut(pixels).enumerate() {
                let (b, relu) = (b[o], c.relu);
                match sum_n {
                    Some(s) => {
                        let s = &s[o * pixels..][..pixels];
                        for (v, s) in plane.iter_mut().zip(s) {
                            let biased = *v + b;
                            *v = if relu && biased < 0.0 { 0.0 } else { biased } + s;
                        }
                    }
                    None if relu => plane.iter_mut().for_each(|v| {
                        let biased = *v + b;
                        *v = if biased < 0.0 { 0.0 } else { biased };
                    }),
                    None => plane.iter_mut().for_each(|v| *v += b),
                }
            }
        });
}

/// Whether a convolution reads its input as the GEMM's right-hand side in place (1×1, stride
/// 1, no padding).
fn is_pointwise(c: &Conv2d) -> bool {
    c.kernel == 1 && c.stride == 1 && c.pad == 0
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

/// Where [`conv2d_backward_into`] writes: every element of each slice given.
#[derive(Debug)]
pub struct ConvGradsMut<'a> {
    /// `∂L/∂x`, `batch × input`, or `None` when not wanted.
    pub dx: Option<&'a mut [f32]>,
    /// `∂L/∂w`, `cout × cin × k × k`.
    pub dw: &'a mut [f32],
    /// `∂L/∂b`, `cout`.
    pub db: &'a mut [f32],
}

/// Backward of [`conv2d`] without a fused ReLU (the training form keeps ReLU separate).
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
    let mut dx = if need_dx {
        vec![0.0f32; batch * input.len()]
    } else {
        Vec::new()
    };
    let (mut dw, mut db) = (vec![0.0f32; w.len()], vec![0.0f32; c.cout]);
    let grads = ConvGradsMut {
        dx: need_dx.then_some(dx.as_mut_slice()),
        dw: &mut dw,
        db: &mut db,
    };
    conv2d_backward_into(x, dy, batch, input, output, c, w, grads, &mut Vec::new());
    ConvGrads { dx, dw, db }
}

/// Backward of [`conv2d`] into `grads`: `dw = Σₙ dyₙ · colsₙᵀ` and `dx = col2im(wᵀ · dyₙ)`, one
/// SGEMM each per sample. The samples are split into one contiguous group per thread, each
/// group summing its own `dw` and `db` into `parts` (scratch, resized here); the groups' sums
/// are then added in group order, so the result does not depend on scheduling.
#[allow(clippy::too_many_arguments)] // the op's geometry, its tensors and the outputs
pub fn conv2d_backward_into(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    input: Shape,
    output: Shape,
    c: &Conv2d,
    w: &[f32],
    grads: ConvGradsMut<'_>,
    parts: &mut Vec<f32>,
) {
    assert!(
        !c.relu,
        "conv2d_backward expects the training form (no fused ReLU)"
    );
    let k = c.kernel;
    let taps = c.cin * k * k;
    let pixels = output.h * output.w;
    let pointwise = is_pointwise(c);
    sum_over_sample_groups(batch, grads.dw, grads.db, parts, |samples, dw, db| {
        for n in samples {
            let xn = &x[n * input.len()..(n + 1) * input.len()];
            let dyn_ = &dy[n * output.len()..(n + 1) * output.len()];
            for_each_tile(xn, input, output, c, |at, width, cols, stride| {
                // SAFETY: dy's tile is cout × width (row stride pixels), colsᵀ is read from
                // the taps × width tile with swapped strides, dw is cout × taps; all in
                // bounds.
                unsafe {
                    sgemm(
                        (c.cout, width, taps),
                        1.0,
                        dyn_.as_ptr().add(at),
                        (pixels as isize, 1),
                        cols.as_ptr(),
                        (1, stride as isize),
                        1.0,
                        dw.as_mut_ptr(),
                        (taps as isize, 1),
                        Threads::One,
                    );
                }
            });
            for (o, plane) in dyn_.chunks(pixels).enumerate() {
                db[o] += crate::cpu::elementwise::sum(plane);
            }
        }
    });
    let Some(dx) = grads.dx else {
        return;
    };
    dx.par_chunks_mut(input.len())
        .enumerate()
        .for_each(|(n, dxn)| {
            let dyn_ = &dy[n * output.len()..(n + 1) * output.len()];
            if pointwise {
                // SAFETY: wᵀ is read from the cout × cin matrix with swapped strides, dy is
                // cout × pixels, dx is cin × pixels; all in bounds.
                unsafe {
                    sgemm(
                        (taps, c.cout, pixels),
                        1.0,
                        w.as_ptr(),
                        (1, taps as isize),
                        dyn_.as_ptr(),
                        (pixels as isize, 1),
                        0.0,
                        dxn.as_mut_ptr(),
                        (pixels as isize, 1),
                        Threads::One,
                    );
                }
                return;
            }
            dxn.fill(0.0);
            COLS.with_borrow_mut(|cols| {
                for rows in tiles(c, output) {
                    let (at, width) = (rows.start * output.w, rows.len() * output.w);
                    cols.resize(taps * width, 0.0);
                    // SAFETY: wᵀ is read from the cout × taps matrix with swapped strides, dy's
                    // tile is cout × width (row stride pixels), cols is taps × width; all in
                    // bounds.
                    unsafe {
                        sgemm(
                            (taps, c.cout, width),
                            1.0,
                            w.as_ptr(),
                            (1, taps as isize),
                            dyn_.as_ptr().add(at),
                            (pixels as isize, 1),
                            0.0,
                            cols.as_mut_ptr(),
                            (width as isize, 1),
                            Threads::One,
                        );
                    }
                    col2im(cols, input, output, c, rows, dxn);
                }
            });
        });
}

/// Sums a weight and bias gradient over a batch deterministically: the samples are split into
/// one contiguous group per thread, `f(samples, dw, db)` adds each group's gradients into its
/// own zeroed part of `parts` (resized here), and the parts are then added in group order into
/// `dw` and `db` (every element written), so the result does not depend on scheduling.
pub fn sum_over_sample_groups(
    batch: usize,
    dw: &mut [f32],
    db: &mut [f32],
    parts: &mut Vec<f32>,
    f: impl Fn(std::ops::Range<usize>, &mut [f32], &mut [f32]) + Sync,
) {
    let (wlen, part) = (dw.len(), dw.len() + db.len());
    let (groups, per_group) = sample_groups(batch);
    parts.resize(groups * part, 0.0);
    parts
        .par_chunks_mut(part)
        .enumerate()
        .for_each(|(g, sums)| {
            sums.fill(0.0);
            let (dw, db) = sums.split_at_mut(wlen);
            f(g * per_group..((g + 1) * per_group).min(batch), dw, db);
        });
    let parts = &parts[..groups * part];
    let dwdb = dw.par_iter_mut().chain(db.par_iter_mut());
    dwdb.enumerate().for_each(|(i, d)| {
        *d = parts.chunks(part).map(|p| p[i]).sum();
    });
}

/// How [`sum_over_sample_groups`] splits a batch: one contiguous group of samples per thread
/// (fewer for a small batch), `(groups, samples per group)`; the last groups may be short or
/// empty.
pub fn sample_groups(batch: usize) -> (usize, usize) {
    let groups = rayon::current_num_threads().clamp(1, batch.max(1));
    (groups, batch.div_ceil(groups))
}

/// Calls `f(at, width, cols, stride)` for each tile of output rows of one sample `xn`: the
/// tile's first output pixel, its pixel count, and its `cin·k·k × width` matrix of input taps
/// with row stride `stride` — unfolded into the thread's scratch, or for a 1×1 convolution the
/// input itself, read in place.
fn for_each_tile(
    xn: &[f32],
    input: Shape,
    output: Shape,
    c: &Conv2d,
    mut f: impl FnMut(usize, usize, &[f32], usize),
) {
    COLS.with_borrow_mut(|scratch| {
        for rows in tiles(c, output) {
            let (at, width) = (rows.start * output.w, rows.len() * output.w);
            if is_pointwise(c) {
                f(at, width, &xn[at..], output.h * output.w);
            } else {
                im2col(xn, input, output, c, rows, scratch);
                f(at, width, scratch, width);
            }
        }
    });
}

/// Output rows per tile of a convolution: the unfolded tile (`cin·k·k × rows·wout`) stays
/// within [`TILE_BYTES`] so it is written and read in cache. A 1×1 convolution reads its input
/// in place: one tile of every row.
fn tiles(c: &Conv2d, output: Shape) -> impl Iterator<Item = std::ops::Range<usize>> {
    let row_bytes = c.cin * c.kernel * c.kernel * output.w * size_of::<f32>();
    let rows = if is_pointwise(c) {
        output.h
    } else {
        (TILE_BYTES / row_bytes.max(1)).clamp(1, output.h.max(1))
    };
    (0..output.h)
        .step_by(rows)
        .map(move |r| r..(r + rows).min(output.h))
}

/// The most bytes of one unfolded tile: about half a core's L2 cache.
const TILE_BYTES: usize = 512 * 1024;

/// The adjoint of [`im2col`]: adds every tap's gradient of the output rows `rows` (`cols`,
/// `cin·k·k × rows·wout`) back onto the input pixel it read.
fn col2im(
    cols: &[f32],
    input: Shape,
    output: Shape,
    c: &Conv2d,
    rows: std::ops::Range<usize>,
    dx: &mut [f32],
) {
    let k = c.kernel;
    let width = rows.len() * output.w;
    for ic in 0..c.cin {
        let plane = &mut dx[ic * input.h * input.w..(ic + 1) * input.h * input.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = &cols[((ic * k + ky) * k + kx) * width..][..width];
                let (lo, hi) = valid_columns(kx, c, input.w, output.w);
                for oy in rows.clone() {
                    let Some(iy) = source(oy, ky, c, input.h) else {
                        continue;
                    };
                    let dst = &mut plane[iy * input.w..][..input.w];
                    let src = &row[(oy - rows.start) * output.w..][..output.w];
                    if c.stride == 1 {
                        let at = lo + kx - c.pad;
                        dst[at..at + hi - lo]
                            .iter_mut()
                            .zip(&src[lo..hi])
                            .for_each(|(d, s)| *d += s);
                    } else {
                        for ox in lo..hi {
                            dst[ox * c.stride + kx - c.pad] += src[ox];
                        }
                    }
                }
            }
        }
    }
}

/// The input row output row `oy` reads at kernel row `ky`, if inside the input.
fn source(oy: usize, ky: usize, c: &Conv2d, height: usize) -> Option<usize> {
    let iy = (oy * c.stride + ky).checked_sub(c.pad)?;
    (iy < height).then_some(iy)
}

/// The output columns `[lo, hi)` whose kernel column `kx` reads inside an input row of `width`.
fn valid_columns(kx: usize, c: &Conv2d, width: usize, out_width: usize) -> (usize, usize) {
    // ox·stride + kx − pad ≥ 0  and  ox·stride + kx − pad < width.
    let lo = c.pad.saturating_sub(kx).div_ceil(c.stride);
    let hi = if width + c.pad > kx {
        (width + c.pad - kx).div_ceil(c.stride).min(out_width)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Unfolds the output rows `rows` of one sample into `cols`, a `(cin·k·k) × (rows·wout)`
/// matrix of input taps (zeros outside), resized to fit and every element written.
fn im2col(
    x: &[f32],
    input: Shape,
    output: Shape,
    c: &Conv2d,
    rows: std::ops::Range<usize>,
    cols: &mut Vec<f32>,
) {
    let k = c.kernel;
    let width = rows.len() * output.w;
    cols.resize(c.cin * k * k * width, 0.0);
    for ic in 0..c.cin {
        let plane = &x[ic * input.h * input.w..(ic + 1) * input.h * input.w];
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut cols[((ic * k + ky) * k + kx) * width..][..width];
                let (lo, hi) = valid_columns(kx, c, input.w, output.w);
                for oy in rows.clone() {
                    let dst = &mut row[(oy - rows.start) * output.w..][..output.w];
                    let Some(iy) = source(oy, ky, c, input.h) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let src = &plane[iy * input.w..][..input.w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    if c.stride == 1 {
                        let at = lo + kx - c.pad;
                        dst[lo..hi].copy_from_slice(&src[at..at + hi - lo]);
                    } else {
                        for ox in lo..hi {
                            dst[ox] = src[ox * c.stride + kx - c.pad];
                        }
                    }
                }
            }
        }
    }
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
    use crate::cpu::fast::conv::testing::strided;

    #[test]
    fn im2col_gemm_matches_the_definition() {
        let mut rnd = crate::cpu::testing::centred(7);
        for (cin, cout, h, w, k, stride, pad, relu) in [
            (3, 5, 7, 9, 3, 1, 1, true),
            (2, 3, 6, 5, 1, 1, 0, false),
            (4, 7, 11, 8, 3, 2, 0, true),
            (1, 2, 5, 5, 5, 1, 2, false),
            // Rows of 230 KB unfolded: tiles of two output rows, the last one short.
            (64, 3, 7, 100, 3, 1, 1, true),
            // Strided, 85 KB a row: tiles of six rows.
            (40, 2, 30, 120, 3, 2, 0, false),
        ] {
            let input = Shape::new(cin, h, w);
            let c = Conv2d {
                relu,
                ..strided(cin, cout, k, stride, pad)
            };
            let output = Shape::new(
                cout,
                (h + 2 * pad - k) / stride + 1,
                (w + 2 * pad - k) / stride + 1,
            );
            let x: Vec<f32> = (0..2 * input.len()).map(|_| rnd()).collect();
            let wt: Vec<f32> = (0..cout * cin * k * k).map(|_| rnd()).collect();
            let b: Vec<f32> = (0..cout).map(|_| rnd()).collect();
            if cin >= 40 {
                assert!(
                    tiles(&c, output).count() >= 3,
                    "{cin}→{cout}: split into tiles"
                );
            }
            let fast = conv2d(&x, 2, input, output, &c, &wt, &b);
            let slow = conv2d_naive(&x, 2, input, output, &c, &wt, &b);
            let diff = fast
                .iter()
                .zip(&slow)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "{cin}→{cout} {h}×{w} k{k}: max diff {diff}");
            // A sum made in the same pass: bit for bit the output plus the other, every sample.
            let other: Vec<f32> = (0..fast.len()).map(|_| rnd()).collect();
            let mut summed = vec![f32::NAN; fast.len()];
            conv2d_into(&x, 2, input, output, &c, &wt, &b, Some(&other), &mut summed);
            let plain: Vec<f32> = fast.iter().zip(&other).map(|(f, o)| f + o).collect();
            assert_eq!(summed, plain, "{cin}→{cout} {h}×{w} k{k} with a sum");
        }
    }

    #[test]
    fn pointwise_backward_matches_the_definition_on_any_thread_count() {
        // Batch 5 over 1, 2 and 4 threads: groups of 5, 3 + 2, and 2 + 2 + 1 + an empty one.
        let mut rnd = crate::cpu::testing::centred(11);
        let (cin, cout, h, w, batch) = (3, 5, 3, 7, 5);
        let (input, output) = (Shape::new(cin, h, w), Shape::new(cout, h, w));
        let c = strided(cin, cout, 1, 1, 0);
        let x: Vec<f32> = (0..batch * input.len()).map(|_| rnd()).collect();
        let dy: Vec<f32> = (0..batch * output.len()).map(|_| rnd()).collect();
        let wt: Vec<f32> = (0..cout * cin).map(|_| rnd()).collect();
        let pixels = h * w;
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; wt.len()], vec![0.0; cout]);
        for n in 0..batch {
            for o in 0..cout {
                for q in 0..pixels {
                    let g = dy[(n * cout + o) * pixels + q];
                    db[o] += g;
                    for i in 0..cin {
                        dx[(n * cin + i) * pixels + q] += wt[o * cin + i] * g;
                        dw[o * cin + i] += g * x[(n * cin + i) * pixels + q];
                    }
                }
            }
        }
        for threads in [1, 2, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got =
                pool.install(|| conv2d_backward(&x, &dy, batch, input, output, &c, &wt, true));
            for (what, got, want) in [
                ("dx", &got.dx, &dx),
                ("dw", &got.dw, &dw),
                ("db", &got.db, &db),
            ] {
                assert_eq!(got.len(), want.len());
                for (i, (g, e)) in got.iter().zip(want.iter()).enumerate() {
                    assert!(
                        (g - e).abs() < 1e-5,
                        "{threads} threads, {what}[{i}]: {g} != {e}"
                    );
                }
            }
        }
    }
}
