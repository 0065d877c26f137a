//! Lowering a training-form program to its inference form.
//!
//! Batch norm after a convolution is folded into the convolution's weights and bias
//! (`w' = w·s`, `b' = (b − μ)·s + β` with `s = γ/√(σ² + ε)`); batch norm elsewhere (the
//! pre-activation blocks) becomes a per-channel [`Affine`]; a ReLU is fused into the op that
//! produces its input when nothing else reads that input. The result uses only the ops the GPU
//! backend has kernels for, and computes the same function up to rounding.

use std::collections::HashMap;

use super::program::{Affine, Op, Program};
use super::tensor::{Params, Tensor};

/// Epsilon of every batch norm (PyTorch's default).
pub const BN_EPS: f32 = 1e-5;

/// A parameter the program needs is absent.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("lowering needs parameter `{0}`, which the weights do not have")]
pub struct MissingParam(pub String);

/// Folds batch norm and fuses ReLU; returns the inference program and its parameters.
pub fn lower(program: &Program, params: &Params) -> Result<(Program, Params), MissingParam> {
    let get = |name: String| params.get(&name).ok_or(MissingParam(name));
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for op in &program.ops {
        for t in op.inputs() {
            *uses.entry(t).or_default() += 1;
        }
    }
    *uses.entry(&program.output).or_default() += 1;
    let single_use = |t: &str| uses.get(t).copied() == Some(1);

    let mut ops: Vec<Op> = Vec::new();
    let mut out = Params::new();
    // Index in `ops` of the op producing each tensor.
    let mut producer: HashMap<String, usize> = HashMap::new();

    for op in &program.ops {
        match op {
            Op::BatchNorm(bn) => {
                let gamma = get(format!("{}.weight", bn.name))?;
                let beta = get(format!("{}.bias", bn.name))?;
                let mean = get(format!("{}.running_mean", bn.name))?;
                let var = get(format!("{}.running_var", bn.name))?;
                let scale: Vec<f32> = gamma
                    .data
                    .iter()
                    .zip(&var.data)
                    .map(|(g, v)| g / (v + BN_EPS).sqrt())
                    .collect();
                let shift: Vec<f32> = (0..bn.channels)
                    .map(|c| beta.data[c] - mean.data[c] * scale[c])
                    .collect();
                let foldable = single_use(&bn.input)
                    && producer
                        .get(&bn.input)
                        .is_some_and(|&i| matches!(&ops[i], Op::Conv2d(c) if !c.relu));
                if foldable {
                    let i = producer.remove(&bn.input).expect("checked above");
                    let Op::Conv2d(conv) = &mut ops[i] else {
                        unreachable!("checked above")
                    };
                    let w = out
                        .get_mut(&format!("{}.weight", conv.name))
                        .expect("conv parameters are copied first");
                    let per_out = w.len() / conv.cout;
                    for (o, chunk) in w.data.chunks_mut(per_out).enumerate() {
                        chunk.iter_mut().for_each(|v| *v *= scale[o]);
                    }
                    let b = out
                        .get_mut(&format!("{}.bias", conv.name))
                        .expect("conv parameters are copied first");
                    for (o, v) in b.data.iter_mut().enumerate() {
                        *v = *v * scale[o] + shift[o];
                    }
                    conv.output = bn.output.clone();
                    producer.insert(bn.output.clone(), i);
                } else {
                    out.insert(
                        format!("{}.scale", bn.name),
                        Tensor::new(vec![bn.channels], scale),
                    );
                    out.insert(
                        format!("{}.shift", bn.name),
                        Tensor::new(vec![bn.channels], shift),
                    );
                    producer.insert(bn.output.clone(), ops.len());
                    ops.push(Op::Affine(Affine {
                        name: bn.name.clone(),
                        input: bn.input.clone(),
                        output: bn.output.clone(),
                        channels: bn.channels,
                        relu: false,
                    }));
                }
            }
            Op::Relu {
                name,
                input,
                output,
            } => {
                let fusable = single_use(input)
                    && producer.get(input).is_some_and(|&i| match &ops[i] {
                        Op::Conv2d(c) => !c.relu,
                        Op::Linear(l) => !l.relu,
                        Op::Affine(a) => !a.relu,
                        _ => false,
                    });
                if fusable {
                    let i = producer.remove(input).expect("checked above");
                    match &mut ops[i] {
                        Op::Conv2d(c) => c.relu = true,
                        Op::Linear(l) => l.relu = true,
                        Op::Affine(a) => a.relu = true,
                        _ => unreachable!("checked above"),
                    }
                    *ops[i].output_mut() = output.clone();
                    producer.insert(output.clone(), i);
                } else {
                    // A ReLU on a shared tensor: an identity affine with ReLU.
                    let c = program.shape(input).c;
                    out.insert(format!("{name}.scale"), Tensor::full(vec![c], 1.0));
                    out.insert(format!("{name}.shift"), Tensor::full(vec![c], 0.0));
                    producer.insert(output.clone(), ops.len());
                    ops.push(Op::Affine(Affine {
                        name: name.clone(),
                        input: input.clone(),
                        output: output.clone(),
                        channels: c,
                        relu: true,
                    }));
                }
            }
            Op::Dropout {
                name,
                input,
                output,
            } => {
                // The identity at inference: the producer writes the output directly, or where
                // the input is shared (or a program input), an identity affine copies it.
                if single_use(input) && producer.contains_key(input) {
                    let i = producer.remove(input).expect("checked above");
                    *ops[i].output_mut() = output.clone();
                    producer.insert(output.clone(), i);
                } else {
                    let c = program.shape(input).c;
                    out.insert(format!("{name}.scale"), Tensor::full(vec![c], 1.0));
                    out.insert(format!("{name}.shift"), Tensor::full(vec![c], 0.0));
                    producer.insert(output.clone(), ops.len());
                    ops.push(Op::Affine(Affine {
                        name: name.clone(),
                        input: input.clone(),
                        output: output.clone(),
                        channels: c,
                        relu: false,
                    }));
                }
            }
            other => {
                for (name, _) in other.params() {
                    let t = get(name.clone())?;
                    out.insert(name, t.clone());
                }
                producer.insert(other.output().to_string(), ops.len());
                ops.push(other.clone());
            }
        }
    }
    let lowered = Program::new(program.inputs.clone(), ops, &program.output)
        .expect("lowering keeps every tensor defined before use and every shape");
    Ok((lowered, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{NetConfig, Weights};

    #[test]
    fn lowered_lrhn_has_only_gpu_ops_and_fewer_steps() {
        let w = Weights::init(&NetConfig::default(), 1).unwrap();
        let program = Program::lrhn(&w.config).unwrap();
        let (lowered, params) = lower(&program, &w.tensors).unwrap();
        assert!(
            lowered
                .ops
                .iter()
                .all(|op| !matches!(op, Op::BatchNorm(_) | Op::Relu { .. } | Op::Dropout { .. }))
        );
        assert!(lowered.ops.len() < program.ops.len());
        assert_eq!(lowered.output_shape(), program.output_shape());
        // Every conv is followed by batch norm in this architecture, so all are fused.
        let fused = lowered
            .ops
            .iter()
            .filter(|op| matches!(op, Op::Conv2d(c) if c.relu))
            .count();
        assert!(fused > 20, "{fused} fused convolutions");
        let needed: Vec<String> = lowered.params().into_iter().map(|(n, _)| n).collect();
        let have: Vec<String> = params.keys().cloned().collect();
        let mut needed_sorted = needed.clone();
        needed_sorted.sort();
        assert_eq!(needed_sorted, have);
    }

    #[test]
    fn missing_parameter_is_named() {
        let mut w = Weights::init(&NetConfig::tiny(), 1).unwrap();
        w.tensors.remove("res1.bn2.running_var");
        let program = Program::lrhn(&w.config).unwrap();
        assert_eq!(
            lower(&program, &w.tensors).unwrap_err(),
            MissingParam("res1.bn2.running_var".into())
        );
    }
}
