//! The register-blocked convolution kernel (AVX-512, and AVX2+FMA): [`ConvMethod::Pointwise`],
//! [`ConvMethod::Shifted`] and [`ConvMethod::Direct`] as one implicit GEMM over every tap,
//! weights packed once at load.
//!
//! Why not the `gemm` crate, which the other paths call: a shifted convolution there is one GEMM
//! per tap (`k = cin`, 32 to 128 on this network) whose product is added to a tile in memory,
//! each call packing its operands, and the stem's 9 taps are too few for a GEMM at all. Here a
//! block of [`MR`] output channels × [`NR`] columns stays in 24 of the 32 vector registers over
//! all `taps × cin` products: per input channel and tap, three column vectors are loaded and
//! each of the `MR` weights is broadcast into three FMAs. Nothing is packed per call: the input
//! is read in place (a tap is an offset into it) and the weights were packed by
//! [`Packed::new`]. Measured against the `gemm` crate's path (interleaved runs on 2 cores): the
//! whole network 1.07× at batch 1 and 1.01× at batch 32, the stem 1.4–1.7×; the 3×3 and 1×1
//! convolutions themselves reach about 75% of a core's FMA peak, as the crate nearly did.
//!
//! The kernel has an AVX2+FMA form too ([`Isa`], the `avx2` module): blocks of 6 × 16 in 12 of
//! the 16 registers, which runs inference's shifted convolutions on CPUs without AVX-512 (see
//! [`super::ConvKernel::best`]), and of 4 × 16, half of a packed block of 8, which runs
//! training's 3×3 convolutions ([`super::sample`]: the forward pass at about 80% of a Zen 3
//! core's FMA peak). Without either (`available` false: NEON, portable) the `gemm` crate's
//! kernels and a portable loop for the stem run everything; the tests run every form this CPU
//! has.
//!
//! [`ConvMethod::Pointwise`]: crate::cpu::fast::plan::ConvMethod::Pointwise
//! [`ConvMethod::Shifted`]: crate::cpu::fast::plan::ConvMethod::Shifted
//! [`ConvMethod::Direct`]: crate::cpu::fast::plan::ConvMethod::Direct

/// Output channels of a register block.
pub const MR: usize = 8;
/// Column vectors (of 16 lanes) of a register block.
const NV: usize = 3;
/// Columns of a register block.
pub const NR: usize = 16 * NV;

/// Columns of the AVX2 kernel's blocks (two vectors of 8 lanes).
pub const AVX2_COLS: usize = 16;

/// Output channels of the AVX2 kernel's wide block (see the `avx2` module): what
/// [`Packed::for_isa`] packs for on a CPU whose best is [`Isa::Avx2`].
pub const AVX2_ROWS: usize = 6;

/// Weights packed for the kernel: for each block of `rows` output channels, for each tap, for
/// each input channel, the block's `rows` weights (zero past `cout`), so the kernel reads them
/// in order.
///
/// Blocks of [`MR`] suit the AVX-512 kernel and the AVX2 one in halves of 4 channels;
/// blocks of [`AVX2_ROWS`] the AVX2 kernel's wide form.
#[derive(Debug, Clone)]
pub struct Packed {
    w: Vec<f32>,
    cout: usize,
    cin: usize,
    taps: usize,
    rows: usize,
}

impl Packed {
    /// Packs tap-major weights, `w[(tap·cout + o)·cin + c]`, in blocks of [`MR`] channels.
    pub fn new(w: &[f32], taps: usize, cout: usize, cin: usize) -> Self {
        Self::with_rows(w, taps, cout, cin, MR)
    }

    /// Packs for the widest block `isa` has: [`MR`] channels on AVX-512, [`AVX2_ROWS`] on AVX2.
    pub fn for_isa(isa: Isa, w: &[f32], taps: usize, cout: usize, cin: usize) -> Self {
        let rows = match isa {
            Isa::Avx512 => MR,
            Isa::Avx2 => AVX2_ROWS,
        };
        Self::with_rows(w, taps, cout, cin, rows)
    }

    fn with_rows(w: &[f32], taps: usize, cout: usize, cin: usize, rows: usize) -> Self {
        assert_eq!(w.len(), taps * cout * cin);
        let mut packed = vec![0.0; cout.div_ceil(rows) * taps * cin * rows];
        for t in 0..taps {
            for o in 0..cout {
                for c in 0..cin {
                    packed[((o / rows * taps + t) * cin + c) * rows + o % rows] =
                        w[(t * cout + o) * cin + c];
                }
            }
        }
        Self {
            w: packed,
            cout,
            cin,
            taps,
            rows,
        }
    }

    /// Output channels of a packed block: a call's first channel must be a multiple of it.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Input channels.
    pub fn cin(&self) -> usize {
        self.cin
    }

    /// Output channels.
    pub fn cout(&self) -> usize {
        self.cout
    }
}

/// What is done to a block's sums on their way out: `relu?(sum + bias[o] + add[o][j])`.
#[derive(Debug, Clone, Copy)]
pub struct Epilogue<'a> {
    /// Bias of each output channel of the whole layer (`None`: none).
    pub bias: Option<&'a [f32]>,
    /// A tensor added, at the same (channel, column) as the output, with its own row stride.
    pub add: Option<(*const f32, usize)>,
    /// ReLU last.
    pub relu: bool,
}

/// The instruction sets the kernel is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// AVX-512F: 32 registers of 16 lanes, masked loads and stores.
    Avx512,
    /// AVX2 and FMA: 16 registers of 8 lanes.
    Avx2,
}

impl Isa {
    /// All of them, widest first.
    pub const ALL: [Self; 2] = [Self::Avx512, Self::Avx2];

    /// Whether this CPU runs it.
    pub fn runs_here(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            match self {
                Self::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
                Self::Avx2 => {
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma")
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// The widest this CPU runs, if any (no allocation: every kernel call asks).
    pub fn best() -> Option<Self> {
        Self::ALL.into_iter().find(|isa| isa.runs_here())
    }

    /// Every one this CPU runs, widest first (the tests run each).
    #[cfg(test)]
    pub fn runnable() -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|isa| isa.runs_here())
            .collect()
    }

    /// Columns of its register block: a call whose width is a multiple of it runs whole blocks.
    pub fn block_columns(self) -> usize {
        match self {
            Self::Avx512 => NR,
            Self::Avx2 => AVX2_COLS,
        }
    }

    /// Its name in `train`'s backend line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512 => "AVX-512",
            Self::Avx2 => "AVX2",
        }
    }
}

/// Whether this CPU runs the kernel.
pub fn available() -> bool {
    Isa::best().is_some()
}

/// Whether stride-1 convolutions (`shifted.rs` for inference, `sample.rs` for training) write
/// output rows of `width` columns from the registers straight into the output, rather than
/// through a tile of padded-grid positions copied out: rows of whole register blocks of the
/// widest kernel this CPU runs, and with AVX-512 rows of whole vectors too (16 and 32 columns,
/// blocks of one and two vectors: a Zen 4 core's one 512-bit FMA a cycle still outnumbers
/// their loads). Rows of 16 and 32 in place, against the tile, on 2 cores of a Zen 4 (both in
/// one process, alternating): inference 0.95–0.99× the time at batch 1 and 0.96–0.99× at
/// batch 32; the 32-column layers of a training step about 0.96×, a 64×64 step 0.99×.
pub fn rows_in_place(width: usize) -> bool {
    match Isa::best() {
        Some(Isa::Avx512) => width.is_multiple_of(16),
        Some(isa) => width.is_multiple_of(isa.block_columns()),
        None => false,
    }
}

/// The tensors of a call: where the input's taps are read and the sums are written.
#[derive(Debug, Clone, Copy)]
pub struct Operands<'a> {
    /// The input at the first column, input channels `x_rs` apart.
    pub x: *const f32,
    /// Distance between input channels.
    pub x_rs: usize,
    /// Each tap's offset from the column it contributes to (one entry per packed tap).
    pub offsets: &'a [usize],
    /// Columns.
    pub width: usize,
    /// The output at the first column of the call's first channel, channels `dst_rs` apart.
    pub dst: *mut f32,
    /// Distance between output channels.
    pub dst_rs: usize,
    /// What is done to the sums on their way out.
    pub epilogue: Epilogue<'a>,
}

/// Output channels `o0..o0 + m` (`o0` a multiple of [`Packed::rows`]) over `o.width` columns:
/// `dst[o − o0][j] = epilogue(Σ_tap Σ_c w(tap, o, c) · x[c·x_rs + offsets[tap] + j])`, rows of
/// `dst` `o.dst_rs` apart, the epilogue's `add` indexed like `dst` from channel `o0`.
///
/// On the widest instruction set this CPU has ([`Isa::best`]).
///
/// # Safety
/// [`available`] must be true; `x` must cover every `c·x_rs + offsets[tap] + j` read, `dst` and
/// `add` their `m` rows of `width`, and `dst` must not overlap `x` or `add`.
pub unsafe fn conv(p: &Packed, (o0, m): (usize, usize), o: Operands) {
    let isa = Isa::best().expect("the blocked kernel called on a CPU without AVX2 or AVX-512");
    // SAFETY: the caller's promise.
    unsafe { conv_on(isa, p, (o0, m), o) }
}

/// [`conv`] on the instruction set `isa`.
///
/// # Safety
/// As [`conv`], and this CPU must run `isa` ([`Isa::runs_here`]).
pub unsafe fn conv_on(isa: Isa, p: &Packed, (o0, m): (usize, usize), o: Operands) {
    assert!(o0.is_multiple_of(p.rows) && o0 + m <= p.cout && o.offsets.len() == p.taps);
    assert!(
        p.rows == MR || (isa == Isa::Avx2 && p.rows == AVX2_ROWS),
        "weights packed in blocks of {} channels for the {isa:?} kernel",
        p.rows
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's promise.
    unsafe {
        match isa {
            Isa::Avx512 => avx512::conv(p, (o0, m), o),
            Isa::Avx2 => avx2::conv(p, (o0, m), o),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("the blocked kernel ({isa:?}) called on a CPU without it")
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MR, NR, NV, Operands, Packed};
    use std::arch::x86_64::*;

    /// Lanes of column vector `v` inside a block of `cols` columns.
    fn mask(cols: usize, v: usize) -> __mmask16 {
        let lanes = cols.saturating_sub(16 * v).min(16);
        ((1u32 << lanes) - 1) as __mmask16
    }

    #[target_feature(enable = "avx512f")]
    pub unsafe fn conv(p: &Packed, (o0, m): (usize, usize), o: Operands) {
        let block_len = p.taps * p.cin * MR;
        for ob in (o0..o0 + m).step_by(MR) {
            let w = &p.w[ob / MR * block_len..][..block_len];
            let rows = (ob, ob - o0, MR.min(o0 + m - ob));
            for j in (0..o.width).step_by(NR) {
                let cols = NR.min(o.width - j);
                // A narrow block (the last of a row, or a small plane) takes only the column
                // vectors it needs: masked-off vectors would still cost their FMAs.
                // SAFETY: the caller's promise, for this block's rows and columns.
                unsafe {
                    match cols.div_ceil(16) {
                        1 => block::<1>(p, w, rows, o, (j, cols)),
                        2 => block::<2>(p, w, rows, o, (j, cols)),
                        _ => block::<NV>(p, w, rows, o, (j, cols)),
                    }
                }
            }
        }
    }

    /// One register block: `rows` output channels from channel `ob` (row `row0` of `dst` on),
    /// from the block's packed weights `w`, over columns `j..j + cols` (`cols ≤ 16·V`).
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const V: usize>(
        p: &Packed,
        w: &[f32],
        (ob, row0, rows): (usize, usize, usize),
        o: Operands,
        (j, cols): (usize, usize),
    ) {
        let (x, x_rs, dst, dst_rs, e) = (o.x, o.x_rs, o.dst, o.dst_rs, o.epilogue);
        let masks: [__mmask16; V] = std::array::from_fn(|v| mask(cols, v));
        let mut acc = [[_mm512_setzero_ps(); V]; MR];
        let mut wp = w.as_ptr();
        for &off in o.offsets {
            // Pointers move with `wrapping_add`: a masked-off vector's address, or the one past
            // the last channel, may lie outside `x`; only lanes that the mask keeps are read,
            // and those the caller promises are inside.
            let mut xp = x.wrapping_add(off + j);
            for _ in 0..p.cin {
                // SAFETY: see above.
                let xv: [__m512; V] = std::array::from_fn(|v| unsafe {
                    _mm512_maskz_loadu_ps(masks[v], xp.wrapping_add(16 * v))
                });
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: inside this block's packed weights.
                    let wr = _mm512_set1_ps(unsafe { *wp.add(r) });
                    for v in 0..V {
                        acc[v] = _mm512_fmadd_ps(wr, xv[v], acc[v]);
                    }
                }
                // SAFETY: at most one past the end of the block's weights.
                wp = unsafe { wp.add(MR) };
                xp = xp.wrapping_add(x_rs);
            }
        }
        // Out of the registers in one go: an epilogue indexing `acc` by a run-time row count
        // made the compiler keep it in memory, with a store after every FMA.
        let mut sums = [0.0f32; MR * NR];
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                // SAFETY: in bounds of `sums`.
                unsafe { _mm512_storeu_ps(sums.as_mut_ptr().add(r * NR + 16 * v), *acc) };
            }
        }
        for r in 0..rows {
            let row = row0 + r;
            let bias = _mm512_set1_ps(e.bias.map_or(0.0, |b| b[ob + r]));
            for (v, &mask) in masks.iter().enumerate() {
                let at = row * dst_rs + j + 16 * v;
                // SAFETY: in bounds of `sums`.
                let sum = unsafe { _mm512_loadu_ps(sums.as_ptr().add(r * NR + 16 * v)) };
                let mut s = _mm512_add_ps(sum, bias);
                if let Some((add, add_rs)) = e.add {
                    // SAFETY: the caller's promise on `add` for the lanes kept.
                    let a = unsafe {
                        _mm512_maskz_loadu_ps(mask, add.wrapping_add(row * add_rs + j + 16 * v))
                    };
                    s = _mm512_add_ps(s, a);
                }
                if e.relu {
                    s = _mm512_max_ps(s, _mm512_setzero_ps());
                }
                // SAFETY: the caller's promise on `dst` for the lanes kept.
                unsafe { _mm512_mask_storeu_ps(dst.wrapping_add(at), mask, s) };
            }
        }
    }
}

/// The kernel on AVX2 and FMA (16 vector registers of 8 lanes), for the CPUs without AVX-512
/// (every AMD CPU before Zen 4, most desktop and laptop Intel ones), in two forms by the
/// weights' packing:
///
/// - blocks of [`AVX2_ROWS`] = 6 output channels × two column vectors: 12 sums, two loaded
///   inputs and a broadcast weight, 15 of the 16 registers (the classic AVX2 GEMM block). FMAs
///   take 4 cycles on two pipes, so 8 sums in flight are just enough and 12 leave room. Against
///   the `gemm` crate's per-tap GEMMs it ran every shifted 3×3 convolution of the network
///   faster (2 cores of a Zen 3, batch 1: 2.42 → 2.16 ms in all; batch 32: 72.9 → 67.1 ms),
///   where the 1×1 ones stay on the crate (their 32 to 128 products a sum are too few to
///   amortise a block's way out);
/// - half of a packed block of [`MR`]: 4 channels × two column vectors, 8 sums, which training's
///   per-sample convolutions run on (the wide form was no faster there).
///
/// Three column vectors (12 sums, 3 loaded inputs and a broadcast weight: all 16 registers)
/// made the compiler move sums through the stack on every step.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{AVX2_COLS as COLS, AVX2_ROWS, MR, Operands, Packed};
    use std::arch::x86_64::*;

    /// The first `lanes` (≤ 8) lanes set, for masked loads.
    fn mask(lanes: usize) -> __m256i {
        // SAFETY: plain arithmetic on registers (AVX, implied by the callers' AVX2).
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(lanes as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn conv(p: &Packed, (o0, m): (usize, usize), o: Operands) {
        // SAFETY: the caller's promise.
        unsafe {
            if p.rows == AVX2_ROWS {
                blocks::<AVX2_ROWS>(p, (o0, m), o)
            } else {
                debug_assert_eq!(p.rows, MR);
                blocks::<{ MR / 2 }>(p, (o0, m), o)
            }
        }
    }

    /// Every block of `ROWS` channels × [`COLS`] columns, a row of blocks at a time.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn blocks<const ROWS: usize>(p: &Packed, (o0, m): (usize, usize), o: Operands) {
        let block_len = p.taps * p.cin * p.rows;
        for ob in (o0..o0 + m).step_by(ROWS) {
            // Weights of rows `ob..ob + ROWS` inside their packed block.
            let w = &p.w[ob / p.rows * block_len + ob % p.rows..];
            let rows = (ob, ob - o0, ROWS.min(o0 + m - ob));
            for j in (0..o.width).step_by(COLS) {
                let cols = COLS.min(o.width - j);
                // Whole vectors load plainly; only a block's last, partial vector is masked.
                // SAFETY: the caller's promise, for this block's rows and columns.
                unsafe {
                    match (cols / 8, cols % 8) {
                        (2, 0) => block::<ROWS, 2, 2>(p, w, rows, o, (j, cols)),
                        (1, 0) => block::<ROWS, 1, 1>(p, w, rows, o, (j, cols)),
                        (1, _) => block::<ROWS, 2, 1>(p, w, rows, o, (j, cols)),
                        _ => block::<ROWS, 1, 0>(p, w, rows, o, (j, cols)),
                    }
                }
            }
        }
    }

    /// One block: `rows` (≤ `ROWS`) output channels from channel `ob` (row `row0` of `dst` on),
    /// from weights `w` (the block's first row's, rows `p.rows` apart), over columns
    /// `j..j + cols` (`cols ≤ 8·V`), of which the first `FULL` vectors are whole.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const ROWS: usize, const V: usize, const FULL: usize>(
        p: &Packed,
        w: &[f32],
        (ob, row0, rows): (usize, usize, usize),
        o: Operands,
        (j, cols): (usize, usize),
    ) {
        let (x, x_rs, dst, dst_rs, e) = (o.x, o.x_rs, o.dst, o.dst_rs, o.epilogue);
        let last = mask(cols.saturating_sub(8 * FULL));
        let mut acc = [[_mm256_setzero_ps(); V]; ROWS];
        let mut wp = w.as_ptr();
        for &off in o.offsets {
            // Pointers move with `wrapping_add`, as in the AVX-512 kernel: only lanes inside
            // the block's columns are read, and those the caller promises are inside `x`.
            let mut xp = x.wrapping_add(off + j);
            for _ in 0..p.cin {
                // SAFETY: whole vectors lie inside the block's columns; the partial one is
                // masked to them.
                let xv: [__m256; V] = std::array::from_fn(|v| unsafe {
                    if v < FULL {
                        _mm256_loadu_ps(xp.wrapping_add(8 * v))
                    } else {
                        _mm256_maskload_ps(xp.wrapping_add(8 * v), last)
                    }
                });
                for (r, acc) in acc.iter_mut().enumerate() {
                    // SAFETY: inside the packed weights (rows past `cout` are zeros there).
                    let wr = _mm256_broadcast_ss(unsafe { &*wp.add(r) });
                    for v in 0..V {
                        acc[v] = _mm256_fmadd_ps(wr, xv[v], acc[v]);
                    }
                }
                wp = wp.wrapping_add(p.rows);
                xp = xp.wrapping_add(x_rs);
            }
        }
        // Out of the registers in one go, as in the AVX-512 kernel.
        let mut sums = [[0.0f32; COLS]; ROWS];
        for (r, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                // SAFETY: in bounds of `sums[r]`.
                unsafe { _mm256_storeu_ps(sums[r].as_mut_ptr().add(8 * v), *acc) };
            }
        }
        for (r, sums) in sums.iter().enumerate().take(rows) {
            let row = row0 + r;
            let bias = e.bias.map_or(0.0, |b| b[ob + r]);
            let out = dst.wrapping_add(row * dst_rs + j);
            let add = e
                .add
                .map(|(add, add_rs)| add.wrapping_add(row * add_rs + j));
            for v in 0..FULL {
                // SAFETY: in bounds of `sums`.
                let mut s = _mm256_add_ps(
                    unsafe { _mm256_loadu_ps(sums.as_ptr().add(8 * v)) },
                    _mm256_set1_ps(bias),
                );
                if let Some(add) = add {
                    // SAFETY: the caller's promise on `add` for the block's columns.
                    s = _mm256_add_ps(s, unsafe { _mm256_loadu_ps(add.add(8 * v)) });
                }
                if e.relu {
                    s = _mm256_max_ps(s, _mm256_setzero_ps());
                }
                // SAFETY: the caller's promise on `dst` for the block's columns.
                unsafe { _mm256_storeu_ps(out.add(8 * v), s) };
            }
            // The partial vector's columns one by one (a masked store is slow on AMD).
            for (c, &sum) in sums.iter().enumerate().take(cols).skip(8 * FULL) {
                let mut s = sum + bias;
                if let Some(add) = add {
                    // SAFETY: the caller's promise on `add` for the block's columns.
                    s += unsafe { *add.add(c) };
                }
                if e.relu {
                    s = s.max(0.0);
                }
                // SAFETY: the caller's promise on `dst` for the block's columns.
                unsafe { *out.add(c) = s };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel, on every instruction set this CPU runs, against a plain triple loop on sizes
    /// that are not multiples of the block: channels past a register block (and past half of
    /// one), columns past a vector and a block (so blocks of every width in column vectors, whole
    /// and partial), taps at odd offsets, every epilogue.
    #[test]
    fn matches_a_plain_loop_on_odd_sizes() {
        if !available() {
            eprintln!("no AVX2 or AVX-512 here: the kernel is not used on this CPU");
            return;
        }
        for isa in Isa::runnable() {
            matches_a_plain_loop_on(isa);
        }
    }

    fn matches_a_plain_loop_on(isa: Isa) {
        let mut next = crate::cpu::testing::centred(7);
        for (cout, cin, offsets, width) in [
            (1, 1, vec![0], 1),
            (8, 3, vec![0], 48),
            (13, 5, vec![0, 1, 7], 17),
            (24, 9, vec![0, 1, 2, 11, 12, 13, 22, 23, 24], 100),
            (17, 16, vec![3], 95),
            (6, 2, vec![0, 2], 24),
            (3, 4, vec![1], 16),
            (5, 3, vec![0, 5], 9),
            (12, 7, vec![2, 4], 41),
        ] {
            let taps = offsets.len();
            let x_rs = width + 30;
            let w: Vec<f32> = (0..taps * cout * cin).map(|_| next()).collect();
            let x: Vec<f32> = (0..cin * x_rs).map(|_| next()).collect();
            let bias: Vec<f32> = (0..cout).map(|_| next()).collect();
            let add: Vec<f32> = (0..cout * width).map(|_| next()).collect();
            for packed in [
                Packed::new(&w, taps, cout, cin),
                Packed::for_isa(isa, &w, taps, cout, cin),
            ] {
                for (relu, with_bias, with_add) in [(false, false, false), (true, true, true)] {
                    // Rows in two calls, the second starting at a register block.
                    let rows = packed.rows();
                    let split = if cout > rows { rows } else { cout };
                    let mut got = vec![f32::NAN; cout * width];
                    for (o0, m) in [(0, split), (split, cout - split)] {
                        if m == 0 {
                            continue;
                        }
                        let e = Epilogue {
                            bias: with_bias.then_some(bias.as_slice()),
                            add: with_add.then(|| (add[o0 * width..].as_ptr(), width)),
                            relu,
                        };
                        // SAFETY: x covers cin rows of x_rs ≥ every offset + width; got and add
                        // cover m rows of width from o0.
                        unsafe {
                            conv_on(
                                isa,
                                &packed,
                                (o0, m),
                                Operands {
                                    x: x.as_ptr(),
                                    x_rs,
                                    offsets: &offsets,
                                    width,
                                    dst: got[o0 * width..].as_mut_ptr(),
                                    dst_rs: width,
                                    epilogue: e,
                                },
                            )
                        };
                    }
                    for o in 0..cout {
                        for j in 0..width {
                            let mut s = 0.0f64;
                            for (t, off) in offsets.iter().enumerate() {
                                for c in 0..cin {
                                    s += w[(t * cout + o) * cin + c] as f64
                                        * x[c * x_rs + off + j] as f64;
                                }
                            }
                            if with_bias {
                                s += bias[o] as f64;
                            }
                            if with_add {
                                s += add[o * width + j] as f64;
                            }
                            if relu {
                                s = s.max(0.0);
                            }
                            let g = got[o * width + j];
                            assert!(
                                (g as f64 - s).abs() < 1e-5,
                                "{isa:?}, blocks of {rows}: cout {cout} cin {cin} taps {taps} width {width}: [{o}][{j}] {g} != {s}"
                            );
                        }
                    }
                }
            }
        }
    }
}
