//! [`ConvMethod::Winograd`](crate::cpu::fast::plan::ConvMethod::Winograd): inference's 3×3,
//! stride-1, pad-1 convolutions as Winograd's minimal filtering F(2×2, 3×3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016), on AVX-512; training's forward
//! and input gradient run it too, a sample at a time (`conv::sample`), and its weight gradient
//! goes back through the same transforms ([`weight_grad`]).
//!
//! Each 2×2 block of outputs (a *tile*) comes from the 4×4 input patch under it: the patch is
//! transformed (`V = Bᵀ d B`), multiplied element by element with the transformed weights
//! (`U = G g Gᵀ`, done once at load), and transformed back (`Y = Aᵀ M A`). Summed over input
//! channels, each of the 16 elements is a GEMM `M_p[cout × tiles] = U_p[cout × cin] ·
//! V_p[cin × tiles]`, which the register-blocked kernel (`conv::blocked`) runs as a 1×1
//! convolution: 16 products a tile and channel pair where the direct form takes 36, so 2.25×
//! fewer multiplies, for the price of the two transforms and of sums that are exact only up to
//! rounding (the transforms' coefficients are 0, ±1 and ±½).
//!
//! The transforms are vectorised over 16 tiles, in four groups of 4 consecutive tiles of a
//! row: the even and odd columns of a padded input row split into two vectors with one
//! permutation each, and the two output columns of each tile interleave back the same way.
//! Sixteen tiles are 16 of one row of tiles, or on planes 16 and 8 wide (8 and 4 tiles a row)
//! two or four rows. A thread's item is a few rows of tiles (about `COLUMNS` tiles): their
//! transformed input (16 × cin × columns) is made once, then for each block of `MR` output
//! channels and `SEGMENT` columns the 16 products go to a buffer that stays in L1, and out
//! through the inverse transform with bias, the fused sum and ReLU.
//!
//! On 2 cores of an Intel Xeon with AVX-512 (2026-12-04, both methods in one build,
//! alternating, medians of 3 rounds), against the shifted form on the blocked kernel: the
//! 64×64 layer 0.84× the time at batch 1 and 0.81× at batch 32 (32 channels: the transforms
//! weigh more), the 32×32 ones 0.63–0.66×, the 16×16 ones 0.62–0.67×; the network 0.90× at
//! batch 1 and 0.85× at batch 32. The 8×8 ones, four rows of tiles a vector, 0.66–0.70× and
//! 0.53–0.55× (with them, the network 1.026× the frames a second at batch 1 and 1.01× at 32,
//! 7 rounds). Planes narrower than [`MIN_WIDTH`] (4×4 and smaller, 2 tiles a row or fewer)
//! stay shifted: those layers take about 10 µs at batch 1.

use std::cell::RefCell;

use super::blocked::{self, Epilogue, Isa, MR, Operands, Packed};
use super::{row_blocks, tiling};
use crate::cpu::fast::team::{Out, Part};
use crate::net::Shape;

pub mod weight_grad;

/// Narrowest plane the plan runs it on: rows of 4 tiles, four to a vector.
pub const MIN_WIDTH: usize = 8;

/// About how many tiles (GEMM columns) a thread's item takes: a multiple of the blocked kernel's
/// 48-column block for rows of 16 and 32 tiles. Against 48, 192 and 384 (2 rounds each, per
/// layer): 48 was as fast at batch 32 and slower at batch 1, the larger ones slower at both.
const COLUMNS: usize = 96;

/// Columns of the products a block of output channels takes at a time: a multiple of the
/// blocked kernel's 48-column block, and 16 × [`MR`] × 48 values (24 KB) stay in L1 between the
/// GEMMs that write them and the inverse transform that reads them.
const SEGMENT: usize = 48;

/// The elements of a transformed tile.
const ELEMENTS: usize = 16;

thread_local! {
    /// A thread's transformed input and its block of products.
    static BUFFERS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether this CPU runs it (AVX-512F).
pub fn runs_here() -> bool {
    Isa::best() == Some(Isa::Avx512)
}

/// Input channels below which the transforms outweigh the GEMMs they shorten: training's
/// 1-channel stem took 1.5× as long as on the blocked kernel.
pub const MIN_CHANNELS: usize = 8;

/// Whether a convolution of this geometry runs here as F(2×2, 3×3): AVX-512, a 3×3 kernel at
/// stride 1 and padding 1, even sides, planes at least [`MIN_WIDTH`] wide, at least
/// [`MIN_CHANNELS`] input channels.
pub fn applies(from: Shape, kernel: usize, stride: usize, pad: usize) -> bool {
    runs_here()
        && from.c >= MIN_CHANNELS
        && kernel == 3
        && stride == 1
        && pad == 1
        && from.h.is_multiple_of(2)
        && from.w.is_multiple_of(2)
        && from.w >= MIN_WIDTH
}

/// `cout × cin × 3 × 3` weights transformed, `U = G g Gᵀ` per channel pair, and packed for the
/// blocked kernel as 16 matrices `cout × cin`, element `p` of the 4×4 transform in the `p`-th.
pub fn transform_weights(w: &[f32], cout: usize, cin: usize) -> Vec<Packed> {
    assert_eq!(w.len(), cout * cin * 9);
    let mut u = vec![0.0f32; ELEMENTS * cout * cin];
    for (pair, g) in w.chunks_exact(9).enumerate() {
        let g: [f64; 9] = std::array::from_fn(|i| f64::from(g[i]));
        // G g: the rows of g combined (4 × 3), then (G g) Gᵀ: its columns likewise (4 × 4).
        let rows = |c: usize| transform_g([g[c], g[3 + c], g[6 + c]]);
        let gg: [[f64; 4]; 3] = [rows(0), rows(1), rows(2)];
        for a in 0..4 {
            let col = transform_g([gg[0][a], gg[1][a], gg[2][a]]);
            for (k, v) in col.iter().enumerate() {
                u[(a * 4 + k) * cout * cin + pair] = *v as f32;
            }
        }
    }
    u.chunks_exact(cout * cin)
        .map(|m| Packed::for_isa(Isa::Avx512, m, 1, cout, cin))
        .collect()
}

/// The weights' transform, `U = G g Gᵀ`: `G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]`
/// (the weight gradient goes back through it, [`weight_grad`]).
const G: [[f64; 3]; 4] = [
    [1.0, 0.0, 0.0],
    [0.5, 0.5, 0.5],
    [0.5, -0.5, 0.5],
    [0.0, 0.0, 1.0],
];

/// `G · g` for a column of three taps: `[g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2]`.
fn transform_g(g: [f64; 3]) -> [f64; 4] {
    G.map(|row| row.iter().zip(&g).map(|(r, x)| r * x).sum())
}

/// This thread's part of a convolution on a batch: `x` the zero-padded input
/// (`cin × B·(H+2)·(W+2)`), `u` the 16 packed transformed weight matrices
/// ([`transform_weights`]), `acc` the fused sum's other operand, `y` the output
/// (`cout × B·H·W`), each value `relu?(conv + bias + acc)`.
#[allow(clippy::too_many_arguments)] // the weights, the geometry, the epilogue and the tensors
pub fn conv(
    u: &[Packed],
    (from, to): (Shape, Shape),
    (bias, relu): (Option<&[f32]>, bool),
    batch: usize,
    x: &[f32],
    acc: Option<&[f32]>,
    y: Out,
    part: Part,
) {
    assert!(applies(from, 3, 1, 1) && from.h == to.h && from.w == to.w);
    assert_eq!(u.len(), ELEMENTS);
    assert!(u.iter().all(|p| (p.cin(), p.cout()) == (from.c, to.c)));
    assert!(bias.is_none_or(|b| b.len() == to.c));
    let (cin, cout) = (from.c, to.c);
    let (hp, wp) = (from.h + 2, from.w + 2);
    let np = batch * hp * wp;
    assert_eq!(x.len(), cin * np);
    let n = batch * to.h * to.w;
    let tiles = to.w / 2;
    let lanes = lanes(tiles);
    let align = 16 / lanes.min(16);
    let tile_rows = batch * to.h / 2;
    let work = 2 * ELEMENTS * cout * cin * tile_rows * tiles;
    let threads = part.sharers(work);
    let (per_item, items) = tiling(tile_rows, threads, align, (COLUMNS / lanes).max(align));
    let (blocks, rows) = row_blocks(cout, items, threads, MR);
    let geometry = Geometry {
        cin,
        np,
        plane: hp * wp,
        wp,
        to,
        n,
        tiles,
        lanes,
    };

    BUFFERS.with_borrow_mut(|buffers| {
        for item in part.items(items * blocks, work) {
            let (t, r) = (item / blocks, item % blocks);
            let first = t * per_item;
            let count = per_item.min(tile_rows - first);
            let chunks = geometry.chunks(first, count);
            let columns = (count * lanes).next_multiple_of(16);
            let (o0, m) = (r * rows, rows.min(cout - r * rows));
            let v_len = ELEMENTS * element_stride(cin, columns);
            buffers.resize(v_len + ELEMENTS * MR * SEGMENT, 0.0);
            let (v, products) = buffers.split_at_mut(v_len);
            geometry.input(x, &chunks, columns, v);
            for ob in (o0..o0 + m).step_by(MR) {
                let mm = MR.min(o0 + m - ob);
                for start in (0..columns).step_by(SEGMENT) {
                    let width = SEGMENT.min(columns - start);
                    for (p, packed) in u.iter().enumerate() {
                        // SAFETY: the kernel runs here (AVX-512); element p's matrix is cin
                        // rows of `columns`, of which these are `width` from `start`;
                        // `products` holds MR rows of SEGMENT for each element.
                        unsafe {
                            blocked::conv(
                                packed,
                                (ob, mm),
                                Operands {
                                    x: v.as_ptr().add(p * element_stride(cin, columns) + start),
                                    x_rs: columns,
                                    offsets: &[0],
                                    width,
                                    dst: products.as_mut_ptr().add(p * MR * SEGMENT),
                                    dst_rs: SEGMENT,
                                    epilogue: Epilogue {
                                        bias: None,
                                        add: None,
                                        relu: false,
                                    },
                                },
                            )
                        }
                    }
                    // Chunks never straddle a segment: both are whole vectors.
                    let chunks = chunks
                        .iter()
                        .filter(|c| (start..start + width).contains(&c.column));
                    // SAFETY: the output rows of channels ob..ob+mm and of this item's tile
                    // rows are this item's alone; `acc` has the output's shape.
                    unsafe {
                        geometry.output(products, (ob, mm), (chunks, start), (bias, acc, relu), y)
                    };
                }
            }
        }
    });
}

/// Where element `p + 1` of a transform starts after element `p`'s `rows × columns` values: one
/// vector further, so the 16 elements a transformed tile stores do not fall in one set of the
/// L1 cache (`rows × columns` is often a multiple of 4 KB: 64 channels × 64 or 96 columns).
/// Without the extra vector (2 cores of an Intel Xeon, batch 32, 2026-12-05, medians of 3, the
/// two builds a few minutes apart) training's input gradient of a 16×16 layer of 64 channels
/// took 1.12× the time, of a 32×32 one of 32 channels 1.18×, and the weight gradient
/// ([`weight_grad`]) 1.26× and 1.36×; inference ran at 0.98× the frames a second at batch 1 and
/// 0.96× at batch 32 (the two builds alternating, 4 rounds).
fn element_stride(rows: usize, columns: usize) -> usize {
    rows * columns + 16
}

/// The lanes a row of `tiles` tiles takes in the buffers: whole vectors, or a half or a quarter
/// of one for rows of up to 8 or 4 tiles (consecutive rows share a vector, the last of a sample
/// with the next's first).
fn lanes(tiles: usize) -> usize {
    match tiles {
        0..=4 => 4,
        5..=8 => 8,
        _ => tiles.next_multiple_of(16),
    }
}

/// Where tiles lie in the padded input and in the output.
struct Geometry {
    cin: usize,
    /// Distance between input channels (the padded batch).
    np: usize,
    /// A padded plane's size.
    plane: usize,
    /// A padded row's length.
    wp: usize,
    to: Shape,
    /// Distance between output channels.
    n: usize,
    /// Tiles in a row of tiles.
    tiles: usize,
    /// Lanes a row of tiles takes in the buffers: `tiles` rounded up to whole vectors, or 8 or
    /// 4 for rows of up to 8 or 4 tiles, two or four of which share a vector.
    lanes: usize,
}

/// Sixteen lanes of tiles, in four groups of 4, and where they lie in the buffers.
struct Chunk {
    /// The four groups, in lane order.
    groups: [Group; 4],
    /// Column of the first lane in the buffers.
    column: usize,
}

/// Up to 4 consecutive tiles of one row of tiles: 4 lanes of the transformed vectors, 8 of the
/// padded rows loaded for them (their tiles' even and odd columns).
#[derive(Clone, Copy)]
struct Group {
    /// The row of tiles (across the batch).
    row: usize,
    /// Its first tile here.
    tile: usize,
    /// Tiles (0 to 4).
    tiles: usize,
}

impl Geometry {
    /// The first padded input row of tile row `g` (across the batch), channel 0.
    fn input_row(&self, g: usize) -> usize {
        let per_sample = self.to.h / 2;
        (g / per_sample) * self.plane + (g % per_sample) * 2 * self.wp
    }

    /// The first output of tile row `g`, channel 0.
    fn output_row(&self, g: usize) -> usize {
        let per_sample = self.to.h / 2;
        (g / per_sample) * self.to.h * self.to.w + (g % per_sample) * 2 * self.to.w
    }

    /// The chunks of tile rows `first..first + count`: 16 tiles of a row at a time, or two or
    /// four rows of up to 8 or 4 tiles (the last chunk's later rows empty when `count` is not
    /// a multiple).
    fn chunks(&self, first: usize, count: usize) -> Vec<Chunk> {
        let rows = first..first + count;
        let group = |g: usize, t: usize| Group {
            row: g,
            tile: t,
            tiles: if rows.contains(&g) {
                self.tiles.saturating_sub(t).min(4)
            } else {
                0
            },
        };
        let mut chunks = Vec::new();
        if self.lanes < 16 {
            // 16 / lanes rows a chunk, lanes / 4 groups a row.
            let per_row = self.lanes / 4;
            for g in rows.clone().step_by(16 / self.lanes) {
                chunks.push(Chunk {
                    groups: std::array::from_fn(|i| group(g + i / per_row, 4 * (i % per_row))),
                    column: (g - first) * self.lanes,
                });
            }
            return chunks;
        }
        for g in rows.clone() {
            for t0 in (0..self.tiles).step_by(16) {
                chunks.push(Chunk {
                    groups: std::array::from_fn(|i| group(g, t0 + 4 * i)),
                    column: (g - first) * self.lanes + t0,
                });
            }
        }
        chunks
    }

    /// The span of `row_of` over a chunk's non-empty groups, from the first's row to the last's
    /// (rows of consecutive samples lie one after the other), and each group's
    /// `(offset of its first tile's position from the span's start, tiles)`; `row_of` maps a
    /// tile row to its first position (tile `t` is at column `2t`, in the padded input and in
    /// the output alike).
    fn span(
        &self,
        chunk: &Chunk,
        row_of: impl Fn(usize) -> usize,
    ) -> (usize, usize, [(usize, usize); 4]) {
        let first = row_of(chunk.groups[0].row);
        let last = chunk
            .groups
            .iter()
            .filter(|g| g.tiles > 0)
            .map(|g| row_of(g.row))
            .max()
            .unwrap_or(first);
        let groups = chunk.groups.map(|g| {
            if g.tiles == 0 {
                (0, 0)
            } else {
                (row_of(g.row) - first + 2 * g.tile, g.tiles)
            }
        });
        (first, last, groups)
    }

    /// Transforms the input tiles of `chunks` into `v`: element `p`, channel `c`, lane `j` at
    /// `v[(p·cin + c)·columns + j]`.
    fn input(&self, x: &[f32], chunks: &[Chunk], columns: usize, v: &mut [f32]) {
        let stride = element_stride(self.cin, columns);
        assert!(v.len() >= ELEMENTS * stride);
        for chunk in chunks {
            // The padded input rows the chunk reads: four from each group's row.
            let (first, last, groups) = self.span(chunk, |g| self.input_row(g));
            let len = last - first + 4 * self.wp;
            for c in 0..self.cin {
                let src = &x[c * self.np + first..][..len];
                let dst = c * columns + chunk.column;
                // SAFETY: `applies` checked AVX-512F.
                unsafe { avx512::input_tiles(src, self.wp, groups, v, dst, stride) };
            }
        }
    }

    /// Transforms back the products of output channels `ob..ob + m` (`products`: element `p`,
    /// channel `o − ob`, lane `j` at `[(p·MR + o − ob)·SEGMENT + j − start]`) of `chunks`, with
    /// bias, the fused sum and ReLU, into `y`.
    ///
    /// # Safety
    /// `y` and `acc` hold the output (`cout × B·H·W`), and nothing else writes these channels'
    /// output rows of these chunks' tile rows meanwhile.
    unsafe fn output<'a>(
        &self,
        products: &[f32],
        (ob, m): (usize, usize),
        (chunks, start): (impl Iterator<Item = &'a Chunk>, usize),
        (bias, acc, relu): (Option<&[f32]>, Option<&[f32]>, bool),
        y: Out,
    ) {
        let w = self.to.w;
        for chunk in chunks {
            // The output rows the chunk writes: two from each group's row.
            let (first, last, groups) = self.span(chunk, |g| self.output_row(g));
            let len = last - first + 2 * w;
            for o in ob..ob + m {
                let bias = bias.map_or(0.0, |b| b[o]);
                let rows = o * self.n + first;
                // SAFETY: these output rows of this channel are this call's alone (the groups'
                // rows are consecutive, across a sample's end too).
                let dst = unsafe { y.slice(rows..rows + len) };
                let add = acc.map(|a| &a[rows..rows + len]);
                let src = (o - ob) * SEGMENT + chunk.column - start;
                // SAFETY: `applies` checked AVX-512F.
                unsafe {
                    avx512::output_tiles(
                        (products, src, MR * SEGMENT),
                        groups,
                        (bias, add, relu),
                        dst,
                        w,
                    )
                };
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Off x86-64 there is no AVX-512: [`runs_here`] is false, so [`applies`] is, and nothing
/// reaches these.
#[cfg(not(target_arch = "x86_64"))]
mod avx512 {
    pub unsafe fn input_tiles(
        _: &[f32],
        _: usize,
        _: [(usize, usize); 4],
        _: &mut [f32],
        _: usize,
        _: usize,
    ) {
        unreachable!("Winograd's transforms run on AVX-512 only")
    }

    pub unsafe fn output_tiles(
        _: (&[f32], usize, usize),
        _: [(usize, usize); 4],
        _: (f32, Option<&[f32]>, bool),
        _: &mut [f32],
        _: usize,
    ) {
        unreachable!("Winograd's transforms run on AVX-512 only")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::testing::values;

    /// A 3×3, pad-1 convolution of `x` (`cin × B·H·W`, not padded) in f64: `cout × B·H·W`.
    fn reference(x: &[f32], w: &[f32], (b, cin, h, wd): (usize, usize, usize, usize)) -> Vec<f64> {
        let cout = w.len() / (cin * 9);
        let n = b * h * wd;
        let mut y = vec![0.0; cout * n];
        for o in 0..cout {
            for s in 0..b {
                for r in 0..h {
                    for c in 0..wd {
                        let mut sum = 0.0;
                        for i in 0..cin {
                            for t in 0..9 {
                                let (yy, xx) = ((r + t / 3) as isize - 1, (c + t % 3) as isize - 1);
                                if (0..h as isize).contains(&yy) && (0..wd as isize).contains(&xx) {
                                    let v = x[i * n + s * h * wd + yy as usize * wd + xx as usize];
                                    sum += f64::from(w[(o * cin + i) * 9 + t]) * f64::from(v);
                                }
                            }
                        }
                        y[o * n + s * h * wd + r * wd + c] = sum;
                    }
                }
            }
        }
        y
    }

    /// Against the f64 reference with bias, the fused sum and ReLU, on odd shapes: rows of 4
    /// and 8 tiles four and two to a vector (numbers of tile rows a sample and in the batch
    /// that are not multiples, so vectors span samples and the last is part empty), of 6 (a
    /// group of 4 and one of 2), of 10 and 17 tiles (masked vectors, a chunk of one tile), and
    /// 32 (whole vectors); channels that fill no register block, one, and one and a part; one
    /// thread and two sharing the items.
    #[test]
    fn matches_a_plain_convolution_on_odd_shapes() {
        if !runs_here() {
            return;
        }
        let mut seed = 1;
        for (batch, cin, cout, h, w) in [
            (1, 11, 3, 6, 16),
            (3, 9, 8, 2, 16),
            (2, 17, 20, 4, 20),
            (3, 10, 9, 6, 34),
            (1, 16, 17, 4, 64),
            (2, 32, 24, 8, 32),
            (3, 8, 11, 6, 8),
            (2, 12, 16, 2, 12),
            (1, 9, 5, 10, 8),
        ] {
            for (relu, fused) in [(false, false), (true, true)] {
                seed += 1;
                let n = batch * h * w;
                let x = values(cin * n, seed);
                let weights = values(cout * cin * 9, seed + 100);
                let bias = values(cout, seed + 200);
                let acc = fused.then(|| values(cout * n, seed + 300));
                let (hp, wp) = (h + 2, w + 2);
                let mut padded = vec![0.0; cin * batch * hp * wp];
                for c in 0..cin {
                    for s in 0..batch {
                        for r in 0..h {
                            let from = &x[c * n + s * h * w + r * w..][..w];
                            let at = c * batch * hp * wp + s * hp * wp + (r + 1) * wp + 1;
                            padded[at..at + w].copy_from_slice(from);
                        }
                    }
                }
                let (from, to) = (Shape::new(cin, h, w), Shape::new(cout, h, w));
                assert!(applies(from, 3, 1, 1));
                let u = transform_weights(&weights, cout, cin);
                let want = reference(&x, &weights, (batch, cin, h, w));
                for count in [1, 2] {
                    let mut y = vec![f32::NAN; cout * n];
                    let out = Out::new(&mut y);
                    for index in 0..count {
                        let part = Part { index, count };
                        let epilogue = (Some(bias.as_slice()), relu);
                        let acc = acc.as_deref();
                        conv(&u, (from, to), epilogue, batch, &padded, acc, out, part);
                    }
                    for (i, (&got, &want)) in y.iter().zip(&want).enumerate() {
                        let mut want = want + f64::from(bias[i / n]);
                        if let Some(acc) = &acc {
                            want += f64::from(acc[i]);
                        }
                        if relu {
                            want = want.max(0.0);
                        }
                        let tolerance = 1e-5 * (cin as f64).sqrt() * 4.0;
                        assert!(
                            (f64::from(got) - want).abs() < tolerance,
                            "batch {batch}, {cin}→{cout}, {h}×{w}, {count} threads: output {i} \
                             {got} against {want}"
                        );
                    }
                }
            }
        }
    }

    /// Odd sides, narrow planes, few channels and other kernels stay off it.
    #[test]
    fn applies_only_to_3x3_pad_1_on_even_sides_wide_enough_with_channels_enough() {
        let ok = runs_here();
        assert_eq!(applies(Shape::new(8, 16, 16), 3, 1, 1), ok);
        assert_eq!(applies(Shape::new(8, 2, 40), 3, 1, 1), ok);
        assert!(!applies(Shape::new(7, 16, 16), 3, 1, 1));
        assert_eq!(applies(Shape::new(8, 4, 8), 3, 1, 1), ok);
        assert!(!applies(Shape::new(8, 4, 6), 3, 1, 1));
        assert_eq!(applies(Shape::new(8, 16, 14), 3, 1, 1), ok);
        assert!(!applies(Shape::new(8, 15, 16), 3, 1, 1));
        assert!(!applies(Shape::new(8, 16, 17), 3, 1, 1));
        assert!(!applies(Shape::new(8, 16, 16), 5, 1, 2));
        assert!(!applies(Shape::new(8, 16, 16), 3, 2, 1));
        assert!(!applies(Shape::new(8, 16, 16), 3, 1, 0));
    }
}
