//! [`ConvMethod::Shifted`](crate::cpu::fast::plan::ConvMethod::Shifted): the zero-padded input
//! read shifted by each tap's offset, all taps summed by the register-blocked kernel where the
//! plan packs for it ([`ConvKernel::packs`](super::ConvKernel::packs)), else one `gemm` crate
//! GEMM per tap.

use super::blocked::{self, Epilogue, NR, Operands};
use super::{MAX_TILE, SCRATCH, row_blocks, tap_offsets, tiling};
use crate::cpu::fast::plan::{ConvStep, ConvWeights};
use crate::cpu::fast::team::{Out, Part};
use crate::cpu::sgemm::{Threads, sgemm};

/// Stride-1 convolution over the zero-padded input: one GEMM per tap into a per-thread tile of
/// padded-grid positions, then the valid positions out to `y` with bias, sum and ReLU.
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
    let (align, granule) = match step.weights.packed() {
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
                ConvWeights::Plain(weight) => {
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
