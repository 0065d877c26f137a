//! Fully connected layers on the CPU: one SGEMM over the whole batch.

use crate::net::program::Linear;

use super::sgemm::{Threads, sgemm};

/// `y = relu?(x·Wᵀ + b)`; `x` is `batch × inputs`, `w` is `outputs × inputs` (PyTorch layout).
pub fn linear(x: &[f32], batch: usize, l: &Linear, w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * l.outputs];
    linear_into(x, batch, l, w, b, &mut y);
    y
}

/// [`linear`] into `y` (`batch × outputs`).
pub fn linear_into(x: &[f32], batch: usize, l: &Linear, w: &[f32], b: &[f32], y: &mut [f32]) {
    assert_eq!(y.len(), batch * l.outputs);
    assert_eq!(x.len(), batch * l.inputs);
    // SAFETY: x is batch × inputs (row stride inputs), Wᵀ is read from the outputs × inputs
    // matrix with swapped strides, y is batch × outputs; all within their slices.
    unsafe {
        sgemm(
            (batch, l.inputs, l.outputs),
            1.0,
            x.as_ptr(),
            (l.inputs as isize, 1),
            w.as_ptr(),
            (1, l.inputs as isize),
            0.0,
            y.as_mut_ptr(),
            (l.outputs as isize, 1),
            Threads::Pool,
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
}

/// Backward of [`linear`] without a fused ReLU: `(dx, dw, db)` with `dx = dy·W` (empty when not
/// asked for), `dw = dyᵀ·x` and `db = Σₙ dy`, each one SGEMM over the batch.
pub fn linear_backward(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    l: &Linear,
    w: &[f32],
    need_dx: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = if need_dx {
        vec![0.0f32; batch * l.inputs]
    } else {
        Vec::new()
    };
    let (mut dw, mut db) = (vec![0.0f32; l.outputs * l.inputs], vec![0.0f32; l.outputs]);
    let dx_out = need_dx.then_some(dx.as_mut_slice());
    linear_backward_into(x, dy, batch, l, w, (dx_out, &mut dw, &mut db));
    (dx, dw, db)
}

/// [`linear_backward`] into `(dx, dw, db)`, every element written (`dx` only when given).
pub fn linear_backward_into(
    x: &[f32],
    dy: &[f32],
    batch: usize,
    l: &Linear,
    w: &[f32],
    (dx, dw, db): (Option<&mut [f32]>, &mut [f32], &mut [f32]),
) {
    assert!(
        !l.relu,
        "linear_backward expects the training form (no fused ReLU)"
    );
    if let Some(dx) = dx {
        assert_eq!(dx.len(), batch * l.inputs);
        // SAFETY: dy is batch × outputs, W is outputs × inputs, dx is batch × inputs.
        unsafe {
            sgemm(
                (batch, l.outputs, l.inputs),
                1.0,
                dy.as_ptr(),
                (l.outputs as isize, 1),
                w.as_ptr(),
                (l.inputs as isize, 1),
                0.0,
                dx.as_mut_ptr(),
                (l.inputs as isize, 1),
                Threads::Pool,
            );
        }
    }
    assert_eq!(dw.len(), l.outputs * l.inputs);
    // SAFETY: dyᵀ is read from the batch × outputs matrix with swapped strides, x is
    // batch × inputs, dw is outputs × inputs.
    unsafe {
        sgemm(
            (l.outputs, batch, l.inputs),
            1.0,
            dy.as_ptr(),
            (1, l.outputs as isize),
            x.as_ptr(),
            (l.inputs as isize, 1),
            0.0,
            dw.as_mut_ptr(),
            (l.inputs as isize, 1),
            Threads::Pool,
        );
    }
    db.fill(0.0);
    for row in dy.chunks(l.outputs) {
        db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
    }
}
