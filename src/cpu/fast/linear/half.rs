//! Fully connected layers on few samples with f16 weights: `y[s][o] = b[o] + Σ_i w[o][i]·x[s][i]`
//! reading each weight once for every sample, as f16, converted in registers (x86's F16C),
//! summed in f32.
//!
//! At batch 1 a fully connected layer is a matrix-vector product that waits on memory: the
//! network's 12.8 MB of f32 weights took 0.38 ms a frame on 2 cores of a Zen 3 (34–38 GB/s),
//! about a tenth of the whole pass. Read as f16, the six layers took 0.74× the time of the
//! `gemm` crate's f32 product on one thread at batch 1 (0.92 against 1.25 ms, medians of 30
//! interleaved runs), and a quarter of it at batches 2 to 4 (1.1–1.2 against 5.1–5.3 ms: the
//! crate is slow on so few columns). The plan keeps an f16 copy only where it loses nothing
//! ([`exact`]): weights stored as f16, as the bundled ones are, give the same products as their
//! f32 copy, summed in another order.

use half::f16;

/// Samples up to which [`gemv`] runs instead of the f32 GEMM: each takes two of the 16 vector
/// registers for its sums, and the sixteen weights a step two more.
pub const MAX_BATCH: usize = 4;

/// `w` as f16, if every value converts exactly and this CPU converts f16 in hardware.
pub fn exact(w: &[f32]) -> Option<Vec<f16>> {
    if !available() {
        return None;
    }
    let h: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
    h.iter()
        .zip(w)
        .all(|(h, &v)| h.to_f32().to_bits() == v.to_bits())
        .then_some(h)
}

/// Whether this CPU runs [`gemv`]: AVX2, FMA and F16C.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Rows `rows` of `y = relu?(W·x + b)` for `batch` (≤ [`MAX_BATCH`]) samples: `w` is
/// `outputs × inputs` f16 (all rows), `x` is `batch × inputs`; `put(s, o, y)` receives row `o`
/// of sample `s` (the caller's layout, shared with other threads' rows).
///
/// # Panics
/// If [`available`] is false, `batch` is 0 or over [`MAX_BATCH`], or the slices are too short.
#[allow(clippy::too_many_arguments)] // a GEMV: shapes, operands, the rows of this thread
pub fn gemv(
    w: &[f16],
    bias: &[f32],
    (inputs, outputs): (usize, usize),
    x: &[f32],
    batch: usize,
    rows: std::ops::Range<usize>,
    relu: bool,
    mut put: impl FnMut(usize, usize, f32),
) {
    assert!(
        available(),
        "the f16 GEMV called on a CPU without AVX2, FMA and F16C"
    );
    assert!((1..=MAX_BATCH).contains(&batch));
    assert!(rows.end <= outputs && w.len() == outputs * inputs && bias.len() == outputs);
    assert_eq!(x.len(), batch * inputs);
    for o in rows {
        let row = &w[o * inputs..(o + 1) * inputs];
        let mut sums = [0.0f32; MAX_BATCH];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `available` checked the features; the slices' lengths were checked above.
        unsafe {
            avx2::row(row, x, inputs, batch, &mut sums)
        };
        for (s, &sum) in sums.iter().enumerate().take(batch) {
            let v = sum + bias[o];
            put(s, o, if relu { v.max(0.0) } else { v });
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::MAX_BATCH;
    use half::f16;
    use std::arch::x86_64::*;

    /// `sums[s] = Σ_i row[i]·x[s·inputs + i]` for `s < batch`: 16 weights a step, converted
    /// once and used by every sample, two sums a sample so two FMAs are in flight for each.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn row(
        row: &[f16],
        x: &[f32],
        inputs: usize,
        batch: usize,
        sums: &mut [f32; MAX_BATCH],
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MAX_BATCH];
        let whole = inputs / 16 * 16;
        let wp = row.as_ptr().cast::<__m128i>();
        for i in (0..whole).step_by(16) {
            // SAFETY: i + 16 ≤ inputs = row.len(); f16 is 2 bytes, so 8 of them one __m128i.
            let (w0, w1) = unsafe {
                (
                    _mm256_cvtph_ps(_mm_loadu_si128(wp.add(i / 8))),
                    _mm256_cvtph_ps(_mm_loadu_si128(wp.add(i / 8 + 1))),
                )
            };
            for (s, acc) in acc.iter_mut().enumerate().take(batch) {
                // SAFETY: s < batch, and x holds batch × inputs values.
                let xp = unsafe { x.as_ptr().add(s * inputs + i) };
                acc[0] = _mm256_fmadd_ps(w0, unsafe { _mm256_loadu_ps(xp) }, acc[0]);
                acc[1] = _mm256_fmadd_ps(w1, unsafe { _mm256_loadu_ps(xp.add(8)) }, acc[1]);
            }
        }
        for (s, sum) in sums.iter_mut().enumerate().take(batch) {
            let mut lanes = [0.0f32; 8];
            // SAFETY: `lanes` holds 8 values.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), _mm256_add_ps(acc[s][0], acc[s][1])) };
            let xs = &x[s * inputs..(s + 1) * inputs];
            *sum = lanes.iter().sum::<f32>()
                + row[whole..]
                    .iter()
                    .zip(&xs[whole..])
                    .map(|(w, x)| w.to_f32() * x)
                    .sum::<f32>();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_keeps_only_what_f16_holds() {
        if !available() {
            assert_eq!(exact(&[0.5]), None);
            return;
        }
        assert_eq!(exact(&[0.5, -3.0, 0.0]).map(|h| h.len()), Some(3));
        assert_eq!(exact(&[0.5, 0.1]), None);
        assert_eq!(exact(&[1e6]), None); // past f16's range
    }

    /// Against an f64 loop on odd sizes: inputs past a step of 16 and short of one, a single
    /// output, a range of rows not from 0, every batch up to `MAX_BATCH`, ReLU on and off.
    #[test]
    fn matches_a_plain_loop_on_odd_sizes() {
        if !available() {
            eprintln!("no F16C here: the f16 GEMV is not used on this CPU");
            return;
        }
        let mut next = crate::cpu::testing::centred(11);
        for (inputs, outputs, rows) in [
            (1, 1, 0..1),
            (7, 3, 0..3),
            (16, 5, 1..4),
            (33, 9, 2..9),
            (100, 13, 0..13),
            (257, 2, 1..2),
        ] {
            let w: Vec<f16> = (0..outputs * inputs)
                .map(|_| f16::from_f32(next()))
                .collect();
            let bias: Vec<f32> = (0..outputs).map(|_| next()).collect();
            for batch in 1..=MAX_BATCH {
                let x: Vec<f32> = (0..batch * inputs).map(|_| next()).collect();
                for relu in [false, true] {
                    let mut y = vec![f32::NAN; batch * outputs];
                    gemv(
                        &w,
                        &bias,
                        (inputs, outputs),
                        &x,
                        batch,
                        rows.clone(),
                        relu,
                        |s, o, v| y[s * outputs + o] = v,
                    );
                    for s in 0..batch {
                        for o in 0..outputs {
                            let got = y[s * outputs + o];
                            if !rows.contains(&o) {
                                assert!(got.is_nan(), "row {o} outside {rows:?} was written");
                                continue;
                            }
                            let mut want = bias[o] as f64;
                            for i in 0..inputs {
                                want += w[o * inputs + i].to_f64() * x[s * inputs + i] as f64;
                            }
                            if relu {
                                want = want.max(0.0);
                            }
                            assert!(
                                (got as f64 - want).abs() < 1e-5,
                                "{inputs}×{outputs} batch {batch} relu {relu}: y[{s}][{o}] {got} != {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
