//! Fully connected layers over a batch in the `Nchw` layout: `Yᵀ = W · Xᵀ` as GEMMs over blocks
//! of output features, one block a thread. At batch 1 this is a matrix-vector product bound by
//! reading the weights, so the blocks split the weights between cores, and weights that f16
//! holds exactly are read as f16 on up to [`half::MAX_BATCH`] samples ([`half`]).

pub mod half;

use super::plan::LinearStep;
use super::team::{Out, Part};
use crate::cpu::sgemm::{Threads, sgemm};

/// This thread's part of `step` on a batch: `x` is `batch × inputs`, `y` is `batch × outputs`.
pub fn linear(step: &LinearStep, batch: usize, x: &[f32], y: Out, part: Part) {
    let (fin, fout) = (step.inputs, step.outputs);
    assert_eq!(x.len(), batch * fin);
    assert_eq!(y.len(), batch * fout);
    let work = 2 * batch * fin * fout;
    let rows = part.range(fout, work);
    if rows.is_empty() {
        return;
    }
    let (o0, m) = (rows.start, rows.len());
    if let Some(w) = step
        .weight_f16
        .as_deref()
        .filter(|_| batch <= half::MAX_BATCH)
    {
        let bias = &step.bias;
        half::gemv(
            w,
            bias,
            (fin, fout),
            x,
            batch,
            rows,
            step.relu,
            |s, o, v| {
                // SAFETY: row o of sample s is this thread's (its rows of every sample).
                unsafe { y.slice(s * fout + o..s * fout + o + 1)[0] = v }
            },
        );
        return;
    }
    for n in 0..batch {
        // SAFETY: this thread's rows of every sample; the other threads have other rows.
        let dst = unsafe { y.slice(n * fout + o0..n * fout + o0 + m) };
        dst.copy_from_slice(&step.bias[rows.clone()]);
    }
    // SAFETY: lhs is rows o0..o0+m of the fout × fin weights; rhs is Xᵀ (fin × batch, read with
    // swapped strides from batch × fin); dst is Yᵀ rows o0..o0+m (column stride fout), which
    // only this thread writes.
    unsafe {
        sgemm(
            (m, fin, batch),
            1.0,
            step.weight.as_ptr().add(o0 * step.row_stride),
            (step.row_stride as isize, 1),
            x.as_ptr(),
            (1, fin as isize),
            1.0,
            y.ptr().add(o0),
            (1, fout as isize),
            Threads::One,
        )
    }
    if step.relu {
        for n in 0..batch {
            // SAFETY: as above.
            let dst = unsafe { y.slice(n * fout + o0..n * fout + o0 + m) };
            dst.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }
}
