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
    // Parameters are independent: update them in parallel (the FC weights alone are millions).
    updates.par_iter_mut().for_each(|(g, step, p, m, v)| {
        adam_update(&mut p.1.data, g, &mut m.1.data, &mut v.1.data, step);
    });
    for (_, _, p, m, v) in updates {
        params.insert(p.0, p.1);
        moments.m.insert(m.0, m.1);
        moments.v.insert(v.0, v.1);
    }
    cpu::update_running_stats(program, params, workspace.tape());
    loss
}
