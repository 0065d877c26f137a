//! Fully connected layers on the CPU: one SGEMM over the whole batch.

use crate::net::program::Linear;

/// `y = relu?(x·Wᵀ + b)`; `x` is `batch × inputs`, `w` is `outputs × inputs` (PyTorch layout).
pub fn linear(x: &[f32], batch: usize, l: &Linear, w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * l.outputs];
    // SAFETY: x is batch × inputs (row stride inputs), Wᵀ is read from the outputs × inputs
    // matrix with swapped strides, y is batch × outputs; all within their slices.
    unsafe {
        matrixmultiply::sgemm(
            batch,
            l.inputs,
            l.outputs,
            1.0,
            x.as_ptr(),
            l.inputs as isize,
            1,
            w.as_ptr(),
            1,
            l.inputs as isize,
            0.0,
            y.as_mut_ptr(),
            l.outputs as isize,
            1,
        );
    }
    for row in y.chunks_mut(l.outputs) {
        for (v, bias) in row.iter_mut().zip(b) {
            *v += bias;
            if l.relu && *v < 0.0 {
                *v = 0.0;
            }
        }
    }
    y
}
