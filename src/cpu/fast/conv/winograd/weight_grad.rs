//! Training's weight gradient of the convolutions Winograd's F(2×2, 3×3) applies to
//! ([`applies`]), over a batch laid out sample by sample as the training workspace keeps it.
//!
//! With `M = U ⊙ V` for each tile and `Y = Aᵀ M A`, the gradient goes back the same way:
//! `∂M = A ∂Y Aᵀ` (each 2×2 block of the output's gradient made a 4×4 one),
//! `∂U_p[o][c] = Σ_tiles ∂M_p[o][tile] · V_p[c][tile]` (16 GEMMs whose inner dimension is the
//! tiles) and `∂g = Gᵀ ∂U G`: 16 products a tile and channel pair where the direct sum over the
//! 9 taps and 4 positions takes 36.
//!
//! The input's transform is the forward's (`Geometry::input`: element `p`, channel `c`, the
//! tiles along a row). The GEMMs want one operand with the channels along a row instead, so the
//! output's gradient, 4× smaller than its transform, is first transposed to positions × channels
//! (16×16 blocks in registers), then transformed 16 channels to a vector (`conv::grad_gemm`): each
//! transformed input value is broadcast against 32 output channels of the transformed gradient,
//! 12 × 2 vector sums held in registers along the tiles and added to the thread's `∂U` at the
//! end. A direct kernel's dot products along the positions need a horizontal sum per weight
//! instead, as often as the positions it holds in cache allow.
//!
//! Samples go in chunks whose buffers (the padded input, the transposed gradient and both
//! transforms) take about `CHUNK_BYTES`, a chunk's tile rows in parts whose transforms take
//! about `PART_BYTES`; each thread sums its own samples' `∂U` and turns it into its part of `∂w`
//! once ([`sum_over_sample_groups`]).
//!
//! Against the direct kernel (`conv::weight_grad`), both in one process,
//! alternating (2 cores of an Intel Xeon, batch 32, 2026-12-05, 3 rounds): a 16×16 layer of 64
//! channels 0.65–0.67× the time, an 8×8 one 0.61–0.72×, a 32×32 one of 32 channels 0.80–0.83×
//! (its transforms weigh twice as much against its GEMMs). In a training step of the 64×64
//! network these layers' backward took 3.3–4.2 ms where it took 4.4–4.7 (1.0 ms of it on the
//! 8×8 ones, 0.27 each), and the step 1.014× the samples a second (5 rounds; 1.006× on the
//! 128×128 network, 3 rounds).

use std::cell::RefCell;

use super::{ELEMENTS, G, Geometry, applies, element_stride, lanes};
use crate::cpu::conv2d::sum_over_sample_groups;
use crate::cpu::fast::conv::{grad_gemm, pad_sample};
use crate::net::Shape;

/// What a chunk's buffers may take: about half a core's L2. Against 256 KB and 3 MB (alone, 2
/// rounds, before the parts below): with 256 KB a 16×16 layer level, the 8×8 and 32×32 ones
/// 1.06–1.15× the time; with 3 MB 1.35–1.42×.
const CHUNK_BYTES: usize = 1 << 20;

/// What a part of a chunk's tile rows may take in the two transforms: a 32×32 sample of 32
/// channels takes two (against one part: 0.91–0.96× the time, 2 rounds).
const PART_BYTES: usize = 1 << 19;

thread_local! {
    /// A chunk's zero-padded input, channel-major over the chunk's samples.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// A chunk's transposed output gradient, its input's transform and its own.
    static BUFFERS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The thread's `∂U`, element `p`, input channel `c`, output channel `o` at
    /// `[(p·cin + c)·width + o]` (`width`: the output channels rounded up to a vector).
    static DU: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `grads = (dw, db, parts)`: `dw` (`cout × cin × 3 × 3`, PyTorch's layout) and `db` (`cout`) of
/// a 3×3, stride-1, pad-1 convolution, summed over the batch, `x` being `batch × input` and `dy`
/// `batch × output`. Every element of `dw` and `db` is written; `parts` is scratch, as for
/// [`sum_over_sample_groups`], so the result does not depend on scheduling.
///
/// # Panics
/// If [`applies`] is false for `input`, or the shapes do not match.
pub fn weight_grad(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    geometry: (Shape, Shape),
    grads: (&mut [f32], &mut [f32], &mut Vec<f32>),
) {
    weight_grad_in_chunks(x, dy, batch, geometry, grads, (CHUNK_BYTES, PART_BYTES));
}

/// [`weight_grad`] with chunks of about `chunk_bytes` and parts of about `part_bytes` (the tests
/// make them small).
fn weight_grad_in_chunks(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    (input, output): (Shape, Shape),
    (dw, db, parts): (&mut [f32], &mut [f32], &mut Vec<f32>),
    (chunk_bytes, part_bytes): (usize, usize),
) {
    assert!(applies(input, 3, 1, 1) && (input.h, input.w) == (output.h, output.w));
    let (cin, cout) = (input.c, output.c);
    assert_eq!(x.len(), batch * input.len());
    assert_eq!(dy.len(), batch * output.len());
    assert_eq!((dw.len(), db.len()), (cout * cin * 9, cout));
    let (h, w) = (input.h, input.w);
    let plane = (h + 2) * (w + 2);
    let tiles = w / 2;
    let lanes = lanes(tiles);
    let width = cout.next_multiple_of(16);
    // A sample's share of a chunk's buffers: its padded input, its transposed gradient, and
    // both transforms over its rows of tiles.
    let columns = h / 2 * lanes;
    let sample_bytes = 4 * (cin * plane + h * w * width + ELEMENTS * (cin + width) * columns);
    let per_chunk = (chunk_bytes / sample_bytes).max(1);
    sum_over_sample_groups(batch, dw, db, parts, |samples, dw, db| {
        if samples.is_empty() {
            return;
        }
        DU.with_borrow_mut(|du| {
            du.clear();
            du.resize(ELEMENTS * cin * width, 0.0);
            let geometry = Geometry {
                cin,
                np: per_chunk * plane,
                plane,
                wp: w + 2,
                to: output,
                n: per_chunk * h * w,
                tiles,
                lanes,
            };
            PADDED.with_borrow_mut(|padded| {
                // Zero once: each chunk writes the same images, the padding stays zero.
                padded.clear();
                padded.resize(cin * geometry.np, 0.0);
                let mut first = samples.start;
                while first < samples.end {
                    let n = per_chunk.min(samples.end - first);
                    let chunk = first..first + n;
                    let (x, dy) = (
                        &x[chunk.start * input.len()..],
                        &dy[chunk.start * output.len()..],
                    );
                    for s in 0..n {
                        let xn = &x[s * input.len()..][..input.len()];
                        pad_sample(xn, (h, w), 1, geometry.np, &mut padded[s * plane..]);
                        let dyn_ = &dy[s * output.len()..][..output.len()];
                        for (o, plane) in dyn_.chunks_exact(h * w).enumerate() {
                            db[o] += crate::cpu::elementwise::sum(plane);
                        }
                    }
                    chunk_into(
                        (&geometry, part_bytes),
                        n,
                        (padded, &dy[..n * output.len()]),
                        du,
                    );
                    first += n;
                }
            });
            add_transformed_back(du, (cin, cout, width), dw);
        });
    });
}

/// Adds one chunk of `n` samples (`padded`: their padded input as [`Geometry::input`] reads
/// it; `dy`: their output gradient, sample by sample) into `du`.
fn chunk_into(
    (geometry, part_bytes): (&Geometry, usize),
    n: usize,
    (padded, dy): (&[f32], &[f32]),
    du: &mut [f32],
) {
    let (cin, to, lanes) = (geometry.cin, geometry.to, geometry.lanes);
    let (cout, hw) = (to.c, to.h * to.w);
    let width = cout.next_multiple_of(16);
    let tile_rows = n * to.h / 2;
    // Tile rows a part takes: whole vectors of them, both transforms in about PART_BYTES.
    let align = 16 / lanes.min(16);
    let row_bytes = 4 * ELEMENTS * (cin + width) * lanes;
    let per_part = (part_bytes / row_bytes).max(1).next_multiple_of(align);
    BUFFERS.with_borrow_mut(|buffers| {
        let most = (per_part.min(tile_rows) * lanes).next_multiple_of(16);
        let (v_stride, dm_stride) = (element_stride(cin, most), element_stride(most, width));
        let (dyt_len, v_len) = (n * hw * width, ELEMENTS * v_stride);
        buffers.resize(dyt_len + v_len + ELEMENTS * dm_stride, 0.0);
        let (dyt, rest) = buffers.split_at_mut(dyt_len);
        let (v, dm) = rest.split_at_mut(v_len);
        // SAFETY (all three): `applies` checked AVX-512F.
        for (s, dys) in dy.chunks_exact(cout * hw).enumerate() {
            unsafe { grad_gemm::transpose(dys, (cout, hw), &mut dyt[s * hw * width..], width) };
        }
        for first in (0..tile_rows).step_by(per_part) {
            let count = per_part.min(tile_rows - first);
            let chunks = geometry.chunks(first, count);
            let columns = (count * lanes).next_multiple_of(16);
            let (v_stride, dm_stride) =
                (element_stride(cin, columns), element_stride(columns, width));
            geometry.input(padded, &chunks, columns, v);
            for j in 0..columns {
                // Column j is tile j % lanes of tile row first + j / lanes; past a row's tiles,
                // or the part's rows, it is zero (the input's transform is zero there too).
                let (g, t) = (j / lanes, j % lanes);
                let at = (g < count && t < geometry.tiles).then(|| {
                    let g = first + g;
                    let (s, r) = (g / (to.h / 2), g % (to.h / 2));
                    s * hw + 2 * r * to.w + 2 * t
                });
                unsafe { avx512::gradient_tile(dyt, (at, to.w, width), dm, (j, dm_stride)) };
            }
            for p in 0..ELEMENTS {
                let v = &v[p * v_stride..][..cin * columns];
                let dm = &dm[p * dm_stride..][..columns * width];
                let du = &mut du[p * cin * width..][..cin * width];
                for c0 in (0..cin).step_by(grad_gemm::ROWS) {
                    for o0 in (0..width).step_by(grad_gemm::COLUMNS) {
                        unsafe { grad_gemm::block((v, c0, cin), (dm, o0), columns, (du, width)) };
                    }
                }
            }
        }
    });
}

/// Adds `Gᵀ ∂U G` (in f64) for every channel pair into `dw` (`cout × cin × 3 × 3`): `∂U G`
/// (4 × 3), then `Gᵀ` of that, each output channel's values read along `du`'s rows.
fn add_transformed_back(du: &[f32], (cin, cout, width): (usize, usize, usize), dw: &mut [f32]) {
    for c in 0..cin {
        for o in 0..cout {
            let u = |p: usize| f64::from(du[(p * cin + c) * width + o]);
            let ug: [[f64; 3]; 4] = std::array::from_fn(|a| {
                std::array::from_fn(|j| (0..4).map(|k| u(a * 4 + k) * G[k][j]).sum())
            });
            let dg = &mut dw[(o * cin + c) * 9..][..9];
            for (i, j) in (0..3).flat_map(|i| (0..3).map(move |j| (i, j))) {
                let sum: f64 = (0..4).map(|a| G[a][i] * ug[a][j]).sum();
                dg[i * 3 + j] += sum as f32;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::ELEMENTS;
    use std::arch::x86_64::*;

    /// The 16 elements of one tile's `∂M = A ∂Y Aᵀ` for every output channel, into column `j`
    /// of `dm` (element `p`'s rows `stride` apart, each `width` channels): `at` is the tile's
    /// top-left position in `dyt` (positions × `width` channels, rows `w` positions apart), or
    /// `None` for a column without a tile, written as zeros.
    ///
    /// # Safety
    /// AVX-512F. Panics (slice bounds) rather than reading or writing outside the slices.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn gradient_tile(
        dyt: &[f32],
        (at, w, width): (Option<usize>, usize, usize),
        dm: &mut [f32],
        (j, stride): (usize, usize),
    ) {
        let load = |q: usize, o: usize| {
            let v = &dyt[q * width + o..][..16];
            // SAFETY: 16 values inside `v`.
            unsafe { _mm512_loadu_ps(v.as_ptr()) }
        };
        for o in (0..width).step_by(16) {
            let elements = match at {
                None => [_mm512_setzero_ps(); ELEMENTS],
                Some(q) => {
                    // `A` over each row's two columns, then over the two rows.
                    let a = |y0: __m512, y1: __m512| {
                        [
                            y0,
                            _mm512_add_ps(y0, y1),
                            _mm512_sub_ps(y0, y1),
                            _mm512_sub_ps(_mm512_setzero_ps(), y1),
                        ]
                    };
                    let r0 = a(load(q, o), load(q + 1, o));
                    let r1 = a(load(q + w, o), load(q + w + 1, o));
                    let mut m = [_mm512_setzero_ps(); ELEMENTS];
                    for k in 0..4 {
                        let col = a(r0[k], r1[k]);
                        for (row, v) in col.into_iter().enumerate() {
                            m[row * 4 + k] = v;
                        }
                    }
                    m
                }
            };
            for (p, v) in elements.into_iter().enumerate() {
                let out = &mut dm[p * stride + j * width + o..][..16];
                // SAFETY: 16 values inside `out`.
                unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
            }
        }
    }
}

/// Off x86-64 [`applies`] is false, and nothing reaches this.
#[cfg(not(target_arch = "x86_64"))]
mod avx512 {
    pub unsafe fn gradient_tile(
        _: &[f32],
        _: (Option<usize>, usize, usize),
        _: &mut [f32],
        _: (usize, usize),
    ) {
        unreachable!("Winograd's transforms run on AVX-512 only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::testing::values;

    /// `∂w` and `∂b` of a 3×3, pad-1 convolution in f64, the batch sample by sample.
    fn reference(
        x: &[f32],
        dy: &[f32],
        (batch, cin, cout, h, w): (usize, usize, usize, usize, usize),
    ) -> (Vec<f64>, Vec<f64>) {
        let (mut dw, mut db) = (vec![0.0; cout * cin * 9], vec![0.0; cout]);
        for s in 0..batch {
            for o in 0..cout {
                for r in 0..h {
                    for q in 0..w {
                        let g = f64::from(dy[((s * cout + o) * h + r) * w + q]);
                        db[o] += g;
                        for c in 0..cin {
                            for t in 0..9 {
                                let (yy, xx) = ((r + t / 3) as isize - 1, (q + t % 3) as isize - 1);
                                if (0..h as isize).contains(&yy) && (0..w as isize).contains(&xx) {
                                    let at = ((s * cin + c) * h + yy as usize) * w + xx as usize;
                                    dw[(o * cin + c) * 9 + t] += g * f64::from(x[at]);
                                }
                            }
                        }
                    }
                }
            }
        }
        (dw, db)
    }

    /// Against the f64 reference on odd shapes: rows of 4, 5, 8, 10 and 17 tiles (a quarter,
    /// half and whole vectors, rows with lanes past their tiles), sides whose positions are no
    /// multiple of 16 (the transposition's masked blocks), input channels that fill no register
    /// block, one, and one and a part, output channels that fill a vector, part of one, and two
    /// and a part; batches split unevenly between threads and in chunks.
    #[test]
    fn matches_the_reference_on_odd_shapes() {
        if !super::super::runs_here() {
            return;
        }
        let mut seed = 7;
        for (batch, cin, cout, h, w) in [
            (1, 8, 5, 8, 8),
            (3, 9, 16, 6, 10),
            (2, 13, 20, 4, 16),
            (5, 24, 33, 2, 20),
            (2, 11, 3, 10, 34),
            (4, 12, 32, 8, 8),
            (1, 30, 17, 12, 16),
            (2, 8, 48, 6, 32),
        ] {
            seed += 1;
            let (input, output) = (Shape::new(cin, h, w), Shape::new(cout, h, w));
            let x = values(batch * input.len(), seed);
            let dy = values(batch * output.len(), seed + 50);
            let (want_w, want_b) = reference(&x, &dy, (batch, cin, cout, h, w));
            // Every sample in one chunk, and one sample a chunk in parts of a vector of tile rows.
            for sizes in [(CHUNK_BYTES, PART_BYTES), (1, 1)] {
                let (mut dw, mut db) = (vec![f32::NAN; want_w.len()], vec![f32::NAN; cout]);
                let mut parts = Vec::new();
                let grads = (dw.as_mut_slice(), db.as_mut_slice(), &mut parts);
                weight_grad_in_chunks(&x, &dy, batch, (input, output), grads, sizes);
                let tolerance = 1e-4 * ((batch * h * w) as f64).sqrt();
                let at =
                    format!("batch {batch}, {cin}→{cout}, {h}×{w}, chunk and part sizes {sizes:?}");
                for (i, (&got, &want)) in dw.iter().zip(&want_w).enumerate() {
                    assert!(
                        (f64::from(got) - want).abs() < tolerance,
                        "{at}: dw[{i}] {got} against {want}"
                    );
                }
                for (o, (&got, &want)) in db.iter().zip(&want_b).enumerate() {
                    assert!(
                        (f64::from(got) - want).abs() < tolerance,
                        "{at}: db[{o}] {got} against {want}"
                    );
                }
            }
        }
    }
}
