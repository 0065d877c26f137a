//! The one GEMM every CPU path calls (the reference, training and the fast path's tiles):
//! `C = α·A·B + β·C` with arbitrary strides (matrixmultiply's signature, which the reference was
//! written against), on the `gemm` crate's runtime-dispatched AVX-512 / AVX2+FMA / NEON kernels. On this
//! project's shapes it ran 1.2–4× matrixmultiply's speed (measured before the switch: 182 against
//! 47 GFLOP/s for a 1024×1024 layer at batch 32 on one core). One shape it handles badly, a
//! narrow product over a right-hand side whose rows lie a multiple of 4 KB apart (the 64×64
//! planes of the first residual block), is given a copy of that side in tiles instead
//! (`aliases`); so, on AVX-512, is a right-hand side read column by column whose columns lie a
//! multiple of 4 KB apart (the 1×1 convolutions' weight gradients, the fully connected layers'
//! forward pass: `columns_alias`).

/// How the product is spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The calling thread alone (the caller already runs samples in parallel).
    One,
    /// Rayon's pool.
    Pool,
}

/// `C (m×n) = alpha · A (m×k) · B (k×n) + beta · C`; each matrix given by its pointer, row
/// stride and column stride in elements (`beta == 0` ignores what `C` held).
///
/// # Safety
/// Every pointer must cover its matrix with the strides given, and `C` must not overlap `A` or
/// `B`.
#[allow(clippy::too_many_arguments)] // three strided matrices and two scalars
pub unsafe fn sgemm(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    a: *const f32,
    (rsa, csa): (isize, isize),
    b: *const f32,
    (rsb, csb): (isize, isize),
    beta: f32,
    c: *mut f32,
    (rsc, csc): (isize, isize),
    threads: Threads,
) {
    if aliases((m, k, n), (rsb, csb)) {
        // SAFETY: the caller's promise, passed on tile by tile.
        return unsafe {
            sgemm_copying_b(
                (m, k, n),
                alpha,
                (a, rsa, csa),
                (b, rsb),
                beta,
                (c, rsc, csc),
                threads,
            )
        };
    }
    if columns_alias((m, k, n), (rsb, csb)) {
        // SAFETY: the caller's promise, passed on tile by tile.
        return unsafe {
            sgemm_copying_columns(
                (m, k, n),
                alpha,
                (a, rsa, csa),
                (b, csb),
                beta,
                (c, rsc, csc),
                threads,
            )
        };
    }
    let parallelism = match threads {
        Threads::One => gemm::Parallelism::None,
        Threads::Pool => gemm::Parallelism::Rayon(0),
    };
    // SAFETY: the caller's promise; `gemm` computes dst = α'·dst + β'·lhs·rhs.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            csc,
            rsc,
            beta != 0.0,
            a,
            csa,
            rsa,
            b,
            csb,
            rsb,
            beta,
            alpha,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// Columns of `B` per copied tile in [`sgemm_copying_b`], and the padding of the copy's rows.
const TILE: usize = 512;
const TILE_PAD: usize = 16;

thread_local! {
    /// [`sgemm_copying_b`]'s copy of a tile of `B`.
    static B_TILE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether `B`'s rows alias in cache on the `gemm` crate's path: row-major with a row stride of
/// a multiple of 4 KB (a 64×64 or 128×128 plane: every row of a column falls in the same few
/// cache sets), and a narrow `C` (at most 32 rows). There the crate ran at about half its speed
/// (31–54 against 80 GFLOP/s for a 32×64 by 64×4096 product with a row stride of 4,000, one
/// core of a Zen 3); on a copy of `B` in tiles of [`TILE`] columns with padded rows, 61–70.
/// Measured on AVX2 only: left to the crate where AVX-512 is present.
fn aliases((m, k, n): (usize, usize, usize), (rsb, csb): (isize, isize)) -> bool {
    let stride = rsb.unsigned_abs();
    csb == 1
        && m <= 32
        && k >= 16
        && n >= TILE
        && stride >= 1024
        && stride.is_multiple_of(1024)
        && !avx512()
}

/// Whether `B` is read column by column (column-major: row stride 1) with its columns a multiple
/// of 4 KB apart, on AVX-512. There the `gemm` crate ran at a third to a half of its speed on
/// the products of training: a 1×1 convolution's weight gradient over 64×64 and 32×32 planes
/// (`dy · xᵀ`, `xᵀ`'s columns the input's planes) at 17–51 GFLOP/s against 60–98 on a copy
/// with padded columns (the copy included; one core of an AMD EPYC Zen 4, 32–128 channels), and
/// a 1024 → 1024 fully connected layer at batch 32 (`x · Wᵀ`) in 2.9 against 1.55 ms (two
/// cores). Not measured on AVX2, so left to the crate there.
fn columns_alias((m, k, n): (usize, usize, usize), (rsb, csb): (isize, isize)) -> bool {
    let stride = csb.unsigned_abs();
    rsb == 1
        && m <= 128
        && k >= 16
        && n >= 2
        && stride >= 1024
        && stride.is_multiple_of(1024)
        && avx512()
}

/// Whether this CPU has AVX-512 F (the `gemm` crate's widest kernels).
fn avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// [`sgemm`] with `B` (row-major, row stride `rsb`) copied [`TILE`] columns at a time into rows
/// of `TILE + TILE_PAD` values, each tile's product computed from the copy.
///
/// # Safety
/// As [`sgemm`].
unsafe fn sgemm_copying_b(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    a: (*const f32, isize, isize),
    (b, rsb): (*const f32, isize),
    beta: f32,
    c: (*mut f32, isize, isize),
    threads: Threads,
) {
    let ld = TILE + TILE_PAD;
    let tiles = Tiles {
        columns: TILE,
        len: k * ld,
        strides: (ld as isize, 1),
    };
    // SAFETY: the caller's promise; each tile is k rows of `width` values, ld apart.
    unsafe {
        sgemm_on_copies(
            (m, k, n),
            alpha,
            a,
            beta,
            c,
            threads,
            tiles,
            |j0, width, tile| {
                for (r, row) in tile.chunks_exact_mut(ld).enumerate() {
                    // SAFETY: row r of B holds columns j0..j0 + width (the caller's promise).
                    let src = std::slice::from_raw_parts(b.offset(r as isize * rsb).add(j0), width);
                    row[..width].copy_from_slice(src);
                }
            },
        )
    }
}

/// Most values of `B` copied at once by [`sgemm_copying_columns`] (1 MiB of f32).
const COLUMN_TILE_VALUES: usize = 256 * 1024;

/// [`sgemm`] with `B` (column-major, column stride `csb`) copied a tile of whole columns at a
/// time into columns `k + TILE_PAD` values apart, each tile's product computed from the copy.
///
/// # Safety
/// As [`sgemm`].
unsafe fn sgemm_copying_columns(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    a: (*const f32, isize, isize),
    (b, csb): (*const f32, isize),
    beta: f32,
    c: (*mut f32, isize, isize),
    threads: Threads,
) {
    // Padded so the copy's columns do not alias (else this would copy again).
    let ld = if (k + TILE_PAD).is_multiple_of(1024) {
        k + 2 * TILE_PAD
    } else {
        k + TILE_PAD
    };
    let columns = (COLUMN_TILE_VALUES / ld).clamp(1, n);
    let tiles = Tiles {
        columns,
        len: columns * ld,
        strides: (1, ld as isize),
    };
    // SAFETY: the caller's promise; each tile is `width` columns of k values, ld apart.
    unsafe {
        sgemm_on_copies(
            (m, k, n),
            alpha,
            a,
            beta,
            c,
            threads,
            tiles,
            |j0, width, tile| {
                for (j, column) in tile.chunks_exact_mut(ld).take(width).enumerate() {
                    // SAFETY: column j0 + j of B holds k values from its start (the caller's
                    // promise).
                    let src = std::slice::from_raw_parts(b.offset((j0 + j) as isize * csb), k);
                    column[..k].copy_from_slice(src);
                }
            },
        )
    }
}

/// How [`sgemm_on_copies`] tiles `B`: columns per tile, values of the copy, and the copy's
/// (row, column) strides.
struct Tiles {
    columns: usize,
    len: usize,
    strides: (isize, isize),
}

/// [`sgemm`] a tile of `B`'s columns at a time, each tile first copied by `copy(j0, width,
/// tile)` (columns `j0..j0 + width`) into a buffer laid out as `tiles` says: what
/// [`sgemm_copying_b`] and [`sgemm_copying_columns`] share.
///
/// # Safety
/// As [`sgemm`]; `copy` must fill the tile from `B`'s columns within bounds, and the copy's
/// strides must not alias again (or this recurses).
#[allow(clippy::too_many_arguments)] // sgemm's operands, the tiling and the copy
unsafe fn sgemm_on_copies(
    (m, k, n): (usize, usize, usize),
    alpha: f32,
    (a, rsa, csa): (*const f32, isize, isize),
    beta: f32,
    (c, rsc, csc): (*mut f32, isize, isize),
    threads: Threads,
    tiles: Tiles,
    copy: impl Fn(usize, usize, &mut [f32]),
) {
    // Taken out of the thread-local rather than borrowed: with `Threads::Pool` this thread may
    // run another job's product while it waits, which then finds an empty buffer of its own.
    let mut tile = B_TILE.with_borrow_mut(std::mem::take);
    tile.resize(tiles.len, 0.0);
    for j0 in (0..n).step_by(tiles.columns) {
        let width = tiles.columns.min(n - j0);
        copy(j0, width, &mut tile);
        // SAFETY: the tile is k × width with the strides given; C's columns j0.. are in bounds.
        unsafe {
            sgemm(
                (m, k, width),
                alpha,
                a,
                (rsa, csa),
                tile.as_ptr(),
                tiles.strides,
                beta,
                c.offset(j0 as isize * csc),
                (rsc, csc),
                threads,
            )
        }
    }
    B_TILE.with_borrow_mut(|t| *t = tile);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::testing::centred;

    /// `c` against `α·A·B + β·c0` computed in f64 by a triple loop, over the `rows × cols`
    /// elements `C`'s strides cover: those outside `m × n` must be untouched.
    #[allow(clippy::too_many_arguments)] // the product's operands and the two results
    fn check(
        (m, k, n): (usize, usize, usize),
        (alpha, beta): (f32, f32),
        (a, rsa, csa): (&[f32], usize, usize),
        (b, rsb, csb): (&[f32], usize, usize),
        (c0, c, rsc, csc): (&[f32], &[f32], usize, usize),
        (rows, cols): (usize, usize),
        tolerance: f64,
        what: &str,
    ) {
        for i in 0..rows {
            for j in 0..cols {
                let at = i * rsc + j * csc;
                let want = if i < m && j < n {
                    let dot: f64 = (0..k)
                        .map(|p| a[i * rsa + p * csa] as f64 * b[p * rsb + j * csb] as f64)
                        .sum();
                    alpha as f64 * dot + beta as f64 * c0[at] as f64
                } else {
                    c0[at] as f64
                };
                let got = c[at] as f64;
                assert!(
                    (got - want).abs() < tolerance,
                    "{what} ({i}, {j}): {got} vs {want}"
                );
            }
        }
    }

    /// The tiled copy of `B` against a plain triple loop, on odd sizes (a last tile of a few
    /// columns), a row stride of 2,048, α and β not 1 and `C` with row stride wider than `n`.
    #[test]
    fn the_copying_path_matches_the_definition() {
        let (m, k, n, rsb, rsc) = (7, 19, 2 * TILE + 37, 2048, 2 * TILE + 40);
        let mut next = centred(5);
        let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
        let b: Vec<f32> = (0..k * rsb).map(|_| next()).collect();
        let c0: Vec<f32> = (0..m * rsc).map(|_| next()).collect();
        let (alpha, beta) = (0.75, 0.5);
        for copying in [true, false] {
            let mut c = c0.clone();
            // A is read column-major (row stride 1), as the input gradient reads its weights.
            // SAFETY: every matrix covers its strides.
            unsafe {
                let args = ((m, k, n), alpha, a.as_ptr(), (1, m as isize), b.as_ptr());
                let (dims, alpha, a, sa, b) = args;
                if copying {
                    sgemm_copying_b(
                        dims,
                        alpha,
                        (a, sa.0, sa.1),
                        (b, rsb as isize),
                        beta,
                        (c.as_mut_ptr(), rsc as isize, 1),
                        Threads::One,
                    );
                } else {
                    sgemm(
                        dims,
                        alpha,
                        a,
                        sa,
                        b,
                        (rsb as isize, 1),
                        beta,
                        c.as_mut_ptr(),
                        (rsc as isize, 1),
                        Threads::Pool,
                    );
                }
            }
            check(
                (m, k, n),
                (alpha, beta),
                (&a, 1, m),
                (&b, rsb, 1),
                (&c0, &c, rsc, 1),
                (m, rsc),
                1e-4,
                &format!("copying {copying}"),
            );
        }
        // The dispatch takes the copy only where B's rows alias on AVX2 and C is narrow.
        assert_eq!(aliases((32, 64, 4096), (4096, 1)), !avx512());
        assert!(!aliases((64, 64, 4096), (4096, 1)));
        assert!(!aliases((32, 64, 4096), (4000, 1)));
        assert!(!aliases((32, 64, 4096), (1, 4096)));
    }

    /// The copy of `B`'s columns against a plain triple loop: odd sizes, two tiles (the last
    /// narrower), a depth whose padded columns would alias again (1008 + 16 = 1024), a column
    /// stride of 2,048, α and β not 1, and `C` column-major with columns wider than `m`.
    #[test]
    fn the_column_copying_path_matches_the_definition() {
        let (m, k, n, csb, csc) = (7, 1008, 300, 2048, 9);
        assert!(n > COLUMN_TILE_VALUES / (k + 2 * TILE_PAD));
        let mut next = centred(7);
        let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
        let b: Vec<f32> = (0..n * csb).map(|_| next()).collect();
        let c0: Vec<f32> = (0..n * csc).map(|_| next()).collect();
        let (alpha, beta) = (0.75, 0.5);
        for copying in [true, false] {
            let mut c = c0.clone();
            // SAFETY: every matrix covers its strides.
            unsafe {
                let dims = (m, k, n);
                let (a, sa, b) = (a.as_ptr(), (k as isize, 1), b.as_ptr());
                let cs = (c.as_mut_ptr(), 1, csc as isize);
                if copying {
                    sgemm_copying_columns(
                        dims,
                        alpha,
                        (a, sa.0, sa.1),
                        (b, csb as isize),
                        beta,
                        cs,
                        Threads::One,
                    );
                } else {
                    let (c, rsc, csc) = cs;
                    sgemm(
                        dims,
                        alpha,
                        a,
                        sa,
                        b,
                        (1, csb as isize),
                        beta,
                        c,
                        (rsc, csc),
                        Threads::Pool,
                    );
                }
            }
            check(
                (m, k, n),
                (alpha, beta),
                (&a, k, 1),
                (&b, 1, csb),
                (&c0, &c, 1, csc),
                (csc, n),
                1e-3,
                &format!("copying {copying}"),
            );
        }
        // The dispatch takes the copy only where B's columns alias, on AVX-512.
        assert_eq!(columns_alias((32, 4096, 64), (1, 4096)), avx512());
        assert_eq!(columns_alias((128, 1024, 2), (1, 1024)), avx512());
        assert!(!columns_alias((256, 4096, 64), (1, 4096)));
        assert!(!columns_alias((32, 4096, 64), (1, 4000)));
        assert!(!columns_alias((32, 4096, 1), (1, 4096)));
        assert!(!columns_alias((32, 64, 4096), (4096, 1)));
    }
}
