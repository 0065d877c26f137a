//! Adam's hyper-parameters for one step, as both backends apply them (`train::adam` on the
//! CPU, `shaders/adam.wesl`).

/// Adam's hyper-parameters for one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// Learning rate of this step.
    pub lr: f32,
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub eps: f32,
    /// Decoupled weight decay (0 for parameters that are not decayed).
    pub weight_decay: f32,
    /// 1-based step number (for bias correction).
    pub t: u64,
}

impl AdamStep {
    /// The bias corrections `(1 − β₁ᵗ, 1 − β₂ᵗ)`, computed once per step in f64.
    pub fn corrections(&self) -> (f32, f32) {
        let t = self.t as i32;
        (
            (1.0 - (self.beta1 as f64).powi(t)) as f32,
            (1.0 - (self.beta2 as f64).powi(t)) as f32,
        )
    }
}
