//! The weight and bias gradients of a stride-1 k×k convolution over a batch laid out sample by
//! sample (as the training workspace keeps it), on a register-blocked kernel (AVX-512, or
//! AVX2+FMA): the companion of [`super::sample`]'s forward pass and input gradient.
//!
//! `∂L/∂w[o][c][t] = Σₙ Σ_q dy[n][o][q] · x[n][c][q + offset(t)]` over the zero-padded grid: `dy`
//! is laid on the padded grid's rows (zero in the columns past the output's width), `x` is the
//! zero-padded input, and tap `t` is `x` read shifted by its offset. Each register block holds
//! a few output channels × a few (input channel, tap) pairs as vector partial sums over the
//! positions, summed across a chunk of samples before they are reduced, so small planes
//! (16 positions) cost no more reductions than large ones: 4 × 6 sums of 16 lanes with
//! AVX-512, 3 × 3 of 8 lanes with AVX2 (9 sums, 3 gradient and 3 input vectors: 15 of the 16
//! registers, and the 8 independent sums two 4-cycle FMA pipes need to stay busy).
//!
//! Why: the reference unfolds every sample (im2col) and multiplies it with the `gemm` crate,
//! one GEMM per sample and tile; nothing is unfolded here. Where Winograd's F(2×2, 3×3) applies
//! (AVX-512, 3×3, pad 1, 8 or more input channels, planes 8 or more wide), training takes
//! [`super::winograd::weight_grad`] instead.

use std::cell::RefCell;

use super::blocked::Isa;
use super::{pad_sample, tap_offsets};
use crate::cpu::conv2d::sum_over_sample_groups;
use crate::net::Shape;

/// The instruction sets this CPU runs the kernel on, widest first (the tests run each): those
/// it runs ([`Isa::runs_here`]), AVX-512 only with VL too, which lets the compiler give the
/// block all 32 vector registers (with AVX512F alone it kept part of the 24 sums in memory;
/// every AVX-512 CPU but Xeon Phi has VL).
#[cfg(test)]
pub fn runnable() -> Vec<Isa> {
    Isa::ALL.into_iter().filter(|&isa| runs_on(isa)).collect()
}

/// The widest instruction set this CPU runs the kernel on, if any (no allocation: every
/// convolution's backward asks).
pub fn best() -> Option<Isa> {
    Isa::ALL.into_iter().find(|&isa| runs_on(isa))
}

/// Whether this CPU runs the kernel's `isa` form.
fn runs_on(isa: Isa) -> bool {
    #[cfg(target_arch = "x86_64")]
    let vl = std::arch::is_x86_feature_detected!("avx512vl");
    #[cfg(not(target_arch = "x86_64"))]
    let vl = false;
    isa.runs_here() && (isa != Isa::Avx512 || vl)
}

/// What a chunk of samples may take (padded inputs and gradients together): about L2.
const CHUNK_BYTES: usize = 768 * 1024;

thread_local! {
    /// A chunk's zero-padded inputs, each channel followed by a vector of zeros.
    static XP: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A chunk's output gradients on the padded grid's rows.
    static DYP: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether [`weight_grad`] runs here, on this CPU, for this geometry: where
/// [`super::sample::runs`] and the CPU has one of its forms ([`best`]).
pub fn runs(kernel: usize, stride: usize, pad: usize) -> bool {
    best().is_some() && super::sample::runs(kernel, stride, pad)
}

/// Output positions below which the AVX2 forms of this kernel and of
/// [`super::sample::input_grad`] are left to the reference's GEMMs: on 4×4 and 2×2 planes they
/// took 1.15–1.25× as long, on 8×8 0.96×, on 16×16 and 32×32 0.72–0.84× (64×64 network at
/// batch 32, 2 cores of a Zen 3).
const AVX2_MIN_PLANE: usize = 64;

/// Whether training takes [`weight_grad`] and [`super::sample::input_grad`] for this
/// convolution's backward pass: where they [`runs`], and on AVX2 only from [`AVX2_MIN_PLANE`]
/// output positions (AVX-512 takes every geometry they run).
pub fn preferred(kernel: usize, stride: usize, pad: usize, output: Shape) -> bool {
    runs(kernel, stride, pad)
        && (best() == Some(Isa::Avx512) || output.h * output.w >= AVX2_MIN_PLANE)
}

/// `dw` (`cout × cin × k × k`, PyTorch's layout) and `db` (`cout`) of a stride-1 convolution
/// with padding `pad`, summed over the batch: `x` is `batch × input`, `dy` `batch × output`.
/// Every element of `dw` and `db` is written; `parts` is scratch, as for
/// [`sum_over_sample_groups`], so the result does not depend on scheduling.
///
/// # Panics
/// If [`runs`] is false for this geometry, or the shapes do not match.
#[allow(clippy::too_many_arguments)] // the geometry, the two tensors and the three outputs
pub fn weight_grad(
    (k, pad): (usize, usize),
    x: &[f32],
    dy: &[f32],
    batch: usize,
    (input, output): (Shape, Shape),
    dw: &mut [f32],
    db: &mut [f32],
    parts: &mut Vec<f32>,
) {
    assert!(
        runs(k, 1, pad),
        "the kernel needs AVX2+FMA or AVX-512 (F and VL)"
    );
    let isa = best().expect("checked by runs");
    weight_grad_on(isa, (k, pad), x, dy, batch, (input, output), dw, db, parts);
}

/// [`weight_grad`] on the instruction set `isa`.
///
/// # Panics
/// As [`weight_grad`], and if this CPU does not run `isa`.
#[allow(clippy::too_many_arguments)] // as weight_grad
pub fn weight_grad_on(
    isa: Isa,
    (k, pad): (usize, usize),
    x: &[f32],
    dy: &[f32],
    batch: usize,
    (input, output): (Shape, Shape),
    dw: &mut [f32],
    db: &mut [f32],
    parts: &mut Vec<f32>,
) {
    assert!(runs_on(isa), "{isa:?} does not run on this CPU");
    assert_eq!(output.h, input.h + 2 * pad + 1 - k);
    assert_eq!(output.w, input.w + 2 * pad + 1 - k);
    let (cin, cout, taps) = (input.c, output.c, k * k);
    assert_eq!(x.len(), batch * input.len());
    assert_eq!(dy.len(), batch * output.len());
    assert_eq!((dw.len(), db.len()), (cout * cin * taps, cout));
    sum_over_sample_groups(batch, dw, db, parts, |samples, dw, db| {
        let geometry = (input, output);
        match isa {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => group((k, pad), x, dy, samples, geometry, dw, db, avx512::block),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => group((k, pad), x, dy, samples, geometry, dw, db, avx2::block),
            #[cfg(not(target_arch = "x86_64"))]
            _ => unreachable!("no instruction set of the kernel runs off x86-64"),
        }
    });
}

/// A register block over `samples` samples: `Σ_s Σ_q dy[s][row_i + q] · x[s][col_j + q]` for
/// `q < len` (a multiple of 16), with sample strides `dy_stride` and `x_stride`.
///
/// # Safety
/// Its instruction set must be available, and every element read must be inside the buffers.
type Block<const ROWS: usize, const PAIRS: usize> = unsafe fn(
    (*const f32, usize, [usize; ROWS]),
    (*const f32, usize, [usize; PAIRS]),
    usize,
    usize,
) -> [[f32; PAIRS]; ROWS];

/// One thread's samples, in chunks that fit [`CHUNK_BYTES`], added into `dw` and `db`, in
/// blocks of `ROWS` output channels × `PAIRS` (input channel, tap) pairs.
#[allow(clippy::too_many_arguments)] // as weight_grad, and the block
fn group<const ROWS: usize, const PAIRS: usize>(
    (k, pad): (usize, usize),
    x: &[f32],
    dy: &[f32],
    samples: std::ops::Range<usize>,
    (input, output): (Shape, Shape),
    dw: &mut [f32],
    db: &mut [f32],
    block: Block<ROWS, PAIRS>,
) {
    let (cin, cout, taps) = (input.c, output.c, k * k);
    let (hp, wp) = (input.h + 2 * pad, input.w + 2 * pad);
    let plane = hp * wp;
    // Positions from the first output to the last on the padded grid, rounded up to whole
    // vectors; the gradient is zero past the last, and every channel of the padded input has
    // a vector of zeros after it, so the last vector's taps read zeros or the next channel
    // times zero.
    let span = (output.h - 1) * wp + output.w;
    let len = span.next_multiple_of(16);
    let channel = plane + 16;
    let x_sample = cin * channel;
    let dy_sample = cout * len;
    let per_chunk = (CHUNK_BYTES / (4 * (x_sample + dy_sample))).max(1);
    let offsets = tap_offsets(k, wp);
    let pairs = cin * taps;
    XP.with_borrow_mut(|xp| {
        DYP.with_borrow_mut(|dyp| {
            let mut first = samples.start;
            while first < samples.end {
                let n = per_chunk.min(samples.end - first);
                xp.clear();
                xp.resize(n * x_sample, 0.0);
                dyp.clear();
                dyp.resize(n * dy_sample, 0.0);
                for s in 0..n {
                    let xn = &x[(first + s) * input.len()..][..input.len()];
                    let dst = &mut xp[s * x_sample..][..x_sample];
                    pad_sample(xn, (input.h, input.w), pad, channel, dst);
                    let dyn_ = &dy[(first + s) * output.len()..][..output.len()];
                    for (o, src) in dyn_.chunks_exact(output.h * output.w).enumerate() {
                        db[o] += crate::cpu::elementwise::sum(src);
                        for (r, row) in src.chunks_exact(output.w).enumerate() {
                            let at = s * dy_sample + o * len + r * wp;
                            dyp[at..at + output.w].copy_from_slice(row);
                        }
                    }
                }
                for ob in (0..cout).step_by(ROWS) {
                    // Rows past `cout` (and pairs past the last) repeat the last one and are
                    // dropped: at most one block per layer is partly wasted.
                    let rows: [usize; ROWS] = std::array::from_fn(|i| (ob + i).min(cout - 1) * len);
                    for p0 in (0..pairs).step_by(PAIRS) {
                        let cols: [usize; PAIRS] = std::array::from_fn(|j| {
                            let p = (p0 + j).min(pairs - 1);
                            p / taps * channel + offsets[p % taps]
                        });
                        // SAFETY: rows and columns start inside the chunk's first sample, and
                        // every vector read (`len` positions from each, in each of the `n`
                        // samples) stays inside it: `len` is within a gradient row, and a
                        // column's last vector within its channel and the zeros after it.
                        let sums = unsafe {
                            block(
                                (dyp.as_ptr(), dy_sample, rows),
                                (xp.as_ptr(), x_sample, cols),
                                n,
                                len,
                            )
                        };
                        for (i, row) in sums.iter().enumerate().take(cout - ob) {
                            let dw = &mut dw[(ob + i) * pairs..][..pairs];
                            for (d, s) in dw[p0..].iter_mut().zip(row) {
                                *d += s;
                            }
                        }
                    }
                }
                first += n;
            }
        });
    });
}

/// The blocks on AVX-512: 4 output channels × 6 pairs of 16 lanes.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    const ROWS: usize = 4;
    const PAIRS: usize = 6;

    /// A [`super::Block`].
    ///
    /// # Safety
    /// AVX-512F and VL must be available, and every element read must be inside the buffers.
    #[target_feature(enable = "avx512f,avx512vl")]
    pub unsafe fn block(
        (dy, dy_stride, rows): (*const f32, usize, [usize; ROWS]),
        (x, x_stride, cols): (*const f32, usize, [usize; PAIRS]),
        samples: usize,
        len: usize,
    ) -> [[f32; PAIRS]; ROWS] {
        let mut acc = [[_mm512_setzero_ps(); PAIRS]; ROWS];
        for s in 0..samples {
            let (dy, x) = (dy.wrapping_add(s * dy_stride), x.wrapping_add(s * x_stride));
            for q in (0..len).step_by(16) {
                // SAFETY: the caller's promise.
                let d: [__m512; ROWS] =
                    std::array::from_fn(|i| unsafe { _mm512_loadu_ps(dy.add(rows[i] + q)) });
                for j in 0..PAIRS {
                    // SAFETY: the caller's promise.
                    let xv = unsafe { _mm512_loadu_ps(x.add(cols[j] + q)) };
                    for i in 0..ROWS {
                        acc[i][j] = _mm512_fmadd_ps(d[i], xv, acc[i][j]);
                    }
                }
            }
        }
        // Reduced in plain loops: a closure borrowing `acc` made the compiler keep it in
        // memory, with a store after every FMA.
        let mut sums = [[0.0; PAIRS]; ROWS];
        for i in 0..ROWS {
            for j in 0..PAIRS {
                sums[i][j] = _mm512_reduce_add_ps(acc[i][j]);
            }
        }
        sums
    }
}

/// The blocks on AVX2+FMA: 3 output channels × 3 pairs of 8 lanes.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    const ROWS: usize = 3;
    const PAIRS: usize = 3;

    /// A [`super::Block`].
    ///
    /// # Safety
    /// AVX2 and FMA must be available, and every element read must be inside the buffers.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn block(
        (dy, dy_stride, rows): (*const f32, usize, [usize; ROWS]),
        (x, x_stride, cols): (*const f32, usize, [usize; PAIRS]),
        samples: usize,
        len: usize,
    ) -> [[f32; PAIRS]; ROWS] {
        let mut acc = [[_mm256_setzero_ps(); PAIRS]; ROWS];
        for s in 0..samples {
            let (dy, x) = (dy.wrapping_add(s * dy_stride), x.wrapping_add(s * x_stride));
            for q in (0..len).step_by(8) {
                // SAFETY: the caller's promise.
                let d: [__m256; ROWS] =
                    std::array::from_fn(|i| unsafe { _mm256_loadu_ps(dy.add(rows[i] + q)) });
                // SAFETY: the caller's promise.
                let xv: [__m256; PAIRS] =
                    std::array::from_fn(|j| unsafe { _mm256_loadu_ps(x.add(cols[j] + q)) });
                for i in 0..ROWS {
                    for j in 0..PAIRS {
                        acc[i][j] = _mm256_fmadd_ps(d[i], xv[j], acc[i][j]);
                    }
                }
            }
        }
        let mut sums = [[0.0; PAIRS]; ROWS];
        for i in 0..ROWS {
            for j in 0..PAIRS {
                let v = acc[i][j];
                let half = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
                let pair = _mm_add_ps(half, _mm_movehl_ps(half, half));
                sums[i][j] = _mm_cvtss_f32(_mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1)));
            }
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::conv2d::conv2d_backward;
    use crate::cpu::fast::conv::testing::{stride1, values};

    /// Against the reference backward on sizes that are not multiples of the blocks: channel
    /// counts that leave part of a row block and of a pair block, a 1-channel input, planes from
    /// 2×3 to wider than a chunk of samples holds, 3×3 and 5×5 kernels, padding 0 to 2, and
    /// batches that leave the threads uneven groups.
    #[test]
    fn matches_the_reference_on_odd_sizes() {
        if !runs(3, 1, 1) {
            eprintln!("no AVX2 or AVX-512 here: the kernel is not used on this CPU");
            return;
        }
        for isa in runnable() {
            matches_the_reference_on(isa);
        }
    }

    fn matches_the_reference_on(isa: Isa) {
        for (cin, cout, h, w, k, pad, batch) in [
            (1, 9, 23, 29, 3, 1, 3),
            (5, 13, 7, 11, 3, 1, 5),
            (3, 17, 9, 6, 3, 0, 2),
            (16, 8, 2, 3, 3, 1, 7),
            (4, 6, 12, 13, 5, 2, 1),
            (8, 4, 70, 75, 3, 1, 7),
        ] {
            let input = Shape::new(cin, h, w);
            let output = Shape::new(cout, h + 2 * pad + 1 - k, w + 2 * pad + 1 - k);
            let conv = stride1(cin, cout, k, pad, false);
            let x = values(batch * input.len(), 3);
            let wt = values(cout * cin * k * k, 5);
            let dy = values(batch * output.len(), 11);
            let want = conv2d_backward(&x, &dy, batch, input, output, &conv, &wt, false);
            let mut dw = vec![f32::NAN; wt.len()];
            let mut db = vec![f32::NAN; cout];
            let geometry = (input, output);
            weight_grad_on(
                isa,
                (k, pad),
                &x,
                &dy,
                batch,
                geometry,
                &mut dw,
                &mut db,
                &mut Vec::new(),
            );
            for (what, got, want) in [("dw", &dw, &want.dw), ("db", &db, &want.db)] {
                for (i, (g, e)) in got.iter().zip(want.iter()).enumerate() {
                    let tolerance = 1e-4 * (1.0 + e.abs());
                    assert!(
                        (g - e).abs() < tolerance,
                        "{isa:?} {conv:?} {what}[{i}]: {g} != {e}"
                    );
                }
            }
        }
    }
}
