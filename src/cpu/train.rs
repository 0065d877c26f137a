//! Training on the CPU: a forward pass in training mode that keeps what backward needs (a
//! tape), and the backward pass over the same program, op by op in reverse.

use std::collections::HashMap;

use super::backward;
use super::batch_norm::{self, BatchStats};
use super::{conv, linear};
use crate::net::{Op, Params, Program};

/// What a training-mode forward pass leaves for backward: every tensor, and the batch
/// statistics of every batch norm.
#[derive(Debug, Clone)]
pub struct Tape {
    /// Batch size.
    pub batch: usize,
    /// Every tensor by name, inputs included.
    pub values: HashMap<String, Vec<f32>>,
    /// Batch statistics by batch-norm name.
    pub stats: HashMap<String, BatchStats>,
    /// Dropout rate applied, and the seed its masks came from.
    pub dropout: Dropout,
}

/// Dropout settings of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Fraction of elements zeroed (0 disables dropout).
    pub rate: f32,
    /// Seed of this step's masks.
    pub seed: u32,
}

impl Dropout {
    /// No dropout.
    pub const NONE: Dropout = Dropout { rate: 0.0, seed: 0 };

    /// The mask key of the `ordinal`-th dropout op of the program: a different mask per op
    /// and per step, the same on both backends.
    pub fn key(&self, ordinal: u32) -> u32 {
        self.seed.wrapping_add(ordinal.wrapping_mul(0x9E37_79B9))
    }
}

/// Parameter gradients by parameter name (running statistics have none).
pub type Grads = HashMap<String, Vec<f32>>;

fn param(params: &Params, name: String) -> &[f32] {
    &params
        .get(&name)
        .unwrap_or_else(|| panic!("training needs parameter `{name}`"))
        .data
}

/// Runs `program` (training form) on a batch in training mode: batch norm normalizes by the
/// batch's statistics and dropout is applied. Running statistics are not touched (see
/// [`update_running_stats`]).
pub fn forward(
    program: &Program,
    params: &Params,
    input: &[f32],
    batch: usize,
    dropout: Dropout,
) -> Tape {
    let mut values: HashMap<String, Vec<f32>> = HashMap::new();
    values.insert(program.inputs[0].0.clone(), input.to_vec());
    let mut stats = HashMap::new();
    for (op, &ordinal) in program.ops.iter().zip(&program.dropout_ordinals()) {
        let x = &values[op.inputs()[0]];
        let in_shape = program.shape(op.inputs()[0]);
        let y = match op {
            Op::BatchNorm(b) => {
                let (y, s) = batch_norm::batch_norm_train(
                    x,
                    batch,
                    in_shape,
                    param(params, format!("{}.weight", b.name)),
                    param(params, format!("{}.bias", b.name)),
                );
                stats.insert(b.name.clone(), s);
                y
            }
            Op::Dropout { .. } => {
                let key = dropout.key(ordinal);
                if dropout.rate > 0.0 {
                    backward::dropout(x, key, dropout.rate)
                } else {
                    x.clone()
                }
            }
            // Every other op computes the same in training as in inference.
            _ => super::run_op(program, params, op, &values, batch),
        };
        values.insert(op.output().to_string(), y);
    }
    Tape {
        batch,
        values,
        stats,
        dropout,
    }
}

/// Adds `g` to the gradient of `tensor` (a tensor read by several ops sums their gradients).
fn accumulate(grads: &mut HashMap<String, Vec<f32>>, tensor: &str, g: Vec<f32>) {
    match grads.get_mut(tensor) {
        Some(acc) => acc.iter_mut().zip(&g).for_each(|(a, g)| *a += g),
        None => {
            grads.insert(tensor.to_string(), g);
        }
    }
}

/// Backward of `program` from `d_output` (the loss's gradient with respect to the output):
/// the gradient of every trainable parameter. The input's gradient is not computed.
pub fn backward(program: &Program, params: &Params, tape: &Tape, d_output: &[f32]) -> Grads {
    let batch = tape.batch;
    let is_input = |t: &str| program.inputs.iter().any(|(n, _)| n == t);
    let mut tgrads: HashMap<String, Vec<f32>> = HashMap::new();
    tgrads.insert(program.output.clone(), d_output.to_vec());
    let mut pgrads = Grads::new();
    let ordinals = program.dropout_ordinals();
    for (op, &ordinal) in program.ops.iter().zip(&ordinals).rev() {
        let Some(dy) = tgrads.remove(op.output()) else {
            continue;
        };
        let input = op.inputs()[0];
        let x = &tape.values[input];
        let in_shape = program.shape(input);
        let out_shape = program.shape(op.output());
        match op {
            Op::Conv2d(c) => {
                let w = param(params, format!("{}.weight", c.name));
                let g = conv::conv2d_backward(
                    x,
                    &dy,
                    batch,
                    in_shape,
                    out_shape,
                    c,
                    w,
                    !is_input(input),
                );
                pgrads.insert(format!("{}.weight", c.name), g.dw);
                pgrads.insert(format!("{}.bias", c.name), g.db);
                if !is_input(input) {
                    accumulate(&mut tgrads, input, g.dx);
                }
            }
            Op::Linear(l) => {
                let w = param(params, format!("{}.weight", l.name));
                let need_dx = !is_input(input);
                let (dx, dw, db) = linear::linear_backward(x, &dy, batch, l, w, need_dx);
                pgrads.insert(format!("{}.weight", l.name), dw);
                pgrads.insert(format!("{}.bias", l.name), db);
                if need_dx {
                    accumulate(&mut tgrads, input, dx);
                }
            }
            Op::BatchNorm(b) => {
                let gamma = param(params, format!("{}.weight", b.name));
                let (dx, dg, db) = batch_norm::batch_norm_backward(
                    x,
                    &dy,
                    batch,
                    in_shape,
                    gamma,
                    &tape.stats[&b.name],
                );
                pgrads.insert(format!("{}.weight", b.name), dg);
                pgrads.insert(format!("{}.bias", b.name), db);
                accumulate(&mut tgrads, input, dx);
            }
            Op::Relu { output, .. } => {
                let dx = backward::relu_backward(&tape.values[output], &dy);
                accumulate(&mut tgrads, input, dx);
            }
            Op::Dropout { .. } => {
                let dx = if tape.dropout.rate > 0.0 {
                    backward::dropout(&dy, tape.dropout.key(ordinal), tape.dropout.rate)
                } else {
                    dy
                };
                accumulate(&mut tgrads, input, dx);
            }
            Op::MaxPool { kernel, stride, .. } => {
                let dx = backward::max_pool_backward(
                    x, &dy, batch, in_shape, out_shape, *kernel, *stride,
                );
                accumulate(&mut tgrads, input, dx);
            }
            Op::Upsample { factor, .. } => {
                let dx = backward::upsample_backward(&dy, batch, in_shape, *factor);
                accumulate(&mut tgrads, input, dx);
            }
            Op::Add { a, b, .. } => {
                accumulate(&mut tgrads, b, dy.clone());
                accumulate(&mut tgrads, a, dy);
            }
            Op::Patch { y, x: x0, h, w, .. } => {
                let dx = backward::patch_backward(&dy, batch, in_shape, *y, *x0, *h, *w);
                accumulate(&mut tgrads, input, dx);
            }
            Op::Concat { inputs, .. } => {
                let lens: Vec<usize> = inputs.iter().map(|t| program.shape(t).len()).collect();
                for (t, g) in inputs
                    .iter()
                    .zip(backward::concat_backward(&dy, &lens, batch))
                {
                    accumulate(&mut tgrads, t, g);
                }
            }
            Op::Affine(a) => panic!(
                "`{}` is an inference-form affine map; train the training-form program",
                a.name
            ),
        }
        tgrads.retain(|t, _| !is_input(t));
    }
    pgrads
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
