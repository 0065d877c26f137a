//! [`ConvMethod::Shifted`](crate::cpu::fast::plan::ConvMethod::Shifted): the zero-padded input
//! read shifted by each tap's offset, all taps summed by the register-blocked kernel where the
//! plan packs for it ([`ConvKernel::packs`](super::ConvKernel::packs)), else one `gemm` crate
//! GEMM per tap. The blocked kernel writes output rows straight into the output where
//! [`blocked::rows_in_place`] says so; everything else goes through a tile of padded-grid
//! positions.

use super::blocked::{self, Epilogue, NR, Operands};
use super::{MAX_TILE, SCRATCH, finish_row, row_blocks, tap_offsets, tiling};
use crate::cpu::fast::plan::{ConvStep, ConvWeights};
use crate::cpu::fast::team::{Out, Part};
use crate::cpu::sgemm::{Threads, sgemm};
use crate::net::Shape;

/// Stride-1 convolution over the zero-padded input: the blocked kernel over every tap, or one
/// GEMM per tap, into `y` row by row or into a per-thread tile of padded-grid positions whose
/// valid positions then go out to `y` with bias, sum and ReLU.
pub fn conv(step: &ConvStep, batch: usize, x: &[f32], acc: Option<&[f32]>, y: Out, part: Part) {
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
    // Output rows of whole blocks (`rows_in_place`) go from the registers straight to `y` with
    // the epilogue, tiles being whole padded rows: no tile to copy out, no sums for the padding
    // columns. On 2 cores of a Zen 3 (in one process, interleaved) the 64-, 32- and 16-column
    // layers took 0.80–0.92× the time, the network 0.95× at batch 1 and 0.96× at batch 32;
    // rows of 8 columns took 1.2× as long (6 sums a block instead of 12), so narrower rows,
    // and rows that are not whole blocks, go through a tile of padded-grid positions. With
    // AVX-512, rows of whole vectors count as whole blocks (see `rows_in_place`).
    let in_place = step
        .weights
        .packed()
        .filter(|_| blocked::rows_in_place(to.w));
    let (align, granule) = match step.weights.packed() {
        Some(packed) if in_place.is_some() => (wp, packed.rows()),
        Some(packed) => (NR, packed.rows()),
        None => (16, 1),
    };
    let (tile, tiles) = tiling(span, threads, align, MAX_TILE);
    let (blocks, rows) = row_blocks(cout, tiles, threads, granule);
    // Offset of each tap from the position it contributes to, less `first`.
    let offsets = tap_offsets(k, wp);

    for item in part.items(tiles * blocks, work) {
        let (t, r) = (item / blocks, item % blocks);
        let q0 = first + t * tile;
        let width = tile.min(end - q0);
        let o0 = r * rows;
        let m = rows.min(cout - o0);
        if let Some(packed) = in_place {
            for_each_row(q0, width, (plane, wp, pad), to, |lo, hi, at| {
                // SAFETY: the plan packs only where the kernel runs; every tap of positions
                // lo..hi reads inside the padded batch (see `end`); output row segment `at`
                // of channels o0..o0+m (row stride n) is this item's alone, and `acc` has the
                // output's shape.
                unsafe {
                    blocked::conv(
                        packed,
                        (o0, m),
                        Operands {
                            x: x.as_ptr().add(lo - first),
                            x_rs: np,
                            offsets: &offsets,
                            width: hi - lo,
                            dst: y.ptr().add(o0 * n + at),
                            dst_rs: n,
                            epilogue: Epilogue {
                                bias: Some(&step.bias),
                                add: acc.map(|a| (a.as_ptr().add(o0 * n + at), n)),
                                relu: step.relu,
                            },
                        },
                    )
                }
            });
            continue;
        }
        SCRATCH.with_borrow_mut(|out| {
            out.resize(m * width, 0.0);
            match &step.weights {
                ConvWeights::Packed(packed) => {
                    let none = Epilogue {
                        bias: None,
                        add: None,
                        relu: false,
                    };
                    // SAFETY: the plan packs only where the kernel runs; every tap of the tile's
                    // positions reads inside the padded batch (see `end`); `out` is m × width.
                    unsafe {
                        blocked::conv(
                            packed,
                            (o0, m),
                            Operands {
                                x: x.as_ptr().add(q0 - first),
                                x_rs: np,
                                offsets: &offsets,
                                width,
                                dst: out.as_mut_ptr(),
                                dst_rs: width,
                                epilogue: none,
                            },
                        )
                    }
                }
                ConvWeights::Plain(_) | ConvWeights::Winograd(_) => {
                    let weight = step.weights.plain();
                    for (tap, &shift) in offsets.iter().enumerate() {
                        // SAFETY: lhs is rows o0..o0+m of this tap's cout × cin matrix;
                        // rhs is cin rows of `width` padded positions starting at
                        // q0 − first + shift, all inside the padded batch (see `end`); dst is
                        // the m × width scratch tile.
                        unsafe {
                            sgemm(
                                (m, cin, width),
                                1.0,
                                weight.as_ptr().add((tap * cout + o0) * cin),
                                (cin as isize, 1),
                                x.as_ptr().add(q0 - first + shift),
                                (np as isize, 1),
                                if tap > 0 { 1.0 } else { 0.0 },
                                out.as_mut_ptr(),
                                (width as isize, 1),
                                Threads::One,
                            )
                        }
                    }
                }
            }
            // The tile's valid positions, one padded row segment at a time.
            for_each_row(q0, width, (plane, wp, pad), to, |lo, hi, at| {
                for o in o0..o0 + m {
                    let src = &out[(o - o0) * width + (lo - q0)..][..hi - lo];
                    // SAFETY: each output position belongs to exactly one tile, and rows
                    // o0..o0+m to this item.
                    let dst = unsafe { y.slice(o * n + at..o * n + at + (hi - lo)) };
                    let add = acc.map(|a| &a[o * n + at..][..hi - lo]);
                    finish_row(dst, src, step.bias[o], add, step.relu);
                }
            });
        });
    }
}

/// Each run of valid (not padding) positions among padded-grid positions `q0..q0 + width`:
/// `f(lo, hi, at)` for positions `lo..hi` of one row, whose first output is `at` (in
/// `B × Ho × Wo`). `(plane, wp, pad)`: the padded plane's size, its row stride and the padding.
fn for_each_row(
    q0: usize,
    width: usize,
    (plane, wp, pad): (usize, usize, usize),
    to: Shape,
    mut f: impl FnMut(usize, usize, usize),
) {
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
            f(lo, hi, b * to.h * to.w + oy * to.w + ox);
        }
        q = run_end;
    }
}
