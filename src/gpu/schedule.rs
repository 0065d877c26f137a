//! How the GPU runs an inference program: its ops in order, some fused into the kernel of
//! another, each as a [`Node`] of dispatches.
//!
//! At batch 1 a GPU spends more time starting dispatches and passing activations through
//! memory than computing, so an op that only feeds one other op is folded into it when the
//! other's kernel can take it:
//!
//! - an affine (a batch norm that could not be folded into a preceding convolution, with its
//!   ReLU) whose output only a convolution reads becomes that convolution's prologue, where its
//!   kernel takes one ([`conv2d::takes_prologue`]: 1×1 convolutions, and any in the tiled sets);
//! - a sum one of whose operands only comes from a convolution without ReLU becomes that
//!   convolution's epilogue (the residual blocks' merge); the convolution then runs where the
//!   sum was, once the other operand exists;
//! - a nearest upsampling whose output only a sum reads is read through by the sum (the
//!   hourglass's merge);
//! - a 2×2 max pooling whose input only comes from a convolution (or from a sum fused into
//!   one) is applied in that convolution's epilogue, where its kernel can
//!   ([`conv2d::takes_pool`]: the tiled sets).
//!
//! On the LRHN that is 27 of its 91 dispatches, 29 in the tiled sets (the stem's pooling and
//! the first residual block's). The CPU's fast path fuses in its own way
//! (`cpu::fast`); both compute what the unfused program does, within f32 rounding, which the
//! GPU-vs-CPU tests check on every kernel set.

use std::collections::HashMap;

use super::kernels::conv2d::{self, Fusion};
use super::kernels::{Dispatch, KernelSet, NoKernel, Slot, add, dispatches};
use crate::net::{Op, Program};

/// One step of inference on the GPU: an op of the program, with the ops fused into it.
#[derive(Debug, Clone)]
pub struct Node {
    /// The main op's name (what per-layer timing reports).
    pub name: String,
    /// The other ops it computes, fused into the main one's kernel.
    pub fused: Vec<String>,
    /// Tensors it reads.
    pub inputs: Vec<String>,
    /// The tensor it writes.
    pub output: String,
    /// Floating-point operations at the batch it was scheduled for.
    pub flops: u64,
    /// Its kernel launches.
    pub dispatches: Vec<Dispatch>,
}

/// The nodes that run `program` (in inference form) at `batch` with the kernels of `set`,
/// in an order that computes every tensor before it is read.
pub fn schedule(program: &Program, batch: usize, set: KernelSet) -> Result<Vec<Node>, NoKernel> {
    let ops = &program.ops;
    let mut readers: HashMap<&str, usize> = HashMap::new();
    for op in ops {
        for t in op.inputs() {
            *readers.entry(t).or_default() += 1;
        }
    }
    *readers.entry(&program.output).or_default() += 1;
    let producer: HashMap<&str, usize> = ops
        .iter()
        .enumerate()
        .map(|(i, op)| (op.output(), i))
        .collect();
    // The op writing `t`, when exactly one op reads `t`.
    let sole_producer = |t: &str| {
        (readers.get(t) == Some(&1))
            .then(|| producer.get(t).copied())
            .flatten()
    };

    // Decide the fusions: `absorbed[i]` when op i runs inside another op's node.
    let mut absorbed = vec![false; ops.len()];
    let mut prologue: HashMap<usize, usize> = HashMap::new(); // conv → affine
    let mut epilogue: HashMap<usize, (usize, String)> = HashMap::new(); // add → (conv, other)
    let mut upsampled: HashMap<usize, usize> = HashMap::new(); // add → upsample
    let mut pooled: HashMap<usize, usize> = HashMap::new(); // conv → max pool
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Conv2d(c) => {
                if conv2d::takes_prologue(c, set)
                    && let Some(j) = sole_producer(&c.input)
                    && matches!(ops[j], Op::Affine(_))
                {
                    prologue.insert(i, j);
                    absorbed[j] = true;
                }
            }
            Op::Add { a, b, .. } => {
                let conv = [(a, b), (b, a)].into_iter().find_map(|(mine, other)| {
                    let j = sole_producer(mine)?;
                    matches!(&ops[j], Op::Conv2d(c) if !c.relu).then(|| (j, other.clone()))
                });
                let upsample = || {
                    [a, b].into_iter().find_map(|t| {
                        let j = sole_producer(t)?;
                        matches!(ops[j], Op::Upsample { .. }).then_some(j)
                    })
                };
                if let Some((j, other)) = conv {
                    epilogue.insert(i, (j, other));
                    absorbed[j] = true;
                } else if let Some(j) = upsample() {
                    upsampled.insert(i, j);
                    absorbed[j] = true;
                }
            }
            Op::MaxPool {
                input,
                kernel: 2,
                stride: 2,
                ..
            } => {
                // Into the convolution that makes the input, or whose epilogue is the sum
                // that makes it.
                let conv = sole_producer(input).and_then(|j| match &ops[j] {
                    Op::Conv2d(_) => Some(j),
                    Op::Add { .. } => epilogue.get(&j).map(|(c, _)| *c),
                    _ => None,
                });
                if let Some(c) = conv
                    && conv2d::takes_pool(set, program.shape(input))
                {
                    pooled.insert(c, i);
                    absorbed[i] = true;
                }
            }
            _ => {}
        }
    }

    let flops = |i: usize| 2 * program.op_macs(&ops[i]) * batch as u64;
    let tensor = |t: &str| Slot::Tensor(t.to_string());
    // A convolution node: op `i` with its prologue, and the epilogue of the sum `add`.
    let conv_node = |i: usize, add: Option<(&Op, &String)>| {
        let Op::Conv2d(c) = &ops[i] else {
            unreachable!("fusions into convolutions are decided for convolutions")
        };
        let mut c = c.clone();
        let mut node = Node {
            name: c.name.clone(),
            fused: Vec::new(),
            inputs: Vec::new(),
            output: String::new(),
            flops: flops(i),
            dispatches: Vec::new(),
        };
        let mut fusion = Fusion::default();
        if let Some(&j) = prologue.get(&i) {
            let Op::Affine(a) = &ops[j] else {
                unreachable!("prologues are affines")
            };
            fusion.pre = Some((a.name.clone(), a.relu));
            c.input = a.input.clone();
            node.fused.push(a.name.clone());
            node.flops += flops(j);
        }
        node.inputs.push(c.input.clone());
        if let Some((sum, other)) = add {
            c.output = sum.output().to_string();
            fusion.residual = Some(other.clone());
            node.fused.push(sum.name().to_string());
            node.inputs.push(other.clone());
        }
        // The convolution's own output shape, before any pooling.
        let (input, output) = (program.shape(&c.input), program.shape(&c.output));
        if let Some(&j) = pooled.get(&i) {
            fusion.pool = true;
            c.output = ops[j].output().to_string();
            node.fused.push(ops[j].name().to_string());
            node.flops += flops(j);
        }
        node.output = c.output.clone();
        node.dispatches = vec![conv2d::dispatch(&c, input, output, batch, set, &fusion)];
        node
    };

    let mut nodes = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if absorbed[i] {
            continue;
        }
        let node = if let Some((j, other)) = epilogue.get(&i) {
            conv_node(*j, Some((op, other)))
        } else if matches!(op, Op::Conv2d(_)) {
            conv_node(i, None)
        } else if let Some(&j) = upsampled.get(&i) {
            let (Op::Add { a, b, output, .. }, Op::Upsample { input, factor, .. }) = (op, &ops[j])
            else {
                unreachable!("upsamplings are fused into sums")
            };
            let other = if *a == ops[j].output() { b } else { a };
            Node {
                name: op.name().to_string(),
                fused: vec![ops[j].name().to_string()],
                inputs: vec![other.clone(), input.clone()],
                output: output.clone(),
                flops: flops(i) + flops(j),
                dispatches: vec![add::dispatch(
                    program.shape(output),
                    batch,
                    *factor,
                    [tensor(other), tensor(input), tensor(output)],
                )],
            }
        } else {
            Node {
                name: op.name().to_string(),
                fused: Vec::new(),
                inputs: op.inputs().into_iter().map(String::from).collect(),
                output: op.output().to_string(),
                flops: flops(i),
                dispatches: dispatches(program, op, batch, set)?,
            }
        };
        nodes.push(node);
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{NetConfig, lower};

    #[test]
    fn the_lrhn_runs_in_fewer_dispatches_and_every_op_once() {
        let w = crate::net::Weights::init(&NetConfig::default(), 1).unwrap();
        let program = Program::lrhn(&w.config).unwrap();
        let (lowered, _) = lower(&program, &w.tensors).unwrap();
        for set in KernelSet::ALL {
            let nodes = schedule(&lowered, 1, set).unwrap();
            let count: usize = nodes.iter().map(|n| n.dispatches.len()).sum();
            let unfused: usize = lowered
                .ops
                .iter()
                .map(|op| dispatches(&lowered, op, 1, set).unwrap().len())
                .sum();
            // 12 residual blocks (prologue and epilogue each) and 3 hourglass merges; in the
            // tiled sets the stem's and the first block's poolings too.
            let expected = if set.is_tiled() { 29 } else { 27 };
            assert_eq!(count, unfused - expected, "{set}");
            let mut ran: Vec<&str> = nodes
                .iter()
                .flat_map(|n| {
                    std::iter::once(n.name.as_str()).chain(n.fused.iter().map(String::as_str))
                })
                .collect();
            ran.sort_unstable();
            let mut all: Vec<&str> = lowered.ops.iter().map(Op::name).collect();
            all.sort_unstable();
            assert_eq!(ran, all);
            let flops: u64 = nodes.iter().map(|n| n.flops).sum();
            let expected: u64 = lowered.ops.iter().map(|op| 2 * lowered.op_macs(op)).sum();
            assert_eq!(flops, expected);
            // Every tensor a node reads is written before it (or is an input).
            let mut written: Vec<&str> = lowered.inputs.iter().map(|(n, _)| n.as_str()).collect();
            for n in &nodes {
                for t in &n.inputs {
                    assert!(
                        written.contains(&t.as_str()),
                        "{} reads {t} before it exists",
                        n.name
                    );
                }
                written.push(&n.output);
            }
            assert_eq!(nodes.last().unwrap().output, lowered.output);
        }
    }
}
