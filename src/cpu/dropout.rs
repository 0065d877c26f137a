//! Dropout, forward and backward (the same map): its mask from [`crate::net::training`],
//! which the GPU's shader computes alike.

use rayon::prelude::*;

use crate::net::training::{dropout_keep, dropout_threshold};

/// Dropout forward and backward are the same map: kept elements scaled by `1/(1 − rate)`, the
/// others zero.
pub fn dropout(x: &[f32], key: u32, rate: f32) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    dropout_into(x, key, rate, &mut y);
    y
}

/// [`dropout`] into `y`.
pub fn dropout_into(x: &[f32], key: u32, rate: f32, y: &mut [f32]) {
    let threshold = dropout_threshold(rate);
    let scale = 1.0 / (1.0 - rate);
    y.par_iter_mut().zip(x).enumerate().for_each(|(i, (y, v))| {
        *y = if dropout_keep(key, i as u32, threshold) {
            v * scale
        } else {
            0.0
        };
    });
}
