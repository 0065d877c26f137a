//! Adam with decoupled weight decay (AdamW, Loshchilov and Hutter), the CPU reference of
//! `shaders/adam.wesl`.

pub use crate::net::training::AdamStep;

/// One AdamW update of a parameter tensor, in PyTorch's order: decay `p ← p·(1 − lr·λ)`,
/// moments `m ← β₁m + (1 − β₁)g`, `v ← β₂v + (1 − β₂)g²`, then
/// `p ← p − lr·(m/c₁)/(√(v/c₂) + ε)`.
pub fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &AdamStep) {
    let (c1, c2) = s.corrections();
    let decay = 1.0 - s.lr * s.weight_decay;
    assert!(g.len() == p.len() && m.len() == p.len() && v.len() == p.len());
    // Compiled for the widest vectors the CPU has (the crate's baseline is SSE2), the square
    // roots and divisions lane for lane the same.
    pulp::Arch::new().dispatch(move || {
        for (((p, g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            *m = s.beta1 * *m + (1.0 - s.beta1) * g;
            *v = s.beta2 * *v + (1.0 - s.beta2) * g * g;
            let update = (*m / c1) / ((*v / c2).sqrt() + s.eps);
            *p = *p * decay - s.lr * update;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_the_learning_rate_against_the_gradient() {
        // Bias correction makes the first step ±lr for any gradient far above eps.
        let mut p = [1.0f32, -2.0, 0.5];
        let g = [0.3f32, -40.0, 0.0];
        let (mut m, mut v) = ([0.0f32; 3], [0.0f32; 3]);
        let s = AdamStep {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            t: 1,
        };
        adam_update(&mut p, &g, &mut m, &mut v, &s);
        assert!((p[0] - 0.99).abs() < 1e-6);
        assert!((p[1] - -1.99).abs() < 1e-6);
        assert_eq!(p[2], 0.5);
    }

    #[test]
    fn weight_decay_is_decoupled_from_the_gradient() {
        let mut p = [2.0f32];
        let (mut m, mut v) = ([0.0f32], [0.0f32]);
        let s = AdamStep {
            lr: 0.1,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.5,
            t: 3,
        };
        adam_update(&mut p, &[0.0], &mut m, &mut v, &s);
        assert!((p[0] - 2.0 * (1.0 - 0.05)).abs() < 1e-6, "{}", p[0]);
    }
}
