//! The CPU backend: plain Rust, the reference every GPU kernel is tested against, and the
//! fallback where no adapter exists. Executes training-form and inference-form programs alike.

pub mod backward;
pub mod batch_norm;
pub mod conv;
pub mod elementwise;
pub mod linear;
pub mod train;

use std::collections::HashMap;

use crate::net::{Network, Op, Params, Program};
use crate::run::{InputError, check_inputs};

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
            let y = self.run_op(op, &env, batch);
            env.insert(op.output().to_string(), y);
        }
        Ok(env)
    }

    fn param(&self, name: String) -> &[f32] {
        &self
            .params
            .get(&name)
            .unwrap_or_else(|| panic!("CpuNet was built without parameter `{name}`"))
            .data
    }

    fn run_op(&self, op: &Op, env: &HashMap<String, Vec<f32>>, batch: usize) -> Vec<f32> {
        let p = &self.program;
        let x = &env[op.inputs()[0]];
        let in_shape = p.shape(op.inputs()[0]);
        let out_shape = p.shape(op.output());
        match op {
            Op::Conv2d(c) => conv::conv2d(
                x,
                batch,
                in_shape,
                out_shape,
                c,
                self.param(format!("{}.weight", c.name)),
                self.param(format!("{}.bias", c.name)),
            ),
            Op::Linear(l) => linear::linear(
                x,
                batch,
                l,
                self.param(format!("{}.weight", l.name)),
                self.param(format!("{}.bias", l.name)),
            ),
            Op::BatchNorm(b) => elementwise::batch_norm(
                x,
                in_shape,
                self.param(format!("{}.weight", b.name)),
                self.param(format!("{}.bias", b.name)),
                self.param(format!("{}.running_mean", b.name)),
                self.param(format!("{}.running_var", b.name)),
            ),
            Op::Affine(a) => elementwise::affine(
                x,
                in_shape,
                self.param(format!("{}.scale", a.name)),
                self.param(format!("{}.shift", a.name)),
                a.relu,
            ),
            Op::Relu { .. } => elementwise::relu(x),
            // Inference: dropout is the identity (training runs through `train`).
            Op::Dropout { .. } => x.clone(),
            Op::MaxPool { kernel, stride, .. } => {
                elementwise::max_pool(x, batch, in_shape, out_shape, *kernel, *stride)
            }
            Op::Upsample { factor, .. } => elementwise::upsample(x, batch, in_shape, *factor),
            Op::Add { b, .. } => elementwise::add(x, &env[b]),
            Op::Patch { y, x: x0, h, w, .. } => {
                elementwise::patch(x, batch, in_shape, *y, *x0, *h, *w)
            }
            Op::Concat { inputs, .. } => {
                let parts: Vec<(&[f32], usize)> = inputs
                    .iter()
                    .map(|t| (env[t].as_slice(), p.shape(t).len()))
                    .collect();
                elementwise::concat(&parts, batch)
            }
        }
    }
}
