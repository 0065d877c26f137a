//! The network definition: config, op program, parameters, and their inference form.

pub mod config;
pub mod lower;
mod lrhn;
pub mod op;
pub mod program;
pub mod tensor;
pub mod training;
pub mod weights;

pub use config::{ConfigError, NetConfig};
pub use lower::{MissingParam, lower};
pub use program::{Op, Program, Shape};
pub use tensor::{Params, Tensor};
pub use weights::{Storage, Weights, WeightsError};

/// A network ready for inference: the lowered program and its (folded) parameters.
#[derive(Debug, Clone)]
pub struct Network {
    /// The architecture.
    pub config: NetConfig,
    /// The inference-form program (batch norm folded, ReLU fused).
    pub program: Program,
    /// Parameters of the inference-form program.
    pub params: Params,
}

impl Network {
    /// Lowers `weights` for inference.
    pub fn from_weights(weights: &Weights) -> Self {
        let program = Program::lrhn(&weights.config).expect("weights hold a valid config");
        let (program, params) = lower(&program, &weights.tensors)
            .expect("weights hold every parameter of their config");
        Self {
            config: weights.config.clone(),
            program,
            params,
        }
    }

    /// Floating-point operations per frame (2 per multiply-accumulate).
    pub fn flops_per_frame(&self) -> u64 {
        2 * self.program.macs()
    }
}
