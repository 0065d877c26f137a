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
//! - [`ConvMethod::Direct`]: few input taps (the 1-channel stem), where a GEMM would be all
//!   overhead: each output row is a sum of shifted input rows, and a following 2×2 max pooling
//!   is done on the rows before they are written.
//!
//! - [`ConvMethod::Winograd`]: 3×3, pad-1 convolutions as Winograd's F(2×2, 3×3) over the same
//!   padded input, 2.25× fewer multiplies, on AVX-512 with the blocked kernel ([`winograd`]).
//!
//! Where the CPU has AVX-512, pointwise, shifted and direct convolutions run on [`blocked`]
//! instead ([`ConvKernel::Blocked`]): all taps of a register block summed in registers, no
//! per-tap GEMM. With AVX2 alone only the shifted ones do ([`ConvKernel::ShiftedBlocked`]), on
//! the kernel's wide AVX2 block; the pointwise ones ran slower there than the GEMMs, and the
//! direct stem has an AVX2 row kernel of its own. The tests run every kernel this CPU runs.
//!
//! Bias, the fused sum and ReLU are applied to the tile while it is still in cache.
//!
//! [`sample`] puts training's stride-1 k×k convolutions (a batch laid out sample by sample) on
//! the same blocked kernel, AVX-512 or AVX2: the forward pass and the input gradient;
//! [`weight_grad`] their weight gradient, on a register-blocked kernel of its own, or where
//! Winograd's applies as [`winograd::weight_grad`] (on [`grad_gemm`]); [`batched`] training's
//! convolutions on the smallest planes, as GEMMs over the whole batch.

pub mod batched;
pub mod blocked;
mod direct;
pub mod grad_gemm;
pub mod one_channel;
pub mod sample;
mod shifted;
pub mod stem_grad;
mod unfolded;
pub mod weight_grad;
pub mod winograd;

use std::cell::RefCell;

use super::plan::{ConvMethod, ConvStep};
use super::team::{Out, Part};

/// Which kernel runs the pointwise, shifted and direct convolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvKernel {
    /// The register-blocked kernel over packed weights (`conv::blocked`), AVX-512 or AVX2.
    Blocked,
    /// The register-blocked kernel for the shifted (stride-1 k×k) convolutions only, the rest
    /// as [`Gemm`](Self::Gemm).
    ShiftedBlocked,
    /// GEMMs from the `gemm` crate (AVX2+FMA, NEON, portable, and AVX-512), and the direct
    /// convolution's row kernels.
    Gemm,
}

impl ConvKernel {
    /// The fastest this CPU runs: the blocked kernel for everything where it has AVX-512; on
    /// AVX2 alone for the shifted convolutions, with the `gemm` crate's path for the rest.
    /// Measured on 2 cores of an AMD EPYC Zen 3 (2026-12-03, both kernels in one process,
    /// interleaved, medians): its wide AVX2 block ran the shifted 3×3 convolutions 1.12× as
    /// fast as the crate at batch 1 (2.42 → 2.16 ms a frame) and 1.09× at batch 32, each layer
    /// 1.03–1.4×; the 1×1 ones took up to 1.5× as long as on the crate (their rows lie a power
    /// of two apart, and 32 to 128 products a sum are few) and the stem 1.2× as long as on its
    /// AVX2 row kernel (which has since become 2.1–2.5× as fast). Elsewhere, the `gemm` crate's
    /// path.
    ///
    /// In builds without optimization of this crate (`cargo test`'s profile, which optimizes
    /// only the dependencies) the `gemm` crate's path on AVX2: there the wide block took 2.6×
    /// the crate's time and the network 1.3× (19.4 against 14.9 ms a frame), which starved the
    /// viewer's live tests.
    pub fn best() -> Self {
        match blocked::Isa::best() {
            Some(blocked::Isa::Avx512) => Self::Blocked,
            Some(blocked::Isa::Avx2) if !cfg!(debug_assertions) => Self::ShiftedBlocked,
            _ => Self::Gemm,
        }
    }

    /// Its name in `bench` rows.
    pub fn name(self) -> &'static str {
        match (self, blocked::Isa::best()) {
            (Self::Gemm, _) => "gemm",
            (Self::ShiftedBlocked, Some(blocked::Isa::Avx2)) => "avx2-blocked-kxk+gemm",
            (Self::ShiftedBlocked, _) => "avx512-blocked-kxk+gemm",
            (Self::Blocked, Some(blocked::Isa::Avx2)) => "avx2-blocked",
            (Self::Blocked, _) => "avx512-blocked",
        }
    }

    /// Whether the plan packs weights of `method` for the blocked kernel.
    pub fn packs(self, method: ConvMethod) -> bool {
        match self {
            Self::Blocked => !matches!(method, ConvMethod::Im2col | ConvMethod::Winograd),
            Self::ShiftedBlocked => method == ConvMethod::Shifted,
            Self::Gemm => false,
        }
    }

    /// Every kernel this CPU runs (the tests run each).
    pub fn runnable() -> Vec<Self> {
        let mut kernels = vec![Self::Gemm];
        if blocked::available() {
            kernels.extend([Self::Blocked, Self::ShiftedBlocked]);
        }
        kernels
    }
}

/// Input taps (`cin·k·k`) up to which [`ConvMethod::Direct`] beats a GEMM: what the plan picks
/// it for, and so the bound of the direct kernel's weights.
pub const DIRECT_MAX_TAPS: usize = 27;

/// Widest tile, in output columns: `576 × 256` f32 of im2col is 590 KB, and wider tiles fell off
/// the GEMM's fast regime on this machine's shapes (the crate blocks for the L3 it detects).
const MAX_TILE: usize = 256;

/// Widest tile of a pointwise convolution on the `gemm` crate, which reads its input in place
/// (nothing unfolded to keep in L2): the crate packs the weights again on every call, and on
/// the network's 1×1 layers with 32 to 128 input channels tiles of up to 1024 columns took
/// 0.82–0.93× the time of tiles of 256 (batch 1, 2 cores of a Zen 3, per layer).
const POINTWISE_GEMM_MAX_TILE: usize = 1024;

thread_local! {
    /// The im2col tile, or the shifted method's output tile.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Tiles of about `max_tile` columns at most over `n` columns, each a multiple of `align` (16,
/// the widest vector, or a pair of rows when a pooling is fused), as many as a multiple of
/// `threads` where that fits so no thread waits for another's extra tile.
fn tiling(n: usize, threads: usize, align: usize, max_tile: usize) -> (usize, usize) {
    let max = max_tile.next_multiple_of(align);
    let per_thread = n.div_ceil(threads).div_ceil(max);
    let tile = n
        .div_ceil(threads * per_thread)
        .next_multiple_of(align)
        .clamp(align, max);
    (tile, n.div_ceil(tile))
}

/// This thread's part of `step` on a batch: `x` is the input (`cin × B·H·W`, padded for
/// [`ConvMethod::Shifted`]), `acc` the fused sum's other operand (`cout × B·Ho·Wo`), `y` the
/// output.
pub fn conv(step: &ConvStep, batch: usize, x: &[f32], acc: Option<&[f32]>, y: Out, part: Part) {
    assert_eq!(y.len(), batch * step.output_shape().len());
    assert!(acc.is_none_or(|a| a.len() == batch * step.to.len()));
    match step.method {
        ConvMethod::Shifted => shifted::conv(step, batch, x, acc, y, part),
        ConvMethod::Winograd => {
            let super::plan::ConvWeights::Winograd(u) = &step.weights else {
                panic!("a Winograd convolution without transformed weights")
            };
            let epilogue = (Some(step.bias.as_slice()), step.relu);
            let shapes = (step.from, step.to);
            winograd::conv(u, shapes, epilogue, batch, x, acc, y, part)
        }
        ConvMethod::Pointwise | ConvMethod::Im2col => unfolded::conv(step, batch, x, acc, y, part),
        ConvMethod::Direct => direct::conv(step, batch, x, acc, y, part),
    }
}

/// One row of a tile out to the output: `dst = relu?(src + bias + add)`, the epilogue of the
/// paths whose GEMMs (the `gemm` crate's) have none of their own.
fn finish_row(dst: &mut [f32], src: &[f32], bias: f32, add: Option<&[f32]>, relu: bool) {
    assert!(src.len() == dst.len() && add.is_none_or(|a| a.len() == dst.len()));
    match (add, relu) {
        (Some(add), relu) => {
            for ((d, s), a) in dst.iter_mut().zip(src).zip(add) {
                let v = s + bias + a;
                *d = if relu { v.max(0.0) } else { v };
            }
        }
        (None, true) => {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = (s + bias).max(0.0);
            }
        }
        (None, false) => {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s + bias;
            }
        }
    }
}

/// Splits `cout` output channels into blocks when there are fewer tiles than threads: the number
/// of blocks and the rows of each (a multiple of `granule`, the kernel's register block).
fn row_blocks(cout: usize, tiles: usize, threads: usize, granule: usize) -> (usize, usize) {
    let blocks = if tiles >= threads {
        1
    } else {
        threads.div_ceil(tiles).min(cout.div_ceil(16))
    };
    let rows = cout.div_ceil(blocks).next_multiple_of(granule);
    (cout.div_ceil(rows), rows)
}

/// The offset of each tap of a `k × k` kernel from the window's top-left position, on a plane
/// whose rows are `row` values apart: what the blocked kernel adds to a position to read a tap.
pub fn tap_offsets(k: usize, row: usize) -> Vec<usize> {
    (0..k * k).map(|t| t / k * row + t % k).collect()
}

/// Copies the `C × H × W` sample `x` into `dst` zero-padded by `pad` on every side, channel
/// `c` starting at `c · channel` (`channel` ≥ the padded plane): only the image is written, so
/// `dst` must be zero where the padding lies.
pub fn pad_sample(x: &[f32], (h, w): (usize, usize), pad: usize, channel: usize, dst: &mut [f32]) {
    let wp = w + 2 * pad;
    for (c, src) in x.chunks_exact(h * w).enumerate() {
        for (r, row) in src.chunks_exact(w).enumerate() {
            let at = c * channel + (r + pad) * wp + pad;
            dst[at..at + w].copy_from_slice(row);
        }
    }
}

/// `cout × cin × k × k` weights reordered `k·k × cout × cin`: one `cout × cin` matrix per tap.
pub fn tap_major(w: &[f32], cout: usize, cin: usize, k: usize) -> Vec<f32> {
    let taps = k * k;
    let mut out = vec![0.0; w.len()];
    for o in 0..cout {
        for i in 0..cin {
            for t in 0..taps {
                out[(t * cout + o) * cin + i] = w[(o * cin + i) * taps + t];
            }
        }
    }
    out
}

/// What the tests of training's convolutions share.
#[cfg(test)]
pub(crate) mod testing {
    pub use crate::cpu::testing::values;
    use crate::net::program::Conv2d;

    /// One-channel convolutions the stem's kernels are tested on, `(cout, h, w, kernel, pad)`:
    /// planes narrower and wider than a vector and not multiples of one (the last vector's
    /// columns one by one), heights of 3 to 11 rows (blocks of rows and rows left over), odd
    /// channel counts, 3×3, 2×2 and 1×1 kernels with padding 0 to 2.
    pub const ONE_CHANNEL: [(usize, usize, usize, usize, usize); 6] = [
        (5, 7, 9, 3, 1),
        (4, 3, 37, 3, 0),
        (3, 11, 64, 3, 1),
        (2, 6, 23, 2, 1),
        (7, 5, 18, 1, 0),
        (1, 9, 70, 3, 2),
    ];

    /// A stride-1 convolution from `x` to `y`.
    pub fn stride1(cin: usize, cout: usize, kernel: usize, pad: usize, relu: bool) -> Conv2d {
        Conv2d {
            relu,
            ..strided(cin, cout, kernel, 1, pad)
        }
    }

    /// A convolution from `x` to `y` with stride `stride`, without a fused ReLU.
    pub fn strided(cin: usize, cout: usize, kernel: usize, stride: usize, pad: usize) -> Conv2d {
        Conv2d {
            name: "c".into(),
            input: "x".into(),
            output: "y".into(),
            cin,
            cout,
            kernel,
            stride,
            pad,
            relu: false,
        }
    }
}
