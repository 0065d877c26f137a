//! The one GEMM every CPU path calls (the reference, training and the fast path's tiles):
//! `C = α·A·B + β·C` with arbitrary strides (matrixmultiply's signature, which the reference was
//! written against), on the `gemm` crate's runtime-dispatched AVX-512 / AVX2+FMA / NEON kernels. On this
//! project's shapes it ran 1.2–4× matrixmultiply's speed (measured before the switch: 182 against
//! 47 GFLOP/s for a 1024×1024 layer at batch 32 on one core).

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
