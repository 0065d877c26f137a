//! One optimization step, the unit both backends implement: forward in training mode, the
//! loss and its gradient, backward, AdamW on every trainable parameter, and the batch-norm
//! running averages. [`cpu_step`] is the reference the GPU step is tested against.

use std::collections::BTreeMap;

use super::adam::adam_update;
use rayon::prelude::*;

use crate::cpu::train::{self as cpu, Workspace};
use crate::net::{Params, Program};

pub use crate::net::training::{Moments, StepOptions, is_decayed, is_trainable};

/// The loss of a batch and the gradient of every trainable parameter, without updating.
pub fn cpu_gradients(
    program: &Program,
    params: &Params,
    input: &[f32],
    target: &[f32],
    batch: usize,
    options: &StepOptions,
) -> (f32, cpu::Tape, BTreeMap<String, Vec<f32>>) {
    let mut workspace = Workspace::new();
    let loss = workspace_gradients(
        &mut workspace,
        program,
        params,
        input,
        target,
        batch,
        options,
    );
    let grads = workspace.grads().clone().into_iter().collect();
    (loss, workspace.into_tape(), grads)
}

/// Forward, loss and backward of a batch in `workspace`; returns the loss (the gradients are
/// in the workspace).
fn workspace_gradients(
    workspace: &mut Workspace,
    program: &Program,
    params: &Params,
    input: &[f32],
    target: &[f32],
    batch: usize,
    options: &StepOptions,
) -> f32 {
    let tape = workspace.forward(program, params, input, batch, options.dropout);
    let (loss, d_out) =
        options
            .loss
            .value_and_grad(&tape.values[&program.output], target, batch, options.scale);
    workspace.backward(program, params, &d_out);
    loss
}

/// One training step on the CPU; returns the batch's loss (before the update).
pub fn cpu_step(
    program: &Program,
    params: &mut Params,
    moments: &mut Moments,
    input: &[f32],
    target: &[f32],
    batch: usize,
    options: &StepOptions,
) -> f32 {
    let mut workspace = Workspace::new();
    cpu_step_in(
        &mut workspace,
        program,
        params,
        moments,
        input,
        target,
        batch,
        options,
    )
}

/// Parameters a task of the Adam update takes.
const ADAM_TASK: usize = 1 << 14;

/// [`cpu_step`] with the buffers of `workspace`, which a training loop keeps from step to step.
#[allow(clippy::too_many_arguments)] // cpu_step's arguments and the workspace
pub fn cpu_step_in(
    workspace: &mut Workspace,
    program: &Program,
    params: &mut Params,
    moments: &mut Moments,
    input: &[f32],
    target: &[f32],
    batch: usize,
    options: &StepOptions,
) -> f32 {
    let loss = workspace_gradients(workspace, program, params, input, target, batch, options);
    let mut updates: Vec<_> = workspace
        .grads()
        .iter()
        .map(|(name, g)| {
            let mut step = options.adam;
            if !is_decayed(program, name) {
                step.weight_decay = 0.0;
            }
            let p = params
                .remove_entry(name)
                .expect("gradients exist for parameters only");
            let m = moments
                .m
                .remove_entry(name)
                .expect("moments cover trainable parameters");
            let v = moments
                .v
                .remove_entry(name)
                .expect("moments cover trainable parameters");
            (g, step, p, m, v)
        })
        .collect();
    // Every parameter is independent: the update in tasks of equal size across the tensors
    // (by tensor, one thread took the largest fully connected layer, nearly half of the 64×64
    // network's parameters, alone). With the update compiled for the widest vectors, 2.3–2.5
    // against 2.7–3.2 ms a step at 64×64 (memory-bound: 28 bytes a parameter).
    let mut tasks = Vec::new();
    for (g, step, p, m, v) in &mut updates {
        let chunks =
            p.1.data
                .chunks_mut(ADAM_TASK)
                .zip(g.chunks(ADAM_TASK))
                .zip(m.1.data.chunks_mut(ADAM_TASK))
                .zip(v.1.data.chunks_mut(ADAM_TASK));
        tasks.extend(chunks.map(|(((p, g), m), v)| (p, g, m, v, *step)));
    }
    tasks.into_par_iter().for_each(|(p, g, m, v, step)| {
        adam_update(p, g, m, v, &step);
    });
    for (_, _, p, m, v) in updates {
        params.insert(p.0, p.1);
        moments.m.insert(m.0, m.1);
        moments.v.insert(v.0, v.1);
    }
    cpu::update_running_stats(program, params, workspace.tape());
    loss
}
