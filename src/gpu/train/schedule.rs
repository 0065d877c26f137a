//! The dispatches of one training step, in order, and the size of every buffer they bind.
//!
//! The schedule depends on the program and the batch size only; the step's options (loss,
//! dropout seed and rate, Adam's learning rate and step number) change uniform values, never
//! which kernels run over which buffers. So the trainer builds buffers and bind groups from
//! one schedule and, each step, rebuilds the schedule on the host to learn the new uniform
//! bytes, writing only those that changed.
//!
//! Backward runs the program in reverse. The first op to hand a gradient to a tensor writes
//! it, later ones add to it (`accumulate`), in the order the CPU reference adds them, so no
//! gradient buffer needs clearing. Convolutions and fully connected layers skip the gradient
//! of a program input (the data), as the CPU does.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::gpu::GpuError;
use crate::gpu::kernels::{
    self, Dispatch, KernelSet, Slot, adam, batch_norm, batch_norm_grad, concat_grad, conv2d_grad,
    copy, dropout, linear_grad, loss, max_pool_grad, patch_grad, relu, upsample_grad,
};
use crate::net::training::{StepOptions, is_decayed, is_trainable};
use crate::net::{Op, Program};

/// Which part of a step a dispatch belongs to: [`super::GpuTrainer::gradients`] runs the
/// first two, [`super::GpuTrainer::step`] all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Training-mode forward.
    Forward,
    /// Loss, its gradient, and backward.
    Backward,
    /// AdamW and the running statistics.
    Update,
}

/// One dispatch of the step.
pub(crate) struct Scheduled {
    /// The part of the step it belongs to.
    pub phase: Phase,
    /// What it is for: the op (forward and backward), the parameter (AdamW) or `loss`.
    pub label: String,
    /// The dispatch.
    pub dispatch: Dispatch,
}

/// The dispatches of one step and the buffers they need.
pub(crate) struct Schedule {
    /// Every dispatch, in order.
    pub dispatches: Vec<Scheduled>,
    /// Size in f32 values of every slot any dispatch binds.
    pub sizes: BTreeMap<Slot, usize>,
    /// The trainable parameters that receive a gradient (the ones AdamW updates).
    pub trained: Vec<String>,
}

/// Builds the step of `program` (training form) at `batch` under `options`.
pub(crate) fn schedule(
    program: &Program,
    batch: usize,
    options: &StepOptions,
    kernels: KernelSet,
) -> Result<Schedule, GpuError> {
    let mut s = Builder {
        program,
        batch,
        kernels,
        param_lens: program
            .params()
            .into_iter()
            .map(|(name, shape)| (name, shape.iter().product()))
            .collect(),
        dispatches: Vec::new(),
        aux: BTreeMap::new(),
    };
    forward(&mut s, options)?;
    let trained = backward(&mut s, options);
    for name in &trained {
        let mut step = options.adam;
        if !is_decayed(program, name) {
            step.weight_decay = 0.0;
        }
        let len = s.param_len(name);
        s.aux.insert(adam::first_moment(name), len);
        s.aux.insert(adam::second_moment(name), len);
        s.push(Phase::Update, name, vec![adam::dispatch(name, len, &step)]);
    }
    for op in &program.ops {
        if let Op::BatchNorm(b) = op {
            let running = batch_norm::running(b, program.shape(&b.input), batch);
            s.push(Phase::Update, &b.name, vec![running]);
        }
    }
    let sizes = sizes(&s);
    Ok(Schedule {
        dispatches: s.dispatches,
        sizes,
        trained,
    })
}

struct Builder<'a> {
    program: &'a Program,
    batch: usize,
    /// The variants the forward's inference-form ops run.
    kernels: KernelSet,
    /// Every parameter's length, by name. Looked up for every parameter slot, so made once:
    /// `Program::params` names them all anew, and calling it per lookup made building the
    /// schedule take 41–52 ms (it is rebuilt every step).
    param_lens: HashMap<String, usize>,
    dispatches: Vec<Scheduled>,
    /// Sizes of the auxiliary buffers named so far (the largest request wins).
    aux: BTreeMap<Slot, usize>,
}

impl Builder<'_> {
    fn push(&mut self, phase: Phase, label: &str, ds: Vec<Dispatch>) {
        self.dispatches
            .extend(ds.into_iter().map(|dispatch| Scheduled {
                phase,
                label: label.to_string(),
                dispatch,
            }));
    }

    fn aux(&mut self, slot: Slot, len: usize) {
        let at = self.aux.entry(slot).or_insert(0);
        *at = (*at).max(len);
    }

    fn len(&self, tensor: &str) -> usize {
        self.batch * self.program.shape(tensor).len()
    }

    fn param_len(&self, name: &str) -> usize {
        *self
            .param_lens
            .get(name)
            .unwrap_or_else(|| panic!("the program has no parameter `{name}`"))
    }
}

fn forward(s: &mut Builder, options: &StepOptions) -> Result<(), GpuError> {
    let (program, batch) = (s.program, s.batch);
    let tensor = |t: &str| Slot::Tensor(t.to_string());
    for (op, &ordinal) in program.ops.iter().zip(&program.dropout_ordinals()) {
        let shape = program.shape(op.inputs()[0]);
        let ds = match op {
            Op::BatchNorm(b) => {
                s.aux(batch_norm::batch_mean(b), b.channels);
                s.aux(batch_norm::batch_var(b), b.channels);
                let partials = batch_norm::partials_len(b, shape, batch);
                s.aux(batch_norm::partials(), partials);
                batch_norm::forward(b, shape, batch)
            }
            Op::Relu { input, output, .. } => {
                vec![relu::forward(s.len(input), tensor(input), tensor(output))]
            }
            Op::Dropout { input, output, .. } => {
                let (x, y) = (tensor(input), tensor(output));
                vec![dropout::dispatch(
                    s.len(input),
                    options.dropout,
                    ordinal,
                    x,
                    y,
                    false,
                )]
            }
            Op::Affine(a) => return Err(GpuError::InferenceForm(a.name.clone())),
            // The forward of the ops inference has too runs the context's kernel set; the
            // backward kernels are register-blocked on every adapter, so far.
            _ => kernels::dispatches(program, op, batch, s.kernels)?,
        };
        s.push(Phase::Forward, op.name(), ds);
    }
    let out = &program.output;
    let dims = program.output_shape().len();
    s.aux(loss::target(), batch * dims);
    s.aux(loss::per_sample(), batch);
    let d = loss::dispatch(options.loss, options.scale, batch, dims, out);
    s.push(Phase::Backward, "loss", vec![d]);
    Ok(())
}

/// Schedules backward; returns the trainable parameters that get a gradient.
fn backward(s: &mut Builder, options: &StepOptions) -> Vec<String> {
    let (program, batch) = (s.program, s.batch);
    let grad = |t: &str| Slot::Grad(t.to_string());
    // Tensors whose gradient buffer holds a value: the next contribution accumulates.
    let mut written: HashSet<String> = HashSet::from([program.output.clone()]);
    let mut trained = Vec::new();
    let ordinals = program.dropout_ordinals();
    for (op, &ordinal) in program.ops.iter().zip(&ordinals).rev() {
        if !written.contains(op.output()) {
            continue;
        }
        let input = op.inputs()[0];
        let (shape, out_shape) = (program.shape(input), program.shape(op.output()));
        let (x, dy, dx) = (
            Slot::Tensor(input.to_string()),
            grad(op.output()),
            grad(input),
        );
        let len = s.len(input);
        // Whether `t`'s gradient already holds a value; marks it as written from here on.
        let mut acc = |t: &str| !written.insert(t.to_string());
        let ds = match op {
            Op::Conv2d(c) => {
                for (slot, n) in conv2d_grad::scratch(c, shape, out_shape, batch) {
                    s.aux(slot, n);
                }
                let mut ds = conv2d_grad::dispatch_dw(c, shape, out_shape, batch);
                if !program.is_input(input) {
                    let a = acc(input);
                    ds.extend(conv2d_grad::dispatch_dx(c, shape, out_shape, batch, a));
                }
                trained.extend(op.params().into_iter().map(|(n, _)| n));
                ds
            }
            Op::Linear(l) => {
                let mut ds = linear_grad::dispatch_dw(l, batch);
                if !program.is_input(input) {
                    ds.extend(linear_grad::dispatch_dx(l, batch, acc(input)));
                }
                trained.extend(op.params().into_iter().map(|(n, _)| n));
                ds
            }
            Op::BatchNorm(b) => {
                let ds = batch_norm_grad::backward(b, shape, batch, acc(input));
                trained.extend(op.params().into_iter().map(|(n, _)| n));
                ds
            }
            Op::Relu { output, .. } => {
                let y = Slot::Tensor(output.clone());
                vec![relu::backward(len, y, dy, dx, acc(input))]
            }
            Op::Dropout { .. } => {
                let d = options.dropout;
                vec![dropout::dispatch(len, d, ordinal, dy, dx, acc(input))]
            }
            Op::MaxPool { kernel, stride, .. } => {
                let ks = (*kernel, *stride);
                let slots = [x, dy, dx];
                let a = acc(input);
                vec![max_pool_grad::dispatch(
                    shape, out_shape, ks, batch, slots, a,
                )]
            }
            Op::Upsample { factor, .. } => {
                vec![upsample_grad::dispatch(
                    shape,
                    *factor,
                    batch,
                    dy,
                    dx,
                    acc(input),
                )]
            }
            Op::Add { a, b, .. } => {
                let to_b = copy::dispatch(len, dy.clone(), grad(b), acc(b));
                let to_a = copy::dispatch(len, dy, grad(a), acc(a));
                vec![to_b, to_a]
            }
            Op::Patch { y, x: x0, h, w, .. } => {
                let window = (*y, *x0, *h, *w);
                vec![patch_grad::dispatch(
                    shape,
                    window,
                    batch,
                    dy,
                    dx,
                    acc(input),
                )]
            }
            Op::Concat { inputs, .. } => {
                let total = out_shape.len();
                let mut offset = 0;
                let mut ds = Vec::new();
                for t in inputs {
                    let n = program.shape(t).len();
                    let parts = (n, offset, total);
                    let a = acc(t);
                    ds.push(concat_grad::dispatch(batch, parts, dy.clone(), grad(t), a));
                    offset += n;
                }
                ds
            }
            Op::Affine(_) => unreachable!("forward refused inference-form programs"),
        };
        s.push(Phase::Backward, op.name(), ds);
    }
    trained.retain(|n| is_trainable(n));
    trained
}

/// The size of every slot the schedule binds.
fn sizes(s: &Builder) -> BTreeMap<Slot, usize> {
    let mut sizes = BTreeMap::new();
    for d in &s.dispatches {
        for slot in &d.dispatch.slots {
            let n = match slot {
                Slot::Tensor(t) | Slot::Grad(t) => s.len(t),
                Slot::Param(p) | Slot::ParamGrad(p) => s.param_len(p),
                Slot::Aux(_) => *s
                    .aux
                    .get(slot)
                    .unwrap_or_else(|| panic!("no size was given for {slot:?}")),
            };
            sizes.insert(slot.clone(), n);
        }
    }
    sizes
}
