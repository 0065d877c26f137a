//! [`Workspace`]: every buffer of a CPU training step (the tape, the tensors' gradients, the
//! parameters' gradients and the kernels' scratch), kept from one step to the next.
//!
//! Why: a step of the default network at batch 32 touches about 2 GB of tensors. Allocated
//! afresh each step, every one of those pages was faulted in and zeroed by the kernel, and
//! freeing them flushed the other cores' TLBs; that cost more than all the arithmetic of the
//! step together. Here each buffer is sized once (at the first step of a batch size) and
//! overwritten afterwards; the kernels are the `_into` forms of the reference ops, so the
//! results are the reference's. Each op's forward is `forward_op.rs`'s; its backward is here,
//! with the gradient buffers it writes into.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::{Grads, Tape};
use crate::cpu::batch_norm;
use crate::cpu::conv2d::{self, ConvGradsMut};
use crate::cpu::fast::conv::weight_grad::{self, weight_grad};
use crate::cpu::fast::conv::{batched, sample, stem_grad, winograd};
use crate::cpu::{Dx, concat, dropout, elementwise, linear, max_pool, patch, relu, upsample};
use crate::net::training::Dropout;
use crate::net::{Op, Params, Program};

use super::forward_op::{forward_op, param, stem_conv, take};
use super::roles::{Operand, Role, roles};

/// The buffers of training steps on the CPU; see the module docs.
#[derive(Debug, Default)]
pub struct Workspace {
    /// What each op of the program last run does here (see [`Role`]).
    roles: Vec<Role>,
    /// Every op run as the reference runs it, every tensor kept on the tape ([`Self::unfused`]).
    unfused: bool,
    tape: Tape,
    grads: GradBuffers,
    /// Per-op times of the last step, when profiling.
    times: Option<Vec<OpTime>>,
}

/// The time one op of a step took.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// The op's name.
    pub op: String,
    /// The op's kind (`conv2d`, `batch_norm`, …; `batch_norm+relu` for a fused pair).
    pub kind: &'static str,
    /// `true` for the backward of the op.
    pub backward: bool,
    /// Seconds.
    pub seconds: f64,
}

/// Gradient buffers: the tensors' (by tensor name) and the parameters' (by parameter name),
/// and which of them the current step has written.
#[derive(Debug, Default)]
struct GradBuffers {
    tensors: HashMap<String, Vec<f32>>,
    written: HashSet<String>,
    /// Where a second gradient of a tensor is computed before it is added to the first.
    spare: Vec<f32>,
    /// The parameters' gradients written this step.
    params: Grads,
    /// Buffers of parameter gradients not (yet) written this step.
    unused: HashMap<String, Vec<f32>>,
    /// Per-thread partial sums of convolution weight gradients.
    parts: Vec<f32>,
    /// Tensors whose gradient this step is the buffer of another ([`Role::Sum`]).
    shared: HashMap<String, String>,
}

impl Workspace {
    /// An empty workspace; buffers are sized by the first step.
    pub fn new() -> Self {
        Self::default()
    }

    /// A workspace that runs every op as the reference does and keeps every tensor on the
    /// tape: what [`super::forward`] makes, so that [`super::backward`] (and anything else that
    /// reads a tape) finds every op's output there.
    pub fn unfused() -> Self {
        Self {
            unfused: true,
            ..Self::default()
        }
    }

    /// Records the time of every op from now on (see [`times`](Self::times)), or stops.
    pub fn set_profiling(&mut self, on: bool) {
        self.times = on.then(Vec::new);
    }

    /// Per-op times of the last forward and backward, when profiling.
    pub fn times(&self) -> &[OpTime] {
        self.times.as_deref().unwrap_or(&[])
    }

    /// The tape of the last forward.
    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    /// Replaces the tape (to run [`backward`](Self::backward) on one made elsewhere).
    pub fn set_tape(&mut self, program: &Program, tape: Tape) {
        // A tape made elsewhere holds every tensor: run every op as the reference does.
        self.roles = vec![Role::Plain; program.ops.len()];
        self.tape = tape;
    }

    /// Gives the tape away (the workspace reallocates it at the next forward).
    pub fn into_tape(self) -> Tape {
        self.tape
    }

    fn record(&mut self, (op, role): (&Op, Role), backward: bool, start: Instant) {
        if let Some(times) = &mut self.times {
            times.push(OpTime {
                op: op.name().to_string(),
                kind: match role {
                    Role::BatchNormRelu(_) => "batch_norm+relu",
                    Role::BatchNormReluPool { conv: None, .. }
                    | Role::PooledBatchNorm { conv: None, .. } => "batch_norm+relu+pool",
                    Role::BatchNormReluPool { conv: Some(_), .. }
                    | Role::PooledBatchNorm { conv: Some(_), .. } => "conv2d+batch_norm+relu+pool",
                    Role::SumMaker(_) if !backward => match op {
                        Op::Upsample { .. } => "upsample+add",
                        _ => "conv2d+add",
                    },
                    _ => op.kind(),
                },
                backward,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
    }

    /// Runs `program` (training form) on a batch in training mode, like [`super::forward`],
    /// into this workspace's tape.
    pub fn forward(
        &mut self,
        program: &Program,
        params: &Params,
        input: &[f32],
        batch: usize,
        dropout: Dropout,
    ) -> &Tape {
        if let Some(times) = &mut self.times {
            times.clear();
        }
        self.roles = if self.unfused {
            vec![Role::Plain; program.ops.len()]
        } else {
            roles(program)
        };
        let tape = &mut self.tape;
        tape.batch = batch;
        tape.dropout = dropout;
        let name = &program.inputs[0].0;
        let mut x = tape.values.remove(name).unwrap_or_default();
        x.clear();
        x.extend_from_slice(input);
        tape.values.insert(name.clone(), x);
        let ordinals = program.dropout_ordinals();
        in_pool(|| {
            for (i, (op, &ordinal)) in program.ops.iter().zip(&ordinals).enumerate() {
                let role = self.roles[i];
                if role.forward_done() {
                    continue;
                }
                let start = Instant::now();
                forward_op(&mut self.tape, program, params, (op, role), ordinal);
                self.record((op, role), false, start);
            }
        });
        &self.tape
    }

    /// The gradient of every trainable parameter from `d_output` (the loss's gradient with
    /// respect to the output of the last [`forward`](Self::forward)), like [`super::backward`].
    pub fn backward(&mut self, program: &Program, params: &Params, d_output: &[f32]) -> &Grads {
        assert_eq!(
            self.roles.len(),
            program.ops.len(),
            "backward follows a forward of the same program"
        );
        let g = &mut self.grads;
        g.begin();
        g.deliver(program, &program.output, d_output.len(), |b| {
            b.copy_from_slice(d_output)
        });
        let ordinals = program.dropout_ordinals();
        in_pool(|| {
            for (i, (op, &ordinal)) in program.ops.iter().zip(&ordinals).enumerate().rev() {
                let start = Instant::now();
                let role = self.roles[i];
                // A fused ReLU's backward only hands its gradient on: not worth a row.
                if self
                    .grads
                    .backward_op(&self.tape, program, params, (op, role), ordinal)
                    && role != Role::Fused
                {
                    self.record((op, role), true, start);
                }
            }
        });
        &self.grads.params
    }

    /// The parameter gradients of the last [`backward`](Self::backward).
    pub fn grads(&self) -> &Grads {
        &self.grads.params
    }
}

/// Runs `f` on a thread of rayon's pool, so that the ops' parallel loops start from inside the
/// pool (a join: the other threads take their share from this one's queue). Started from outside
/// the pool, each loop is handed to the pool and the calling thread sleeps until it is done, two
/// thread switches a loop: on 2 cores of a Zen 4 (a virtual machine) a batch norm's forward over
/// 64 channels of 2×2 planes at batch 32 took 49 µs called from outside the pool and 20 µs from
/// inside it, and a step runs hundreds of such loops.
fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

impl GradBuffers {
    /// Starts a step: nothing written yet.
    fn begin(&mut self) {
        self.written.clear();
        self.shared.clear();
        self.unused.extend(self.params.drain());
    }

    /// Lets `write` compute a gradient of `tensor` (`len` values, every one written): straight
    /// into the tensor's buffer if it is the first this step, otherwise into a spare buffer
    /// then added (a tensor read by several ops sums their gradients). Program inputs get
    /// none.
    fn deliver(
        &mut self,
        program: &Program,
        tensor: &str,
        len: usize,
        write: impl FnOnce(&mut [f32]),
    ) {
        let mut spare = std::mem::take(&mut self.spare);
        self.deliver_adding(program, tensor, len, |g| match g {
            Dx::Write(g) => write(g),
            Dx::Add(g) => {
                spare.resize(len, 0.0);
                write(&mut spare);
                elementwise::add_assign(g, &spare);
            }
        });
        self.spare = spare;
    }

    /// [`deliver`](Self::deliver) for ops that can add their part of a gradient in place:
    /// `write` gets [`Dx::Write`] with the tensor's buffer if this is the first part this step,
    /// else [`Dx::Add`] with the buffer holding the parts so far (no spare buffer, no pass to
    /// add it). The residual blocks' inputs take their second part this way (from the first
    /// batch norm, or the sum's skip path); against the spare buffer, in one process at batch
    /// 32, those ops took 0.76–0.90× the time and a step 0.963× (64×64) and 0.983× (128×128).
    fn deliver_adding(
        &mut self,
        program: &Program,
        tensor: &str,
        len: usize,
        write: impl FnOnce(Dx<'_>),
    ) {
        if program.is_input(tensor) {
            return;
        }
        if self.written.insert(tensor.to_string()) {
            let mut g = take(&mut self.tensors, tensor, len);
            write(Dx::Write(&mut g));
            self.tensors.insert(tensor.to_string(), g);
        } else {
            let g = self.tensors.get_mut(tensor).expect("written before");
            assert_eq!(g.len(), len, "gradient of {tensor}: length");
            write(Dx::Add(g));
        }
    }

    /// Gives `g` to `tensor` as (a part of) its gradient without copying when it is the first:
    /// `g` becomes the tensor's buffer and its old buffer is returned (the caller keeps it for
    /// the next step); otherwise `g` is added and returned.
    fn deliver_owned(&mut self, program: &Program, tensor: &str, g: Vec<f32>) -> Vec<f32> {
        if program.is_input(tensor) {
            return g;
        }
        if self.written.insert(tensor.to_string()) {
            self.tensors
                .insert(tensor.to_string(), g)
                .unwrap_or_default()
        } else {
            elementwise::add_assign(self.tensors.get_mut(tensor).expect("written"), &g);
            g
        }
    }

    /// Runs `f` with gradient buffers for layer `layer`'s weight and bias (`w_len` and `b_len`
    /// values, reused from an earlier step; `f` writes every element), then keeps them as this
    /// step's gradients.
    fn with_param_grads(
        &mut self,
        layer: &str,
        (w_len, b_len): (usize, usize),
        f: impl FnOnce(&mut Self, &mut [f32], &mut [f32]),
    ) {
        let mut buffer = |name: String, len: usize| {
            let mut g = self.unused.remove(&name).unwrap_or_default();
            g.resize(len, 0.0);
            (name, g)
        };
        let ((w_name, mut dw), (b_name, mut db)) = (
            buffer(format!("{layer}.weight"), w_len),
            buffer(format!("{layer}.bias"), b_len),
        );
        f(self, &mut dw, &mut db);
        self.params.insert(w_name, dw);
        self.params.insert(b_name, db);
    }

    /// Backward of one op, if its output received a gradient; returns whether it ran.
    fn backward_op(
        &mut self,
        tape: &Tape,
        program: &Program,
        params: &Params,
        (op, role): (&Op, Role),
        ordinal: u32,
    ) -> bool {
        if !self.written.contains(op.output()) {
            return false;
        }
        // The gradient's buffer: the output's own, or the one it shares ([`Role::Sum`]).
        let holder = match self.shared.remove(op.output()) {
            Some(other) => other,
            None => op.output().to_string(),
        };
        let mut dy = self.tensors.remove(&holder).expect("written");
        let batch = tape.batch;
        let input = op.inputs()[0];
        // Every op's input is on the tape except a batch norm's output that feeds only a
        // ReLU (a ReLU's backward does not read its input) and a fused pooling's input (its
        // backward reads the batch norm's).
        let x: &[f32] = tape.values.get(input).map_or(&[], Vec::as_slice);
        let in_shape = program.shape(input);
        let out_shape = program.shape(op.output());
        let in_len = batch * in_shape.len();
        let needs_dx = !program.is_input(input);
        match op {
            Op::Conv2d(c) => {
                let w = param(params, &c.name, "weight");
                self.with_param_grads(&c.name, (w.len(), c.cout), |s, dw, db| {
                    let mut parts = std::mem::take(&mut s.parts);
                    // The stem's weight gradient (one input channel, no dx) read in place; the
                    // smallest planes as GEMMs over the whole batch; else on the register-blocked
                    // kernels where they run, else the reference's GEMMs.
                    let fast = weight_grad::preferred(c.kernel, c.stride, c.pad, out_shape);
                    let small = batched::preferred_backward(c, out_shape);
                    let mut run = |dx: Option<&mut [f32]>| {
                        if dx.is_none() && stem_grad::runs(c.cin, c.kernel, c.stride, c.pad) {
                            let geometry = (in_shape, out_shape);
                            stem_grad::weight_grad(
                                (c.kernel, c.pad),
                                x,
                                &dy,
                                batch,
                                geometry,
                                dw,
                                db,
                                &mut parts,
                            );
                            return;
                        }
                        if small || !fast {
                            // The two take the same arguments.
                            let backward = if small {
                                batched::backward
                            } else {
                                conv2d::conv2d_backward_into
                            };
                            let grads = ConvGradsMut { dx, dw, db };
                            backward(x, &dy, batch, in_shape, out_shape, c, w, grads, &mut parts);
                            return;
                        }
                        let (geometry, kernel) = ((in_shape, out_shape), (c.kernel, c.pad));
                        // The weight gradient as Winograd's where it applies (as the input
                        // gradient's does, in `prepare_input_grad`).
                        if winograd::applies(in_shape, c.kernel, c.stride, c.pad) {
                            let grads = (&mut *dw, &mut *db, &mut parts);
                            winograd::weight_grad::weight_grad(x, &dy, batch, geometry, grads);
                        } else {
                            weight_grad(kernel, x, &dy, batch, geometry, dw, db, &mut parts);
                        }
                        if let Some(dx) = dx {
                            let prepared =
                                sample::prepare_input_grad(w, c.cout, c.cin, kernel, out_shape);
                            sample::input_grad(&prepared, kernel, &dy, batch, geometry, dx);
                        }
                    };
                    if needs_dx {
                        s.deliver(program, input, in_len, |dx| run(Some(dx)));
                    } else {
                        run(None);
                    }
                    s.parts = parts;
                });
            }
            Op::Linear(l) => {
                let w = param(params, &l.name, "weight");
                self.with_param_grads(&l.name, (w.len(), l.outputs), |s, dw, db| {
                    let mut run = |dx: Option<&mut [f32]>| {
                        linear::linear_backward_into(x, &dy, batch, l, w, (dx, dw, db));
                    };
                    if needs_dx {
                        s.deliver(program, input, in_len, |dx| run(Some(dx)));
                    } else {
                        run(None);
                    }
                });
            }
            Op::BatchNorm(b) => {
                let gamma = param(params, &b.name, "weight");
                // Fused with its ReLU: dy is the ReLU output's gradient, masked on the fly.
                let relu_beta = match role {
                    Role::BatchNormRelu(_) => Some(param(params, &b.name, "bias")),
                    _ => None,
                };
                let stats = &tape.stats[&b.name];
                self.with_param_grads(&b.name, (gamma.len(), gamma.len()), |s, dg, db| {
                    s.deliver_adding(program, input, in_len, |dx| {
                        batch_norm::batch_norm_backward_into(
                            x,
                            &dy,
                            batch,
                            in_shape,
                            (gamma, relu_beta),
                            stats,
                            (dx, dg, db),
                        )
                    });
                });
            }
            Op::Relu { .. } if role == Role::Fused => {
                // The batch norm before applies this ReLU's backward: pass dy on as it is.
                dy = self.deliver_owned(program, input, dy);
            }
            Op::Relu { output, .. } => {
                let y = &tape.values[output];
                self.deliver(program, input, in_len, |dx| {
                    relu::relu_backward_into(y, &dy, dx)
                });
            }
            Op::Dropout { .. } => {
                let dropout = tape.dropout;
                self.deliver(program, input, in_len, |dx| {
                    if dropout.rate > 0.0 {
                        dropout::dropout_into(&dy, dropout.key(ordinal), dropout.rate, dx)
                    } else {
                        dx.copy_from_slice(&dy)
                    }
                });
            }
            Op::MaxPool { .. }
                if let Role::PooledBatchNorm {
                    batch_norm: i,
                    conv: Some(p),
                } = role =>
            {
                // The stem's convolution, its batch norm and ReLU: their parameters' gradients.
                let (Op::BatchNorm(b), Op::Conv2d(c)) = (&program.ops[i], &program.ops[p]) else {
                    unreachable!("roles() fuses a convolution and a batch norm")
                };
                let (gamma, beta) = (
                    param(params, &b.name, "weight"),
                    param(params, &b.name, "bias"),
                );
                let (x, stats) = (&tape.values[&c.input], &tape.stats[&b.name]);
                let conv = stem_conv(params, c);
                self.with_param_grads(&b.name, (gamma.len(), gamma.len()), |s, dg, dbeta| {
                    s.with_param_grads(&c.name, (conv.weight.len(), c.cout), |_, dw, db| {
                        batch_norm::conv_batch_norm_relu_pool_backward_into(
                            x,
                            &dy,
                            batch,
                            program.shape(&c.input),
                            conv,
                            (gamma, beta),
                            stats,
                            (dw, db, dg, dbeta),
                        )
                    });
                });
            }
            Op::MaxPool { .. } if let Role::PooledBatchNorm { batch_norm: i, .. } = role => {
                // The batch norm's and its ReLU's backward too, into the batch norm's input.
                let Op::BatchNorm(b) = &program.ops[i] else {
                    unreachable!("roles() pools batch norms only")
                };
                let shape = program.shape(&b.input);
                let (gamma, beta) = (
                    param(params, &b.name, "weight"),
                    param(params, &b.name, "bias"),
                );
                let (x, stats) = (&tape.values[&b.input], &tape.stats[&b.name]);
                self.with_param_grads(&b.name, (gamma.len(), gamma.len()), |s, dg, db| {
                    s.deliver_adding(program, &b.input, batch * shape.len(), |dx| {
                        batch_norm::batch_norm_relu_pool_backward_into(
                            x,
                            &dy,
                            batch,
                            shape,
                            (gamma, beta),
                            stats,
                            (dx, dg, db),
                        )
                    });
                });
            }
            Op::MaxPool { kernel, stride, .. } => {
                self.deliver(program, input, in_len, |dx| {
                    max_pool::max_pool_backward_into(
                        x, &dy, in_shape, out_shape, *kernel, *stride, dx,
                    )
                });
            }
            Op::Upsample { factor, .. } => {
                self.deliver(program, input, in_len, |dx| {
                    upsample::upsample_backward_into(&dy, in_shape, *factor, dx)
                });
            }
            Op::Add { a, b, .. }
                if let Role::Sum {
                    owner: Some(owner), ..
                } = role =>
            {
                let (owner, sharer) = match owner {
                    Operand::A => (a, b),
                    Operand::B => (b, a),
                };
                self.written.insert(sharer.clone());
                self.shared.insert(sharer.clone(), owner.clone());
                dy = self.deliver_owned(program, owner, dy);
            }
            Op::Add { a, b, .. } => {
                self.deliver_adding(program, b, dy.len(), |d| match d {
                    Dx::Write(d) => d.copy_from_slice(&dy),
                    Dx::Add(d) => elementwise::add_assign(d, &dy),
                });
                dy = self.deliver_owned(program, a, dy);
            }
            Op::Patch { y, x: x0, h, w, .. } => {
                self.deliver(program, input, in_len, |dx| {
                    patch::patch_backward_into(&dy, in_shape, (*y, *x0, *h, *w), dx)
                });
            }
            Op::Concat { inputs, .. } => {
                let total = out_shape.len();
                let mut offset = 0;
                for t in inputs {
                    let len = program.shape(t).len();
                    self.deliver(program, t, batch * len, |d| {
                        concat::concat_part_backward_into(&dy, total, offset, d, len)
                    });
                    offset += len;
                }
            }
            Op::Affine(a) => panic!(
                "`{}` is an inference-form affine map; train the training-form program",
                a.name
            ),
        }
        // Keep the buffer for the next step; it holds no gradient of this one any more (a
        // shared one goes back to its holder, whose convolution may still read it).
        self.tensors.insert(holder, dy);
        self.written.remove(op.output());
        true
    }
}
