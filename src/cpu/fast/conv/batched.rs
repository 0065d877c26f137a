//! Training's convolutions on small planes (the hourglass's innermost levels: 2×2 and 4×4
//! pixels in the 64×64 network) as one GEMM over the whole batch instead of one per sample.
//!
//! Why: training keeps a batch sample by sample (`N × C × H × W`), so a convolution is a GEMM
//! per sample whose columns are that sample's pixels: 4 or 16 of them on these planes, too few
//! for any kernel to fill its registers (the 3×3 ones ran at 26–29 GFLOP/s on 2×2 planes and
//! 68–75 on 4×4, against 170 on 16×16; 64×64 network, batch 32, 2 cores of a Zen 4). Here
//! every sample's taps are unfolded side by side into one `cin·k·k × N·H·W` matrix, so each
//! pass is one product with `N·H·W` columns (or, for the weight gradient, that many terms a
//! sum). The unfolding (a table lookup per value: rows of two or four pixels cost more to walk
//! than to copy), and the gathering and scattering between the two layouts, copy a few hundred
//! KB: small next to the products at these sizes.
//!
//! Each thread takes one contiguous group of samples through all of it (unfold, one
//! single-threaded GEMM a pass, and back), so a pass is one parallel region: with a region per
//! step the 1×1 layers on these planes spent more time starting threads than multiplying. The
//! weight gradients' per-group sums are added in group order, so for a given thread count the
//! results do not depend on scheduling.

use std::cell::RefCell;

use rayon::prelude::*;

use crate::cpu::conv2d::{ConvGradsMut, sample_groups, sum_over_sample_groups};
use crate::cpu::fast::team::Out;
use crate::cpu::sgemm::{Threads, sgemm};
use crate::net::Shape;
use crate::net::program::Conv2d;

/// The most output pixels a plane may have to be taken here.
const MAX_PIXELS: usize = 16;

/// The most output pixels of a 1×1 convolution's plane for [`forward`] to be taken.
const MAX_POINTWISE_PIXELS: usize = 4;

/// Whether training takes [`forward`] for convolution `c` with output `output`: a k×k one on
/// planes of at most [`MAX_PIXELS`] pixels, a 1×1 one on at most [`MAX_POINTWISE_PIXELS`].
/// Measured per layer (64×64 network, batch 32, 2 cores of a Zen 4, both paths in one build):
/// the 3×3 forward took 0.28–0.29× the time of the per-sample kernel on 2×2 planes and
/// 0.57–0.66× on 4×4, but 1.04–1.12× on 8×8; the 1×1 forward 0.42–0.66× on 2×2 planes and
/// 0.97–1.71× on 4×4, where a sample's 16 columns already fill the GEMM's registers.
pub fn preferred_forward(c: &Conv2d, output: Shape) -> bool {
    let pixels = output.h * output.w;
    pixels <= MAX_POINTWISE_PIXELS || (c.kernel > 1 && pixels <= MAX_PIXELS)
}

/// Whether training takes [`backward`] for convolution `c` with output `output`: a k×k one on
/// planes of at most [`MAX_PIXELS`] pixels. Measured as for [`preferred_forward`]: the 3×3
/// backward took 0.43–0.52× the time of the per-sample kernels on 2×2 planes, 0.79–0.85× on
/// 4×4 and 1.20–1.22× on 8×8; the 1×1 backward 0.90–1.01× on 2×2 and 1.07–1.73× on 4×4.
pub fn preferred_backward(c: &Conv2d, output: Shape) -> bool {
    c.kernel > 1 && output.h * output.w <= MAX_PIXELS
}

thread_local! {
    /// The unfolded batch, `cin·k·k × N·H·W` (its gradient in the backward).
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The output, or its gradient, as one `cout × N·H·W` matrix.
    static WIDE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Marks a tap that reads the padding in a [`sources`] table.
const PADDING: u32 = u32::MAX;

/// For each kernel tap and output pixel (`taps × pixels`, tap-major), the input pixel it reads
/// within its channel's plane, or [`PADDING`]: the unfolding and its adjoint as table lookups,
/// which on planes of a few pixels cost far less than walking rows of two or four values.
fn sources((input, output): (Shape, Shape), c: &Conv2d) -> Vec<u32> {
    let k = c.kernel;
    let mut table = Vec::with_capacity(k * k * output.h * output.w);
    for ky in 0..k {
        for kx in 0..k {
            for oy in 0..output.h {
                for ox in 0..output.w {
                    let iy = (oy * c.stride + ky)
                        .checked_sub(c.pad)
                        .filter(|&v| v < input.h);
                    let ix = (ox * c.stride + kx)
                        .checked_sub(c.pad)
                        .filter(|&v| v < input.w);
                    table.push(match (iy, ix) {
                        (Some(iy), Some(ix)) => (iy * input.w + ix) as u32,
                        _ => PADDING,
                    });
                }
            }
        }
    }
    table
}

/// A convolution's geometry as this module uses it.
#[derive(Clone, Copy)]
struct Geometry<'a> {
    input: Shape,
    c: &'a Conv2d,
    /// `cin·k·k`: the rows of the unfolded matrix.
    k: usize,
    /// Output pixels of one sample's plane.
    pixels: usize,
}

impl<'a> Geometry<'a> {
    fn new(input: Shape, output: Shape, c: &'a Conv2d) -> Self {
        let k = c.cin * c.kernel * c.kernel;
        let pixels = output.h * output.w;
        Geometry {
            input,
            c,
            k,
            pixels,
        }
    }
}

/// Unfolds the samples of `x` (`samples × input`) side by side into `cols`, a
/// `cin·k·k × samples·pixels` matrix (resized; every element written): sample `n`'s output
/// pixels are columns `n·pixels..(n + 1)·pixels`.
fn unfold(x: &[f32], g: Geometry, table: &[u32], cols: &mut Vec<f32>) {
    let samples = x.len() / g.input.len();
    let (taps, wide) = (g.c.kernel * g.c.kernel, samples * g.pixels);
    let plane_len = g.input.h * g.input.w;
    cols.resize(g.k * wide, 0.0);
    for (ic, rows) in cols.chunks_mut(taps * wide).enumerate() {
        for n in 0..samples {
            let plane = &x[n * g.input.len() + ic * plane_len..][..plane_len];
            for (tap, from) in table.chunks(g.pixels).enumerate() {
                let dst = &mut rows[tap * wide + n * g.pixels..][..g.pixels];
                for (d, &i) in dst.iter_mut().zip(from) {
                    *d = if i == PADDING { 0.0 } else { plane[i as usize] };
                }
            }
        }
    }
}

/// The adjoint of [`unfold`]: `dx` (`samples × input`, every element written) is the sum,
/// onto each input pixel, of the columns of `d_cols` (`cin·k·k × samples·pixels`) that read
/// it, added in tap and pixel order.
fn fold(d_cols: &[f32], g: Geometry, table: &[u32], dx: &mut [f32]) {
    let samples = dx.len() / g.input.len();
    let (taps, wide) = (g.c.kernel * g.c.kernel, samples * g.pixels);
    let plane_len = g.input.h * g.input.w;
    dx.fill(0.0);
    for (n, dxn) in dx.chunks_mut(g.input.len()).enumerate() {
        for (ic, plane) in dxn.chunks_mut(plane_len).enumerate() {
            for (tap, to) in table.chunks(g.pixels).enumerate() {
                let src = &d_cols[(ic * taps + tap) * wide + n * g.pixels..][..g.pixels];
                for (s, &i) in src.iter().zip(to) {
                    if i != PADDING {
                        plane[i as usize] += s;
                    }
                }
            }
        }
    }
}

/// `y = relu?(conv(x, w) + b)` for a batch laid out sample by sample (`x` is `batch × input`,
/// `y` `batch × output`, every element written); `w` is `cout × cin × k × k`. With `sum`
/// (`batch × output`), `y = relu?(conv(x, w) + b) + sum`, rounded as the two ops apart. Each
/// thread takes one group of samples: unfolds them, one GEMM, and writes their outputs.
#[allow(clippy::too_many_arguments)] // the op's geometry, its tensors and the output
pub fn forward(
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
    let g = Geometry::new(input, output, c);
    assert_eq!(x.len(), batch * input.len());
    assert_eq!(y.len(), batch * output.len());
    assert_eq!((w.len(), b.len()), (c.cout * g.k, c.cout));
    assert!(sum.is_none_or(|s| s.len() == y.len()));
    if batch == 0 {
        return;
    }
    let table = sources((input, output), c);
    let (_, per) = sample_groups(batch);
    y.par_chunks_mut(per * output.len())
        .zip(x.par_chunks(per * input.len()))
        .enumerate()
        .for_each(|(group, (y, x))| {
            let sum = sum.map(|s| &s[group * per * output.len()..][..y.len()]);
            COLS.with_borrow_mut(|cols| {
                WIDE.with_borrow_mut(|product| {
                    let samples = x.len() / input.len();
                    let wide = samples * g.pixels;
                    unfold(x, g, &table, cols);
                    product.resize(c.cout * wide, 0.0);
                    // SAFETY: W is cout × k, the unfolded group k × wide, the product
                    // cout × wide, each contiguous and in bounds.
                    unsafe {
                        sgemm(
                            (c.cout, g.k, wide),
                            1.0,
                            w.as_ptr(),
                            (g.k as isize, 1),
                            cols.as_ptr(),
                            (wide as isize, 1),
                            0.0,
                            product.as_mut_ptr(),
                            (wide as isize, 1),
                            Threads::One,
                        );
                    }
                    for (n, yn) in y.chunks_mut(output.len()).enumerate() {
                        for (o, plane) in yn.chunks_mut(g.pixels).enumerate() {
                            let src = &product[o * wide + n * g.pixels..][..g.pixels];
                            for (v, s) in plane.iter_mut().zip(src) {
                                let v1 = s + b[o];
                                *v = if c.relu { v1.max(0.0) } else { v1 };
                            }
                            if let Some(sum) = sum {
                                let at = n * output.len() + o * g.pixels;
                                let sum = &sum[at..][..g.pixels];
                                plane.iter_mut().zip(sum).for_each(|(v, s)| *v += s);
                            }
                        }
                    }
                })
            })
        });
}

/// Backward of [`forward`] (the training form: no fused ReLU), each thread on one group of
/// samples: `dY`, the group's output gradient gathered into one `cout × samples·pixels`
/// matrix; the group's `dw = dY·colsᵀ` and `db` (the sums of `dY`'s rows) into its own part of
/// `parts` (scratch, resized here), the parts then added in group order; and, when asked for,
/// the group's `dx = fold(Wᵀ·dY)`. Every element of the given outputs written.
#[allow(clippy::too_many_arguments)] // the op's geometry, its tensors, the outputs, scratch
pub fn backward(
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
        "batched::backward expects the training form (no fused ReLU)"
    );
    let g = Geometry::new(input, output, c);
    assert_eq!(x.len(), batch * input.len());
    assert_eq!(dy.len(), batch * output.len());
    assert_eq!(w.len(), c.cout * g.k);
    assert_eq!((grads.dw.len(), grads.db.len()), (c.cout * g.k, c.cout));
    let table = sources((input, output), c);
    let dx = grads.dx.map(|dx| {
        assert_eq!(dx.len(), batch * input.len());
        Out::new(dx)
    });
    sum_over_sample_groups(batch, grads.dw, grads.db, parts, |samples, dw, db| {
        if samples.is_empty() {
            return;
        }
        let x = &x[samples.start * input.len()..samples.end * input.len()];
        let dy = &dy[samples.start * output.len()..samples.end * output.len()];
        let wide = samples.len() * g.pixels;
        COLS.with_borrow_mut(|cols| {
            WIDE.with_borrow_mut(|d_wide| {
                d_wide.resize(c.cout * wide, 0.0);
                for (o, (row, db)) in d_wide.chunks_mut(wide).zip(db).enumerate() {
                    for (n, dst) in row.chunks_mut(g.pixels).enumerate() {
                        dst.copy_from_slice(&dy[n * output.len() + o * g.pixels..][..g.pixels]);
                    }
                    *db = row.iter().sum();
                }
                unfold(x, g, &table, cols);
                // SAFETY: dY is cout × wide, colsᵀ is read from the k × wide matrix with
                // swapped strides, dw is cout × k; all contiguous and in bounds.
                unsafe {
                    sgemm(
                        (c.cout, wide, g.k),
                        1.0,
                        d_wide.as_ptr(),
                        (wide as isize, 1),
                        cols.as_ptr(),
                        (1, wide as isize),
                        0.0,
                        dw.as_mut_ptr(),
                        (g.k as isize, 1),
                        Threads::One,
                    );
                }
                let Some(dx) = dx else {
                    return;
                };
                // The unfolded input is read; its buffer now takes the unfolded gradient.
                // SAFETY: Wᵀ is read from the cout × k matrix with swapped strides, dY is
                // cout × wide, the unfolded gradient k × wide; all contiguous and in bounds.
                unsafe {
                    sgemm(
                        (g.k, c.cout, wide),
                        1.0,
                        w.as_ptr(),
                        (1, g.k as isize),
                        d_wide.as_ptr(),
                        (wide as isize, 1),
                        0.0,
                        cols.as_mut_ptr(),
                        (wide as isize, 1),
                        Threads::One,
                    );
                }
                // SAFETY: the groups' samples are disjoint, so is their part of dx.
                let dx = unsafe {
                    std::slice::from_raw_parts_mut(
                        dx.ptr().add(samples.start * input.len()),
                        samples.len() * input.len(),
                    )
                };
                fold(cols, g, &table, dx);
            })
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::conv2d::{conv2d_backward, conv2d_naive};
    use crate::cpu::fast::conv::testing::{strided, values};

    /// Forward (with and without ReLU) against the definition, and backward against the
    /// reference (im2col + a GEMM per sample), on odd channel counts and plane sizes, 1×1, 3×3
    /// and 5×5 kernels, strides 1 and 2, padding 0 to 2; every output written over NaNs.
    #[test]
    fn matches_the_reference_on_odd_sizes() {
        // One to four groups of samples, some of them short or empty.
        for threads in [1, 2, 3, 4] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(check_odd_sizes);
        }
    }

    fn check_odd_sizes() {
        for (cin, cout, h, w, kernel, stride, pad) in [
            (5, 7, 2, 2, 3, 1, 1),
            (3, 9, 4, 4, 1, 1, 0),
            (6, 5, 3, 5, 3, 1, 1),
            (1, 3, 1, 1, 3, 1, 1),
            (4, 11, 5, 3, 3, 2, 1),
            (2, 6, 4, 3, 5, 1, 2),
            (7, 4, 5, 4, 3, 1, 0),
        ] {
            let mut c = strided(cin, cout, kernel, stride, pad);
            let input = Shape::new(cin, h, w);
            let output = Shape::new(
                cout,
                (h + 2 * pad - kernel) / stride + 1,
                (w + 2 * pad - kernel) / stride + 1,
            );
            for batch in [1, 3, 5, 8] {
                let x = values(batch * input.len(), 3);
                let wt = values(cout * cin * kernel * kernel, 5);
                let b = values(cout, 7);
                for relu in [false, true] {
                    c.relu = relu;
                    let want = conv2d_naive(&x, batch, input, output, &c, &wt, &b);
                    let mut got = vec![f32::NAN; want.len()];
                    forward(&x, batch, input, output, &c, &wt, &b, None, &mut got);
                    for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                        assert!((g - e).abs() < 1e-5, "{c:?} forward [{i}]: {g} != {e}");
                    }
                    // A sum made in the same pass: bit for bit the output plus the other.
                    let other = values(want.len(), 13);
                    let plain: Vec<f32> = got.iter().zip(&other).map(|(g, o)| g + o).collect();
                    let mut summed = vec![f32::NAN; want.len()];
                    let sum = Some(other.as_slice());
                    forward(&x, batch, input, output, &c, &wt, &b, sum, &mut summed);
                    assert_eq!(summed, plain, "{c:?} with a sum, batch {batch}");
                }
                c.relu = false;
                let dy = values(batch * output.len(), 11);
                let want = conv2d_backward(&x, &dy, batch, input, output, &c, &wt, true);
                let mut dx = vec![f32::NAN; want.dx.len()];
                let mut dw = vec![f32::NAN; want.dw.len()];
                let mut db = vec![f32::NAN; want.db.len()];
                let grads = ConvGradsMut {
                    dx: Some(&mut dx),
                    dw: &mut dw,
                    db: &mut db,
                };
                backward(
                    &x,
                    &dy,
                    batch,
                    input,
                    output,
                    &c,
                    &wt,
                    grads,
                    &mut Vec::new(),
                );
                for (what, got, want) in [
                    ("dx", &dx, &want.dx),
                    ("dw", &dw, &want.dw),
                    ("db", &db, &want.db),
                ] {
                    for (i, (g, e)) in got.iter().zip(want).enumerate() {
                        assert!(
                            (g - e).abs() < 1e-4,
                            "{c:?} batch {batch} {what} [{i}]: {g} != {e}"
                        );
                    }
                }
                // Without dx: the weight gradients alone are the same.
                let mut dw2 = vec![f32::NAN; dw.len()];
                let mut db2 = vec![f32::NAN; db.len()];
                let grads = ConvGradsMut {
                    dx: None,
                    dw: &mut dw2,
                    db: &mut db2,
                };
                backward(
                    &x,
                    &dy,
                    batch,
                    input,
                    output,
                    &c,
                    &wt,
                    grads,
                    &mut Vec::new(),
                );
                assert_eq!((dw2, db2), (dw, db), "{c:?}: dw and db without dx");
            }
        }
    }
}
