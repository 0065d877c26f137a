//! What one optimization step is given, the same on both backends: its options, Adam's
//! moments, and which parameters are trained and decayed.

use super::{AdamStep, Dropout, Loss};
use crate::net::{Op, Params, Program};

/// Everything one step needs besides the batch.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepOptions {
    /// The loss minimized.
    pub loss: Loss,
    /// Millimetres per normalized unit (half the nominal cube), see `train::loss`.
    pub scale: f32,
    /// Dropout rate and this step's mask seed.
    pub dropout: Dropout,
    /// Learning rate, betas, epsilon, weight decay and step number; the weight decay applies
    /// to [`is_decayed`] parameters only.
    pub adam: AdamStep,
}

/// Adam's moments, per trainable parameter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Moments {
    /// First moments.
    pub m: Params,
    /// Second moments.
    pub v: Params,
}

impl Moments {
    /// Zero moments for every trainable parameter of `params`.
    pub fn zeros(params: &Params) -> Moments {
        let zero: Params = params
            .iter()
            .filter(|(name, _)| is_trainable(name))
            .map(|(name, t)| (name.clone(), crate::net::Tensor::full(t.shape.clone(), 0.0)))
            .collect();
        Moments {
            m: zero.clone(),
            v: zero,
        }
    }
}

/// Whether the optimizer updates a parameter: everything but batch-norm running statistics.
pub fn is_trainable(name: &str) -> bool {
    !name.ends_with(".running_mean") && !name.ends_with(".running_var")
}

/// Whether weight decay applies: the weights of convolutions and fully connected layers, not
/// biases or batch-norm scales (decaying those only fights the normalization).
/// Called for every parameter at every step: it compares names without building any.
pub fn is_decayed(program: &Program, name: &str) -> bool {
    let Some(layer) = name.strip_suffix(".weight") else {
        return false;
    };
    program.ops.iter().any(|op| match op {
        Op::Conv2d(c) => c.name == layer,
        Op::Linear(l) => l.name == layer,
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{NetConfig, Weights};

    #[test]
    fn only_convolution_and_fully_connected_weights_are_decayed() {
        let w = Weights::init(&NetConfig::default(), 1).unwrap();
        let program = Program::lrhn(&w.config).unwrap();
        let decayed: Vec<String> = program
            .params()
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| is_decayed(&program, name))
            .collect();
        let layers = program
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Conv2d(_) | Op::Linear(_)))
            .count();
        assert_eq!(decayed.len(), layers, "{decayed:?}");
        assert!(decayed.iter().all(|n| n.ends_with(".weight")));
        assert!(is_decayed(&program, "stem.conv.weight"));
        assert!(!is_decayed(&program, "stem.conv.bias"));
        assert!(
            !is_decayed(&program, "stem.bn.weight"),
            "a batch norm's scale"
        );
        assert!(!is_decayed(&program, "stem.conv"));
        assert!(!is_decayed(&program, "no.such.weight"));
    }
}
