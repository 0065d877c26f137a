//! Convolution over a whole batch in the `Cnhw` layout, as GEMMs (the `gemm` crate's AVX-512,
//! AVX2+FMA, NEON or portable kernels, picked at run time) over tiles of output columns that the
//! threads share:
//!
//! - [`ConvMethod::Pointwise`]: `W[cout × cin] · X[cin × tile]`, reading the input in place.
//! - [`ConvMethod::Shifted`]: the input is zero-padded (a step of its own), and output position
//!   `q` of the padded grid is `Σ_taps W_tap · X[q + offset(tap)]`, so each tap is one GEMM over
//!   the same columns shifted, accumulated into a per-thread tile; the tile's valid positions
//!   (not the padding ring) are then written out. Nothing is unfolded.
//! - [`ConvMethod::Im2col`]: each tile's taps are unfolded into a per-thread buffer small enough
//!   for L2, then one GEMM with `K = cin·k·k`.
//!
//! Bias, the fused sum and ReLU are applied to the tile while it is still in cache.

use std::cell::RefCell;

use super::plan::{ConvMethod, ConvStep};
use super::team::{Out, Part};

/// Widest tile, in output columns: `576 × 256` f32 of im2col is 590 KB, and wider tiles fell off
/// the GEMM's fast regime on this machine's shapes (the crate blocks for the L3 it detects).
const MAX_TILE: usize = 256;

thread_local! {
    /// The im2col tile, or the shifted method's output tile.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Tiles of at most [`MAX_TILE`] columns (a multiple of 16, the widest vector) over `n` columns,
/// as many as a multiple of `threads` so no thread waits for another's extra tile.
fn tiling(n: usize, threads: usize) -> (usize, usize) {
    let per_thread = n.div_ceil(threads).div_ceil(MAX_TILE);
    let tile = n
        .div_ceil(threads * per_thread)
        .next_multiple_of(16)
        .clamp(16, MAX_TILE);
    (tile, n.div_ceil(tile))
}

/// One GEMM `dst = (read_dst ? dst : 0) + lhs · rhs`: `lhs` is `m × k` (row stride `lhs_rs`),
/// `rhs` is `k × n` (row stride `rhs_rs`), `dst` is `m × n` (row stride `dst_rs`).
///
/// # Safety
/// Every pointer must cover its matrix.
#[allow(clippy::too_many_arguments)] // three matrices and their strides
unsafe fn gemm_rows(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    read_dst: bool,
    lhs: *const f32,
    lhs_rs: usize,
    rhs: *const f32,
    rhs_rs: usize,
) {
    // SAFETY: the caller's promise.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            read_dst,
            lhs,
            1,
            lhs_rs as isize,
            rhs,
            1,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// This thread's part of `step` on a batch: `x` is the input (`cin × B·H·W`, padded for
/// [`ConvMethod::Shifted`]), `acc` the fused sum's other operand (`cout × B·Ho·Wo`), `y` the
/// output.
pub fn conv(step: &ConvStep, batch: usize, x: &[f32], acc: Option<&[f32]>, y: Out, part: Part) {
    assert_eq!(y.len(), step.to.c * batch * step.to.h * step.to.w);
    assert!(acc.is_none_or(|a| a.len() == y.len()));
    match step.method {
        ConvMethod::Shifted => shifted(step, batch, x, acc, y, part),
        ConvMethod::Pointwise | ConvMethod::Im2col => unfolded(step, batch, x, acc, y, part),
    }
}

/// Splits `cout` output channels into blocks when there are fewer tiles than threads.
fn row_blocks(cout: usize, tiles: usize, threads: usize) -> usize {
    if tiles >= threads {
        1
    } else {
        threads.div_ceil(tiles).min(cout.div_ceil(16))
    }
}

/// Pointwise and im2col convolutions: one GEMM per tile, straight into `y`.
fn unfolded(step: &ConvStep, batch: usize, x: &[f32], acc: Option<&[f32]>, y: Out, part: Part) {
    let (to, k) = (step.to, step.kernel);
    let taps = step.from.c * k * k;
    let n = batch * to.h * to.w;
    let cout = to.c;
    assert_eq!(x.len(), batch * step.from.len());
    let work = 2 * cout * taps * n;
    let threads = part.sharers(work);
    let (tile, tiles) = tiling(n, threads);
    let blocks = row_blocks(cout, tiles, threads);
    let rows = cout.div_ceil(blocks);

    for item in part.items(tiles * blocks, work) {
        let (t, r) = (item / blocks, item % blocks);
        let j0 = t * tile;
        let width = tile.min(n - j0);
        let o0 = r * rows;
        let m = rows.min(cout - o0);
        for o in o0..o0 + m {
            // SAFETY: items cover disjoint (rows, columns) blocks of `y`.
            let row = unsafe { y.slice(o * n + j0..o * n + j0 + width) };
            match acc {
                Some(a) => {
                    let b = step.bias[o];
                    for (d, s) in row.iter_mut().zip(&a[o * n + j0..][..width]) {
                        *d = s + b;
                    }
                }
                None => row.fill(step.bias[o]),
            }
        }
        // SAFETY: lhs is rows o0..o0+m of the cout × taps weights, rhs is taps × width with
        // the given row stride, dst is this item's m × width block of y (row stride n).
        let gemm = |rhs: *const f32, rhs_rs: usize| unsafe {
            gemm_rows(
                (m, width, taps),
                y.ptr().add(o0 * n + j0),
                n,
                true,
                step.weight.as_ptr().add(o0 * taps),
                taps,
                rhs,
                rhs_rs,
            )
        };
        if step.method == ConvMethod::Pointwise {
            gemm(x[j0..].as_ptr(), n);
        } else {
            SCRATCH.with_borrow_mut(|cols| {
                cols.resize(taps * width, 0.0);
                im2col(step, batch, x, j0, width, cols);
                gemm(cols.as_ptr(), width);
            });
        }
        if step.relu {
            for o in o0..o0 + m {
                // SAFETY: as above.
                let row = unsafe { y.slice(o * n + j0..o * n + j0 + width) };
                row.iter_mut().for_each(|v| *v = v.max(0.0));
            }
        }
    }
}

/// Stride-1 convolution over the zero-padded input: one GEMM per tap into a per-thread tile of
/// padded-grid positions, then the valid positions out to `y` with bias, sum and ReLU.
fn shifted(step: &ConvStep, batch: usize, x: &[f32], acc: Option<&[f32]>, y: Out, part: Part) {
    let (from, to, k, pad) = (step.from, step.to, step.kernel, step.pad);
    let (cin, cout) = (from.c, to.c);
    let (hp, wp) = (from.h + 2 * pad, from.w + 2 * pad);
    let plane = hp * wp;
    let np = batch * plane;
    assert_eq!(x.len(), cin * np);
    let n = batch * to.h * to.w;
    // Padded-grid positions from the first output to one past the last: every tap of every
    // position in between reads inside the padded batch.
    let first = pad * wp + pad;
    let end = (batch - 1) * plane + (to.h - 1 + pad) * wp + (to.w - 1 + pad) + 1;
    let span = end - first;
    let work = 2 * cout * cin * k * k * span;
    let threads = part.sharers(work);
    let (tile, tiles) = tiling(span, threads);
    let blocks = row_blocks(cout, tiles, threads);
    let rows = cout.div_ceil(blocks);

    for item in part.items(tiles * blocks, work) {
        let (t, r) = (item / blocks, item % blocks);
        let q0 = first + t * tile;
        let width = tile.min(end - q0);
        let o0 = r * rows;
        let m = rows.min(cout - o0);
        SCRATCH.with_borrow_mut(|out| {
            out.resize(m * width, 0.0);
            for tap in 0..k * k {
                let (ky, kx) = (tap / k, tap % k);
                let shift = ky * wp + kx; // offset of the tap from q − first
                // SAFETY: lhs is rows o0..o0+m of this tap's cout × cin matrix; rhs is cin rows
                // of `width` padded positions starting at q0 − first + shift, all inside the
                // padded batch (see `end`); dst is the m × width scratch tile.
                unsafe {
                    gemm_rows(
                        (m, width, cin),
                        out.as_mut_ptr(),
                        width,
                        tap > 0,
                        step.weight.as_ptr().add((tap * cout + o0) * cin),
                        cin,
                        x.as_ptr().add(q0 - first + shift),
                        np,
                    )
                }
            }
            // The tile's valid positions, one padded row segment at a time.
            let mut q = q0;
            while q < q0 + width {
                let (b, rest) = (q / plane, q % plane);
                let (py, px) = (rest / wp, rest % wp);
                let run_end = (q - px + wp).min(q0 + width); // end of this padded row in the tile
                if py < pad || py >= pad + to.h || px >= pad + to.w {
                    q = q - px + wp; // the padding ring: on to the next padded row
                    continue;
                }
                let lo = q.max(q - px + pad);
                let hi = run_end.min(q - px + pad + to.w);
                if lo < hi {
                    let (oy, ox) = (py - pad, lo - (q - px) - pad);
                    let at = b * to.h * to.w + oy * to.w + ox;
                    for o in o0..o0 + m {
                        let src = &out[(o - o0) * width + (lo - q0)..][..hi - lo];
                        // SAFETY: each output position belongs to exactly one tile, and rows
                        // o0..o0+m to this item.
                        let dst = unsafe { y.slice(o * n + at..o * n + at + (hi - lo)) };
                        let bias = step.bias[o];
                        match acc {
                            Some(a) => {
                                let add = &a[o * n + at..][..hi - lo];
                                for ((d, s), a) in dst.iter_mut().zip(src).zip(add) {
                                    let v = s + bias + a;
                                    *d = if step.relu { v.max(0.0) } else { v };
                                }
                            }
                            None => {
                                for (d, s) in dst.iter_mut().zip(src) {
                                    let v = s + bias;
                                    *d = if step.relu { v.max(0.0) } else { v };
                                }
                            }
                        }
                    }
                }
                q = run_end;
            }
        });
    }
}

/// Unfolds output columns `j0..j0+width` of a `Cnhw` batch into `cols`, a
/// `(cin·k·k) × width` matrix of input taps (zero outside the image).
pub fn im2col(step: &ConvStep, batch: usize, x: &[f32], j0: usize, width: usize, cols: &mut [f32]) {
    let (from, to) = (step.from, step.to);
    let (k, s, pad) = (step.kernel, step.stride, step.pad as isize);
    let plane = from.h * from.w;
    let opixels = to.h * to.w;
    for ic in 0..from.c {
        let channel = &x[ic * batch * plane..][..batch * plane];
        for ky in 0..k {
            for kx in 0..k {
                let row = &mut cols[((ic * k + ky) * k + kx) * width..][..width];
                // Walk the tile one output row at a time.
                let mut j = j0;
                while j < j0 + width {
                    let (b, p) = (j / opixels, j % opixels);
                    let (oy, ox0) = (p / to.w, p % to.w);
                    let run = (to.w - ox0).min(j0 + width - j);
                    let dst = &mut row[j - j0..][..run];
                    let iy = (oy * s + ky) as isize - pad;
                    if iy < 0 || iy >= from.h as isize {
                        dst.fill(0.0);
                    } else if s == 1 {
                        // Stride 1: the valid taps of the run are one contiguous copy.
                        let src = &channel[b * plane + iy as usize * from.w..][..from.w];
                        let shift = kx as isize - pad; // ix = ox + shift
                        let first = (-shift).clamp(ox0 as isize, (ox0 + run) as isize) as usize;
                        let end = (from.w as isize - shift)
                            .clamp(first as isize, (ox0 + run) as isize)
                            as usize;
                        dst[..first - ox0].fill(0.0);
                        dst[first - ox0..end - ox0].copy_from_slice(
                            &src[(first as isize + shift) as usize
                                ..(end as isize + shift) as usize],
                        );
                        dst[end - ox0..].fill(0.0);
                    } else {
                        let src = &channel[b * plane + iy as usize * from.w..][..from.w];
                        for (i, d) in dst.iter_mut().enumerate() {
                            let ix = ((ox0 + i) * s + kx) as isize - pad;
                            *d = if ix >= 0 && ix < from.w as isize {
                                src[ix as usize]
                            } else {
                                0.0
                            };
                        }
                    }
                    j += run;
                }
            }
        }
    }
}
