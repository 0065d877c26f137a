//! ReLU as an op of its own (training form; inference fuses it into the op before), and its
//! backward from the output.

use rayon::prelude::*;

use super::CHUNK;

/// `max(x, 0)`.
pub fn relu(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    relu_into(x, &mut y);
    y
}

/// [`relu`] into `y`.
pub fn relu_into(x: &[f32], y: &mut [f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| y.iter_mut().zip(x).for_each(|(y, x)| *y = x.max(0.0)));
}

/// Backward of ReLU from its output: the gradient passes where `y > 0`.
pub fn relu_backward(y: &[f32], dy: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; y.len()];
    relu_backward_into(y, dy, &mut dx);
    dx
}

/// [`relu_backward`] into `dx`.
pub fn relu_backward_into(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    dx.par_chunks_mut(CHUNK)
        .zip(y.par_chunks(CHUNK).zip(dy.par_chunks(CHUNK)))
        .for_each(|(d, (y, g))| {
            for ((d, y), g) in d.iter_mut().zip(y).zip(g) {
                *d = if *y > 0.0 { *g } else { 0.0 };
            }
        });
}
