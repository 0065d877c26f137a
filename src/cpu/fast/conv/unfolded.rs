//! [`ConvMethod::Pointwise`](crate::cpu::fast::plan::ConvMethod::Pointwise) and
//! [`ConvMethod::Im2col`](crate::cpu::fast::plan::ConvMethod::Im2col): one GEMM per tile, straight
//! into the output; or, for a pointwise convolution with a 2×2 pooling fused, into a per-thread
//! tile of whole row pairs that is pooled on its way out.

use super::blocked::{self, Epilogue, Operands, Packed};
use super::{MAX_TILE, POINTWISE_GEMM_MAX_TILE, SCRATCH, finish_row, row_blocks, tiling};
use crate::cpu::fast::plan::{ConvMethod, ConvStep};
use crate::cpu::fast::team::{Out, Part};
use crate::cpu::sgemm::{Threads, sgemm};

/// Pointwise and im2col convolutions: one GEMM per tile, straight into `y`.
pub fn conv(step: &ConvStep, batch: usize, x: &[f32], acc: Option<&[f32]>, y: Out, part: Part) {
    let (to, k) = (step.to, step.kernel);
    let taps = step.from.c * k * k;
    let n = batch * to.h * to.w;
    let cout = to.c;
    assert_eq!(x.len(), batch * step.from.len());
    assert!(!step.pool || step.method == ConvMethod::Pointwise);
    assert!(
        step.pad_output == 0
            || (step.method == ConvMethod::Pointwise && acc.is_none() && !step.pool),
        "a padded output is written by pointwise convolutions alone, without a sum or pooling"
    );
    let work = 2 * cout * taps * n;
    let threads = part.sharers(work);
    // A fused pooling needs whole row pairs in a tile (a pair never spans two samples).
    let align = if step.pool { 2 * to.w } else { 16 };
    let gemm_pointwise = step.method == ConvMethod::Pointwise && step.weights.packed().is_none();
    let max_tile = if gemm_pointwise {
        POINTWISE_GEMM_MAX_TILE
    } else {
        MAX_TILE
    };
    let (tile, tiles) = tiling(n, threads, align, max_tile);
    let pooled = |o: usize, j0: usize, width: usize, tile_rows: &[f32]| {
        // SAFETY: the pooled image of this item's block is this item's alone.
        let dst = unsafe { y.slice(o * n / 4 + j0 / 4..o * n / 4 + (j0 + width) / 4) };
        for (pair, out) in tile_rows
            .chunks_exact(2 * to.w)
            .zip(dst.chunks_exact_mut(to.w / 2))
        {
            let (r0, r1) = pair.split_at(to.w);
            for ((d, a), b) in out
                .iter_mut()
                .zip(r0.chunks_exact(2))
                .zip(r1.chunks_exact(2))
            {
                let v = a[0].max(a[1]).max(b[0].max(b[1]));
                *d = if step.relu { v.max(0.0) } else { v };
            }
        }
    };
    let granule = step.weights.packed().map_or(1, Packed::rows);
    let (blocks, rows) = row_blocks(cout, tiles, threads, granule);

    for item in part.items(tiles * blocks, work) {
        let (t, r) = (item / blocks, item % blocks);
        let j0 = t * tile;
        let width = tile.min(n - j0);
        let o0 = r * rows;
        let m = rows.min(cout - o0);
        if let Some(packed) = step.weights.packed() {
            pointwise_blocked(step, packed, (o0, m), (j0, width, n), x, acc, y, &pooled);
            continue;
        }
        let weight = step.weights.plain();
        // A pointwise convolution's block into an m × width tile: `beta` 0 overwrites it, 1
        // adds to what it holds.
        let tile_gemm = |out: &mut [f32], beta: f32| {
            assert_eq!(out.len(), m * width);
            // SAFETY: lhs is rows o0..o0+m of the cout × cin weights, rhs the input's columns
            // j0..j0+width (row stride n), dst the m × width tile.
            unsafe {
                sgemm(
                    (m, taps, width),
                    1.0,
                    weight.as_ptr().add(o0 * taps),
                    (taps as isize, 1),
                    x[j0..].as_ptr(),
                    (n as isize, 1),
                    beta,
                    out.as_mut_ptr(),
                    (width as isize, 1),
                    Threads::One,
                )
            }
        };
        if step.pad_output > 0 {
            SCRATCH.with_borrow_mut(|out| {
                out.resize(m * width, 0.0);
                tile_gemm(out, 0.0);
                padded_out(step, batch, (o0, j0, width), out, y, true);
            });
            continue;
        }
        if step.pool {
            SCRATCH.with_borrow_mut(|out| {
                out.resize(m * width, 0.0);
                for (o, row) in (o0..o0 + m).zip(out.chunks_mut(width)) {
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
                tile_gemm(out, 1.0);
                for (o, row) in (o0..o0 + m).zip(out.chunks(width)) {
                    pooled(o, j0, width, row);
                }
            });
            continue;
        }
        // SAFETY: lhs is rows o0..o0+m of the cout × taps weights, rhs is taps × width with
        // the given row stride, dst is this item's m × width block of y (row stride n), which
        // the GEMM overwrites (β = 0).
        let gemm = |rhs: *const f32, rhs_rs: usize| unsafe {
            sgemm(
                (m, taps, width),
                1.0,
                weight.as_ptr().add(o0 * taps),
                (taps as isize, 1),
                rhs,
                (rhs_rs as isize, 1),
                0.0,
                y.ptr().add(o0 * n + j0),
                (n as isize, 1),
                Threads::One,
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
        // Bias, the fused sum and ReLU in one pass over the block while it is in cache: the
        // crate has no epilogue, and filling the block with them before a β = 1 GEMM, then
        // a ReLU pass after, went over it three times.
        for o in o0..o0 + m {
            // SAFETY: items cover disjoint (rows, columns) blocks of `y`.
            let row = unsafe { y.slice(o * n + j0..o * n + j0 + width) };
            let b = step.bias[o];
            match (acc, step.relu) {
                (Some(a), relu) => {
                    for (d, s) in row.iter_mut().zip(&a[o * n + j0..][..width]) {
                        let v = *d + b + s;
                        *d = if relu { v.max(0.0) } else { v };
                    }
                }
                (None, true) => row.iter_mut().for_each(|d| *d = (*d + b).max(0.0)),
                (None, false) => row.iter_mut().for_each(|d| *d += b),
            }
        }
    }
}

/// The tile `out` (channels `o0..` × output columns `j0..j0 + width` of `B × H × W`) out to
/// `y`, which holds the output zero-padded by `step.pad_output` on every side, with bias and
/// ReLU if `finish` (else as it is: the blocked kernel applied them); the padding it borders
/// too ([`padded_runs`]).
fn padded_out(
    step: &ConvStep,
    batch: usize,
    (o0, j0, width): (usize, usize, usize),
    out: &[f32],
    y: Out,
    finish: bool,
) {
    let m = out.len() / width;
    padded_runs(
        step,
        batch,
        (o0, m),
        (j0, width),
        y,
        |j, run, at, channel| {
            for (o, src) in (o0..o0 + m).zip(out.chunks_exact(width)) {
                let at = at + (o - o0) * channel;
                // SAFETY: this run of the row belongs to this item's positions alone.
                let dst = unsafe { y.slice(at..at + run) };
                let src = &src[j - j0..][..run];
                if finish {
                    finish_row(dst, src, step.bias[o], None, step.relu);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        },
    );
}

/// Walks output columns `j0..j0 + width` of `B × H × W` in runs along the output's rows, for
/// channels `o0..o0 + m` of `y`, which holds the output zero-padded by `step.pad_output` on
/// every side: `write(j, run, at, channel)` writes the run of columns `j..j + run` of every
/// channel, the first channel's at `y[at..]` and each next one `channel` further on; the
/// padding is then written, each cell by the item whose positions it borders (left and right
/// of a row by the item with the row's first or last position, the rows above and below a plane
/// by the one with its first or last), since the buffer held something else before.
fn padded_runs(
    step: &ConvStep,
    batch: usize,
    (o0, m): (usize, usize),
    (j0, width): (usize, usize),
    y: Out,
    mut write: impl FnMut(usize, usize, usize, usize),
) {
    let (to, pad) = (step.to, step.pad_output);
    let (h, w) = (to.h, to.w);
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    let channel = batch * hp * wp;
    let mut j = j0;
    while j < j0 + width {
        let (b, p) = (j / (h * w), j % (h * w));
        let (oy, ox) = (p / w, p % w);
        let run = (w - ox).min(j0 + width - j);
        let first = o0 * channel + b * hp * wp + (oy + pad) * wp + pad + ox;
        write(j, run, first, channel);
        for o in o0..o0 + m {
            let plane = (o * batch + b) * hp * wp;
            let row = plane + (oy + pad) * wp;
            // SAFETY: the padding cells written here border this item's positions alone; see
            // above.
            let cell = |r: std::ops::Range<usize>| unsafe { y.slice(r) };
            if ox == 0 {
                cell(row..row + pad).fill(0.0);
                if oy == 0 {
                    cell(plane..plane + pad * wp).fill(0.0);
                }
            }
            if ox + run == w {
                cell(row + pad + w..row + wp).fill(0.0);
                if oy == h - 1 {
                    cell(plane + (pad + h) * wp..plane + hp * wp).fill(0.0);
                }
            }
        }
        j += run;
    }
}

/// Writes the pooled image of rows of a tile: `(channel, first column, width, rows)`.
type PoolWriter<'a> = &'a dyn Fn(usize, usize, usize, &[f32]);

/// A pointwise convolution's block on the register-blocked kernel: straight into `y` with bias,
/// sum and ReLU, or into a scratch tile that is pooled on its way out.
#[allow(clippy::too_many_arguments)] // the block, the tensors, and the pooling's writer
fn pointwise_blocked(
    step: &ConvStep,
    packed: &Packed,
    (o0, m): (usize, usize),
    (j0, width, n): (usize, usize, usize),
    x: &[f32],
    acc: Option<&[f32]>,
    y: Out,
    pooled: PoolWriter,
) {
    let batch = n / (step.to.h * step.to.w);
    let epilogue = Epilogue {
        bias: Some(&step.bias),
        add: acc.map(|a| (a[o0 * n + j0..].as_ptr(), n)),
        // A fused pooling takes its ReLU after the maximum.
        relu: step.relu && !step.pool,
    };
    // A padded output whose rows are whole vectors goes from the registers straight to its
    // rows inside the padding, as training's and the shifted convolutions' rows do
    // (`blocked::rows_in_place`), instead of through a tile copied out. Both in one build,
    // alternating (2 cores of an Intel Xeon with AVX-512, batch 1, 3 rounds, medians): the
    // 64-, 32- and 16-column layers 0.76–0.90× the time, a frame 0.98×.
    if step.pad_output > 0 && !step.pool && blocked::rows_in_place(step.to.w) {
        assert!(acc.is_none(), "a padded output has no fused sum");
        padded_runs(
            step,
            batch,
            (o0, m),
            (j0, width),
            y,
            |j, run, at, channel| {
                // SAFETY: x holds cin rows of n columns, of which the run reads j..j+run; the
                // destination is this run of the row in each of the block's channels (`channel`
                // apart), which no other item writes.
                unsafe {
                    blocked::conv(
                        packed,
                        (o0, m),
                        Operands {
                            x: x[j..].as_ptr(),
                            x_rs: n,
                            offsets: &[0],
                            width: run,
                            dst: y.ptr().add(at),
                            dst_rs: channel,
                            epilogue,
                        },
                    )
                };
            },
        );
        return;
    }
    // A pooled or padded output is written from a scratch tile.
    let tiled = step.pool || step.pad_output > 0;
    SCRATCH.with_borrow_mut(|out| {
        let (dst, dst_rs) = if tiled {
            out.resize(m * width, 0.0);
            (out.as_mut_ptr(), width)
        } else {
            // SAFETY: the block's first element inside y.
            (unsafe { y.ptr().add(o0 * n + j0) }, n)
        };
        // SAFETY: x holds cin rows of n columns, of which the block reads j0..j0+width; `add`
        // covers rows o0..o0+m of the same columns; the destination is the scratch tile of
        // m × width or this item's block of y (rows o0..o0+m, columns j0..j0+width, row stride
        // n), which no other item writes.
        unsafe {
            blocked::conv(
                packed,
                (o0, m),
                Operands {
                    x: x[j0..].as_ptr(),
                    x_rs: n,
                    offsets: &[0],
                    width,
                    dst,
                    dst_rs,
                    epilogue,
                },
            )
        };
        if step.pool {
            for (o, row) in (o0..o0 + m).zip(out.chunks(width)) {
                pooled(o, j0, width, row);
            }
        } else if step.pad_output > 0 {
            padded_out(step, batch, (o0, j0, width), out, y, false);
        }
    });
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
