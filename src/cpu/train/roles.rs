//! [`Role`]: what the training workspace does with each op of a program — which ops it runs
//! as one (a batch norm with its ReLU, the 2×2 pooling after them and the stem's convolution
//! before them; a sum with its later operand's maker), which sums let one operand's maker read
//! the other's gradient buffer —
//! decided once per step from the program alone, so that `workspace.rs` keeps only the buffers
//! and the running of the ops.

use std::collections::HashMap;

use crate::cpu::fast::conv::stem_grad;
use crate::net::{Op, Program};

/// How the workspace runs an op of the program.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Role {
    /// As the reference does.
    Plain,
    /// A batch norm whose output feeds only the ReLU at this op index: both are computed as
    /// one pass, forward and backward, and the batch norm's output is never stored.
    BatchNormRelu(usize),
    /// A batch norm whose output feeds only a ReLU, whose output feeds only the 2×2, stride-2
    /// max pooling at op `pool`: the three are one op (`batch_norm::pooled`), its forward run
    /// here, writing the pooling's output; neither the batch norm's output nor the ReLU's is
    /// stored. With `conv`, the batch norm's input is made by that op, a [`Role::StemConv`],
    /// and the four are one op (`batch_norm::stem`), reading the convolution's input.
    BatchNormReluPool {
        /// The pooling's op index.
        pool: usize,
        /// The stem convolution's op index, if it is fused too.
        conv: Option<usize>,
    },
    /// The pooling of a [`Role::BatchNormReluPool`]: nothing to do forward; its backward is
    /// the three ops' (the four's, with the convolution).
    PooledBatchNorm {
        /// The batch norm's op index.
        batch_norm: usize,
        /// The stem convolution's op index, if it is fused too.
        conv: Option<usize>,
    },
    /// A convolution with one input channel, stride 1 and a kernel up to 3×3, whose input is
    /// the program's (it needs no gradient) and whose output only the batch norm at this op
    /// index reads, a [`Role::BatchNormReluPool`]: that op computes it, forward and backward
    /// (its weights' gradients too); nothing to do here, and its output is never stored.
    StemConv(usize),
    /// The ReLU of a [`Role::BatchNormRelu`] or a [`Role::BatchNormReluPool`]: nothing left to
    /// do.
    Fused,
    /// A sum of two tensors.
    Sum {
        /// The operand whose buffer takes the sum's gradient in its backward while the other's
        /// maker, a convolution or an upsampling, reads the same buffer instead of a copy; `None`:
        /// each operand gets its own copy. Only for a sum whose operands only it reads. Their
        /// backward only reads its output's gradient, so the buffer holds the sum's gradient until
        /// it ran, provided the owner's maker is such an op too or runs its backward later (comes
        /// earlier in the program). Against the copy (both in one process, alternating, 2 cores of
        /// a Zen 4), for the residual blocks' sums: a 64×64 step 0.969× the time, 128×128 0.988×;
        /// with the hourglass levels' sums too (an upsampling shares), the sums' backward
        /// 0.43–0.54 against 0.81–1.43 ms a 64×64 step.
        owner: Option<Operand>,
        /// Whether the later operand's maker wrote the sum ([`Role::SumMaker`]): nothing is left
        /// to do forward.
        made: bool,
    },
    /// A 1×1 convolution or an upsampling whose output only the sum at this op index reads, and
    /// the later of that sum's two operands' makers: it writes the sum, adding the other operand
    /// to each value as it writes it (after its bias, so the sum is bit for bit the two ops'), and
    /// its own output is never stored. Saves the sum's pass over three tensors: the sums, their
    /// makers and the upsamplings forward 7.3–8.8 against 9.0–10.1 ms a 64×64 step (three
    /// alternating `bench --train --per-layer` runs, 2 cores of a Zen 4; the faster upsampling
    /// in both).
    SumMaker(usize),
}

/// One of a sum's two operands.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Operand {
    /// The first, `a`.
    A,
    /// The second, `b`.
    B,
}

impl Role {
    /// Whether the forward runs nothing for this op (an earlier op computed its output).
    pub(super) fn forward_done(self) -> bool {
        matches!(
            self,
            Role::Fused
                | Role::PooledBatchNorm { .. }
                | Role::StemConv(_)
                | Role::Sum { made: true, .. }
        )
    }
}

/// The [`Role`] of every op of `program`.
pub(super) fn roles(program: &Program) -> Vec<Role> {
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, op) in program.ops.iter().enumerate() {
        for t in op.inputs() {
            readers.entry(t).or_default().push(i);
        }
    }
    let mut roles = vec![Role::Plain; program.ops.len()];
    let producers: HashMap<&str, usize> = program
        .ops
        .iter()
        .enumerate()
        .map(|(k, op)| (op.output(), k))
        .collect();
    // Whether `t` is read by op `i` alone, and made by an op (its index).
    let only_for = |t: &str, i: usize| {
        producers
            .get(t)
            .copied()
            .filter(|_| readers.get(t).map(Vec::as_slice) == Some(&[i]) && t != program.output)
    };
    // Whether op `k`'s backward only reads its output's gradient, and keeps its buffer.
    let reads_gradient = |k: usize| matches!(program.ops[k], Op::Conv2d(_) | Op::Upsample { .. });
    for (i, op) in program.ops.iter().enumerate() {
        if let Op::Add { a, b, .. } = op
            && a != b
        {
            // `s`'s maker reads the buffer that `o` owns.
            let shares = |o: usize, s: usize| reads_gradient(s) && (reads_gradient(o) || o < s);
            let owner = match (only_for(a, i), only_for(b, i)) {
                (Some(ka), Some(kb)) if shares(ka, kb) => Some(Operand::A),
                (Some(ka), Some(kb)) if shares(kb, ka) => Some(Operand::B),
                _ => None,
            };
            // The later maker (an operand may be the program's input: no maker), if it can
            // add the other operand as it writes.
            let later = producers.get(a.as_str()).max(producers.get(b.as_str()));
            let maker = later
                .copied()
                .filter(|&k| only_for(program.ops[k].output(), i) == Some(k))
                .filter(|&k| match &program.ops[k] {
                    Op::Conv2d(c) => c.kernel == 1 && !c.relu,
                    Op::Upsample { .. } => true,
                    _ => false,
                });
            if let Some(k) = maker {
                roles[k] = Role::SumMaker(i);
            }
            roles[i] = Role::Sum {
                owner,
                made: maker.is_some(),
            };
        }
        let Op::BatchNorm(b) = op else { continue };
        let is_output = b.output == program.output;
        if let (false, Some(&[j])) = (is_output, readers.get(b.output.as_str()).map(Vec::as_slice))
            && matches!(program.ops[j], Op::Relu { .. })
        {
            roles[i] = Role::BatchNormRelu(j);
            roles[j] = Role::Fused;
            let relu_output = program.ops[j].output();
            if let (false, Some(&[k])) = (
                relu_output == program.output,
                readers.get(relu_output).map(Vec::as_slice),
            ) && matches!(
                program.ops[k],
                Op::MaxPool {
                    kernel: 2,
                    stride: 2,
                    ..
                }
            ) {
                // The stem's convolution before it, if it is of the fused stem's form.
                let conv = only_for(&b.input, i).filter(|&p| match &program.ops[p] {
                    Op::Conv2d(c) => {
                        stem_grad::runs(c.cin, c.kernel, c.stride, c.pad)
                            && !c.relu
                            && program.is_input(&c.input)
                    }
                    _ => false,
                });
                if let Some(p) = conv {
                    roles[p] = Role::StemConv(i);
                }
                roles[i] = Role::BatchNormReluPool { pool: k, conv };
                roles[k] = Role::PooledBatchNorm {
                    batch_norm: i,
                    conv,
                };
            }
        }
    }
    roles
}
