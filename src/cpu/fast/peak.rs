//! The machine's measured FMA peak, what `bench` compares the CPU backend's GFLOP/s with: every
//! thread of the pool runs independent chains of fused multiply-adds on the widest vectors the
//! CPU has (enough chains to cover the adder's latency on two ports), for a fixed count.

use std::time::Instant;

/// Floating-point operations per second (GFLOP/s) all threads of the pool reach together on
/// pure FMA chains; `None` where this CPU has no vector FMA hourhand knows how to drive.
pub fn measure() -> Option<f64> {
    const ROUNDS: usize = 20_000_000;
    let per_thread = flops_per_round()?;
    let threads = rayon::current_num_threads();
    // One warm-up pass (clocks ramping), then the timed one.
    for timed in [false, true] {
        let start = Instant::now();
        let sinks = rayon::broadcast(|_| chains(ROUNDS));
        let seconds = start.elapsed().as_secs_f64();
        assert!(sinks.iter().all(|s| s.is_finite()));
        if timed {
            return Some((per_thread * ROUNDS * threads) as f64 / seconds / 1e9);
        }
    }
    None
}

/// Floating-point operations one round of [`chains`] does, where the CPU has its kernel.
fn flops_per_round() -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return Some(CHAINS * 16 * 2);
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(CHAINS * 8 * 2);
        }
    }
    None
}

/// Independent accumulators: two FMA ports × four cycles of latency × some slack.
const CHAINS: usize = 12;

/// `rounds` rounds of [`CHAINS`] independent FMAs; returns a sum so nothing is optimized away.
fn chains(rounds: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is present.
            return unsafe { chains_avx512(rounds) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: AVX2 and FMA are present.
            return unsafe { chains_avx2(rounds) };
        }
    }
    let _ = rounds;
    0.0
}

/// Twelve named accumulators, each `c = fma(c, a, b)` a round: written out rather than an array
/// (kept in memory, the store-to-load latency would set the pace) or a closure (which would not
/// inherit the function's target features and so would not inline the intrinsic).
macro_rules! fma_chains {
    ($rounds:expr, $fma:ident, $a:expr, $b:expr, $init:expr) => {{
        let (mut c0, mut c1, mut c2, mut c3, mut c4, mut c5) =
            ($init, $init, $init, $init, $init, $init);
        let (mut c6, mut c7, mut c8, mut c9, mut c10, mut c11) =
            ($init, $init, $init, $init, $init, $init);
        for _ in 0..$rounds {
            c0 = $fma(c0, $a, $b);
            c1 = $fma(c1, $a, $b);
            c2 = $fma(c2, $a, $b);
            c3 = $fma(c3, $a, $b);
            c4 = $fma(c4, $a, $b);
            c5 = $fma(c5, $a, $b);
            c6 = $fma(c6, $a, $b);
            c7 = $fma(c7, $a, $b);
            c8 = $fma(c8, $a, $b);
            c9 = $fma(c9, $a, $b);
            c10 = $fma(c10, $a, $b);
            c11 = $fma(c11, $a, $b);
        }
        [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11]
    }};
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn chains_avx512(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
    let all = fma_chains!(rounds, _mm512_fmadd_ps, a, b, _mm512_set1_ps(1.0));
    let mut sum = 0.0;
    for x in all {
        sum += _mm512_reduce_add_ps(x);
    }
    sum
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2(rounds: usize) -> f32 {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
    let all = fma_chains!(rounds, _mm256_fmadd_ps, a, b, _mm256_set1_ps(1.0));
    let mut out = [0.0f32; 8];
    let mut sum = 0.0;
    for x in all {
        // SAFETY: `out` holds eight floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), x) };
        sum += out.iter().sum::<f32>();
    }
    sum
}
