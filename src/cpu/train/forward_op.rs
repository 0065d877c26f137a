//! One op of the training-mode forward ([`forward_op`]), its output written into the tape,
//! as [`Role`] says to run it (fused with the ops after it, or before it for the stem); and
//! what it and the backward read their parameters and buffers with.

use std::collections::HashMap;

use super::Tape;
use super::roles::Role;
use crate::cpu::batch_norm;
use crate::cpu::conv2d;
use crate::cpu::fast::conv::{batched, sample};
use crate::cpu::{concat, dropout, elementwise, linear, max_pool, patch, relu, upsample};
use crate::net::program::Conv2d;
use crate::net::{Op, Params, Program};

/// The parameters and geometry of a convolution run as [`Role::StemConv`].
pub(super) fn stem_conv<'a>(params: &'a Params, c: &Conv2d) -> batch_norm::StemConv<'a> {
    batch_norm::StemConv {
        kernel: c.kernel,
        pad: c.pad,
        weight: param(params, &c.name, "weight"),
        bias: param(params, &c.name, "bias"),
    }
}

pub(super) fn param<'a>(params: &'a Params, name: &str, suffix: &str) -> &'a [f32] {
    let key = format!("{name}.{suffix}");
    &params
        .get(&key)
        .unwrap_or_else(|| panic!("training needs parameter `{key}`"))
        .data
}

/// A buffer of `len` values for `tensor`'s output, reused from the last step when there is
/// one (its contents are overwritten by the op).
pub(super) fn take(values: &mut HashMap<String, Vec<f32>>, tensor: &str, len: usize) -> Vec<f32> {
    let mut y = values.remove(tensor).unwrap_or_default();
    y.resize(len, 0.0);
    y
}

/// One op of the training-mode forward, its output written into the tape.
pub(super) fn forward_op(
    tape: &mut Tape,
    program: &Program,
    params: &Params,
    op: (&Op, Role),
    ordinal: u32,
) {
    let (op, role) = op;
    let batch = tape.batch;
    // A fused batch norm writes its ReLU's output, or its pooling's; a sum's maker the sum.
    let output = match role {
        Role::BatchNormRelu(j) | Role::BatchNormReluPool { pool: j, .. } | Role::SumMaker(j) => {
            program.ops[j].output()
        }
        _ => op.output(),
    };
    let out_shape = program.shape(output);
    let mut y = take(&mut tape.values, output, batch * out_shape.len());
    let values = &tape.values;
    // A fused stem reads its convolution's input.
    let input = match role {
        Role::BatchNormReluPool { conv: Some(p), .. } => program.ops[p].inputs()[0],
        _ => op.inputs()[0],
    };
    let x = &values[input];
    let in_shape = program.shape(input);
    // What a sum's maker adds: the sum's other operand.
    let sum = match (role, &program.ops) {
        (Role::SumMaker(j), ops) => match &ops[j] {
            Op::Add { a, b, .. } => Some(values[if a == op.output() { b } else { a }].as_slice()),
            other => unreachable!("a sum's maker points at {}", other.name()),
        },
        _ => None,
    };
    match op {
        Op::Conv2d(c) if batched::preferred_forward(c, out_shape) => batched::forward(
            x,
            batch,
            in_shape,
            out_shape,
            c,
            param(params, &c.name, "weight"),
            param(params, &c.name, "bias"),
            sum,
            &mut y,
        ),
        // The blocked kernel adds no sum (no 1×1 convolution runs on it); the 3×3 ones on planes
        // 8 or more wide run as Winograd's F(2×2, 3×3) where the CPU has AVX-512
        // (`sample::prepare_forward`), their input gradient likewise.
        Op::Conv2d(c)
            if sum.is_none() && sample::preferred(c.kernel, c.stride, c.pad, in_shape) =>
        {
            let w = param(params, &c.name, "weight");
            let prepared = sample::prepare_forward(w, c.cout, c.cin, (c.kernel, c.pad), in_shape);
            sample::forward(
                &prepared,
                (c.kernel, c.pad),
                Some(param(params, &c.name, "bias")),
                c.relu,
                x,
                batch,
                (in_shape, out_shape),
                &mut y,
            )
        }
        Op::Conv2d(c) => conv2d::conv2d_into(
            x,
            batch,
            in_shape,
            out_shape,
            c,
            param(params, &c.name, "weight"),
            param(params, &c.name, "bias"),
            sum,
            &mut y,
        ),
        Op::Linear(l) => linear::linear_into(
            x,
            batch,
            l,
            param(params, &l.name, "weight"),
            param(params, &l.name, "bias"),
            &mut y,
        ),
        Op::BatchNorm(b) if let Role::BatchNormReluPool { conv: Some(p), .. } = role => {
            // The stem's convolution too, from its input.
            let Op::Conv2d(c) = &program.ops[p] else {
                unreachable!("roles() fuses convolutions only")
            };
            let stats = batch_norm::conv_batch_norm_relu_pool_into(
                x,
                batch,
                in_shape,
                stem_conv(params, c),
                (
                    param(params, &b.name, "weight"),
                    param(params, &b.name, "bias"),
                ),
                &mut y,
            );
            tape.stats.insert(b.name.clone(), stats);
        }
        Op::BatchNorm(b) if matches!(role, Role::BatchNormReluPool { .. }) => {
            let stats = batch_norm::batch_norm_relu_pool_into(
                x,
                batch,
                in_shape,
                (
                    param(params, &b.name, "weight"),
                    param(params, &b.name, "bias"),
                ),
                &mut y,
            );
            tape.stats.insert(b.name.clone(), stats);
        }
        Op::BatchNorm(b) => {
            let stats = batch_norm::batch_norm_train_into(
                x,
                batch,
                in_shape,
                (
                    param(params, &b.name, "weight"),
                    param(params, &b.name, "bias"),
                ),
                matches!(role, Role::BatchNormRelu(_)),
                &mut y,
            );
            tape.stats.insert(b.name.clone(), stats);
        }
        Op::Affine(a) => y.copy_from_slice(&elementwise::affine(
            x,
            in_shape,
            param(params, &a.name, "scale"),
            param(params, &a.name, "shift"),
            a.relu,
        )),
        Op::Relu { .. } => relu::relu_into(x, &mut y),
        Op::Dropout { .. } => {
            if tape.dropout.rate > 0.0 {
                dropout::dropout_into(x, tape.dropout.key(ordinal), tape.dropout.rate, &mut y)
            } else {
                y.copy_from_slice(x)
            }
        }
        Op::MaxPool { kernel, stride, .. } => {
            max_pool::max_pool_into(x, in_shape, out_shape, *kernel, *stride, &mut y)
        }
        Op::Upsample { factor, .. } => upsample::upsample_into(x, in_shape, *factor, sum, &mut y),
        Op::Add { b, .. } => elementwise::add_into(x, &values[b], &mut y),
        Op::Patch {
            y: y0, x: x0, h, w, ..
        } => patch::patch_into(x, in_shape, (*y0, *x0, *h, *w), &mut y),
        Op::Concat { inputs, .. } => {
            let parts: Vec<(&[f32], usize)> = inputs
                .iter()
                .map(|t| (values[t].as_slice(), program.shape(t).len()))
                .collect();
            concat::concat_into(&parts, &mut y)
        }
    }
    tape.values.insert(output.to_string(), y);
}
