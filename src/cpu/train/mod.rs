//! Training on the CPU: a forward pass in training mode that keeps what backward needs (a
//! tape), and the backward pass over the same program, op by op in reverse.

mod forward_op;
mod roles;
mod workspace;

use std::collections::HashMap;

pub use workspace::{OpTime, Workspace};

use super::batch_norm::{self, BatchStats};
use crate::net::training::Dropout;
use crate::net::{Op, Params, Program};

/// What a training-mode forward pass leaves for backward: every tensor, and the batch
/// statistics of every batch norm.
#[derive(Debug, Clone, Default)]
pub struct Tape {
    /// Batch size.
    pub batch: usize,
    /// Every tensor backward reads, by name, inputs included (a [`Workspace`] does not keep
    /// the output of a batch norm that only feeds a ReLU: it computes the pair as one).
    pub values: HashMap<String, Vec<f32>>,
    /// Batch statistics by batch-norm name.
    pub stats: HashMap<String, BatchStats>,
    /// Dropout rate applied, and the seed its masks came from.
    pub dropout: Dropout,
}

/// Parameter gradients by parameter name (running statistics have none).
pub type Grads = HashMap<String, Vec<f32>>;

/// Runs `program` (training form) on a batch in training mode: batch norm normalizes by the
/// batch's statistics and dropout is applied. Running statistics are not touched (see
/// [`update_running_stats`]). The tape holds every op's output. A training loop keeps a
/// [`Workspace`] instead, which reuses every buffer from step to step and fuses ops.
pub fn forward(
    program: &Program,
    params: &Params,
    input: &[f32],
    batch: usize,
    dropout: Dropout,
) -> Tape {
    let mut workspace = Workspace::unfused();
    workspace.forward(program, params, input, batch, dropout);
    workspace.into_tape()
}

/// Backward of `program` from `d_output` (the loss's gradient with respect to the output):
/// the gradient of every trainable parameter. The input's gradient is not computed.
pub fn backward(program: &Program, params: &Params, tape: &Tape, d_output: &[f32]) -> Grads {
    let mut workspace = Workspace::new();
    workspace.set_tape(program, tape.clone());
    workspace.backward(program, params, d_output).clone()
}

/// Moves every batch norm's running statistics towards the batch statistics of `tape`.
pub fn update_running_stats(program: &Program, params: &mut Params, tape: &Tape) {
    for op in &program.ops {
        if let Op::BatchNorm(b) = op {
            let shape = program.shape(&b.input);
            let count = tape.batch * shape.h * shape.w;
            let mut mean = params
                .remove(&format!("{}.running_mean", b.name))
                .expect("batch norm has running statistics");
            let var = params
                .get_mut(&format!("{}.running_var", b.name))
                .expect("batch norm has running statistics");
            batch_norm::update_running(&tape.stats[&b.name], count, &mut mean.data, &mut var.data);
            params.insert(format!("{}.running_mean", b.name), mean);
        }
    }
}
