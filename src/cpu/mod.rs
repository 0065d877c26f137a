//! The CPU backend. [`CpuNet`] is plain Rust, op by op: the reference every GPU kernel and every
//! fast-path kernel is tested against, and (with `train`, `backward`) the training backend; it
//! executes training-form and inference-form programs alike. [`fast::FastNet`] is the compiled
//! inference path users run where no adapter exists or `--backend cpu` is asked for.

pub mod alloc;
pub mod batch_norm;
pub mod concat;
pub mod conv2d;
pub mod dropout;
pub mod elementwise;
pub mod fast;
pub mod linear;
pub mod max_pool;
pub mod patch;
pub mod relu;
pub mod sgemm;
#[cfg(test)]
pub(crate) mod testing;
pub mod train;
pub mod upsample;

/// Elements per parallel task of the element-wise maps: big enough to amortize a task, small
/// enough to split a tensor across threads.
pub(crate) const CHUNK: usize = 1 << 14;

use std::collections::HashMap;

use crate::net::{Network, Op, Params, Program};
use crate::run::{InputError, check_inputs};

/// Where a backward puts its input's gradient.
#[derive(Debug)]
pub enum Dx<'a> {
    /// Written, every element: the first part of the input's gradient this step.
    Write(&'a mut [f32]),
    /// Added to what the slice holds: the parts from the input's other readers, summed in
    /// place instead of through a buffer of its own and a pass to add it.
    Add(&'a mut [f32]),
}

/// A program with its parameters, executed on the CPU.
#[derive(Debug, Clone)]
pub struct CpuNet {
    program: Program,
    params: Params,
}

impl CpuNet {
    /// A CPU executor for `program`; `params` must hold every parameter it names.
    pub fn new(program: Program, params: Params) -> Self {
        Self { program, params }
    }

    /// A CPU executor for an inference network.
    pub fn from_network(net: &Network) -> Self {
        Self::new(net.program.clone(), net.params.clone())
    }

    /// The program executed.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Runs the program on a batch; `inputs` holds one slice per program input, each
    /// `batch × shape.len()` values. Returns the output, `batch × output_shape.len()`.
    pub fn forward(&self, inputs: &[&[f32]], batch: usize) -> Result<Vec<f32>, InputError> {
        let mut all = self.forward_all(inputs, batch)?;
        Ok(all
            .remove(&self.program.output)
            .expect("the output is defined by construction"))
    }

    /// Like [`forward`](Self::forward) but returns every tensor, by name.
    pub fn forward_all(
        &self,
        inputs: &[&[f32]],
        batch: usize,
    ) -> Result<HashMap<String, Vec<f32>>, InputError> {
        check_inputs(&self.program, inputs, batch)?;
        let mut env: HashMap<String, Vec<f32>> = self
            .program
            .inputs
            .iter()
            .zip(inputs)
            .map(|((name, _), x)| (name.clone(), x.to_vec()))
            .collect();
        for op in &self.program.ops {
            let y = run_op(&self.program, &self.params, op, &env, batch);
            env.insert(op.output().to_string(), y);
        }
        Ok(env)
    }
}

fn param(params: &Params, name: String) -> &[f32] {
    &params
        .get(&name)
        .unwrap_or_else(|| panic!("the CPU backend was given no parameter `{name}`"))
        .data
}

/// Runs one op in inference mode over the tensors in `env`: the forward both `CpuNet` and the
/// training-mode forward (which handles batch norm and dropout itself) use.
pub(crate) fn run_op(
    p: &Program,
    params: &Params,
    op: &Op,
    env: &HashMap<String, Vec<f32>>,
    batch: usize,
) -> Vec<f32> {
    let x = &env[op.inputs()[0]];
    let in_shape = p.shape(op.inputs()[0]);
    let out_shape = p.shape(op.output());
    match op {
        Op::Conv2d(c) => conv2d::conv2d(
            x,
            batch,
            in_shape,
            out_shape,
            c,
            param(params, format!("{}.weight", c.name)),
            param(params, format!("{}.bias", c.name)),
        ),
        Op::Linear(l) => linear::linear(
            x,
            batch,
            l,
            param(params, format!("{}.weight", l.name)),
            param(params, format!("{}.bias", l.name)),
        ),
        Op::BatchNorm(b) => elementwise::batch_norm(
            x,
            in_shape,
            param(params, format!("{}.weight", b.name)),
            param(params, format!("{}.bias", b.name)),
            param(params, format!("{}.running_mean", b.name)),
            param(params, format!("{}.running_var", b.name)),
        ),
        Op::Affine(a) => elementwise::affine(
            x,
            in_shape,
            param(params, format!("{}.scale", a.name)),
            param(params, format!("{}.shift", a.name)),
            a.relu,
        ),
        Op::Relu { .. } => relu::relu(x),
        // Inference: dropout is the identity (training runs through `train`).
        Op::Dropout { .. } => x.clone(),
        Op::MaxPool { kernel, stride, .. } => {
            max_pool::max_pool(x, batch, in_shape, out_shape, *kernel, *stride)
        }
        Op::Upsample { factor, .. } => upsample::upsample(x, batch, in_shape, *factor),
        Op::Add { b, .. } => elementwise::add(x, &env[b]),
        Op::Patch { y, x: x0, h, w, .. } => patch::patch(x, batch, in_shape, *y, *x0, *h, *w),
        Op::Concat { inputs, .. } => {
            let parts: Vec<(&[f32], usize)> = inputs
                .iter()
                .map(|t| (env[t].as_slice(), p.shape(t).len()))
                .collect();
            concat::concat(&parts, batch)
        }
    }
}
