//! Every backward of the CPU backend against central finite differences: per op (input,
//! weights and bias), batch norm in training mode, dropout, and the whole training-form
//! network (every parameter tensor). The scalar checked is `L = Σ r·y` with random `r`,
//! summed in f64 so rounding stays far below the tolerance.

mod common;

use common::{conv_op, max_abs_diff, rng, uniform};
use hourhand::cpu::fast::winograd;
use hourhand::cpu::{
    batch_norm, concat, conv2d, dropout, linear, max_pool, patch, relu, train, upsample,
};
use hourhand::net::program::{Conv2d, Linear};
use hourhand::net::{NetConfig, Op, Program, Shape, Weights};
use rand::seq::SliceRandom;

const H: f32 = 1e-2;

fn dot(r: &[f32], y: &[f32]) -> f64 {
    r.iter().zip(y).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Checks `analytic` (∂L/∂x) against central differences of `f` at `x`, at every coordinate
/// (or every `stride`-th one).
fn check(what: &str, x: &[f32], analytic: &[f32], r: &[f32], f: impl Fn(&[f32]) -> Vec<f32>) {
    assert_eq!(x.len(), analytic.len(), "{what}: gradient size");
    let stride = (x.len() / 300).max(1);
    let mut checked = 0;
    for i in (0..x.len()).step_by(stride) {
        let mut xp = x.to_vec();
        xp[i] += H;
        let up = dot(r, &f(&xp));
        xp[i] -= 2.0 * H;
        let down = dot(r, &f(&xp));
        let fd = (up - down) / (2.0 * H as f64);
        let g = analytic[i] as f64;
        assert!(
            (fd - g).abs() <= 5e-3 + 1e-2 * g.abs(),
            "{what}[{i}]: analytic {g} vs finite difference {fd}"
        );
        checked += 1;
    }
    assert!(checked > 0);
    assert!(
        analytic.iter().any(|g| g.abs() > 1e-3),
        "{what}: degenerate test, the gradient is all zero"
    );
}

/// Distinct values on a 0.05 grid, shuffled: no two within 2·H of each other, none near 0,
/// so max pooling and ReLU have no kink inside a finite difference.
fn spread(n: usize, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    let mut v: Vec<f32> = (0..n)
        .map(|i| (i as f32 - n as f32 / 2.0 + 0.5) * 0.05)
        .collect();
    v.shuffle(&mut r);
    v
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    // (cin, cout, h, w, kernel, stride, pad, batch)
    for (cin, cout, h, w, k, stride, pad, batch) in [
        (2, 3, 5, 7, 3, 1, 1, 2),
        (3, 2, 6, 5, 1, 1, 0, 3),
        (2, 3, 7, 6, 3, 2, 0, 1),
        (1, 2, 5, 5, 5, 1, 2, 2),
        (3, 4, 5, 5, 1, 2, 0, 2),
        // Wide enough that the unfolded input is split into tiles of output rows (the last one
        // shorter), for the forward, the weight gradient and the input gradient.
        (64, 3, 7, 100, 3, 1, 1, 2),
        (40, 2, 30, 120, 3, 2, 0, 1),
    ] {
        let c = conv_op(cin, cout, k, stride, pad, false);
        let input = Shape::new(cin, h, w);
        let output = Shape::new(
            cout,
            (h + 2 * pad - k) / stride + 1,
            (w + 2 * pad - k) / stride + 1,
        );
        let mut g = rng(1 + cin as u64 * 7 + k as u64);
        let x = uniform(&mut g, batch * input.len(), -1.0, 1.0);
        let wt = uniform(&mut g, cout * cin * k * k, -0.5, 0.5);
        let b = uniform(&mut g, cout, -0.5, 0.5);
        let r = uniform(&mut g, batch * output.len(), -1.0, 1.0);
        let grads = conv2d::conv2d_backward(&x, &r, batch, input, output, &c, &wt, true);
        let what = format!("conv {cin}→{cout} {h}×{w} k{k} s{stride} p{pad}");
        check(&format!("{what} dx"), &x, &grads.dx, &r, |x| {
            conv2d::conv2d(x, batch, input, output, &c, &wt, &b)
        });
        check(&format!("{what} dw"), &wt, &grads.dw, &r, |wt| {
            conv2d::conv2d(&x, batch, input, output, &c, wt, &b)
        });
        check(&format!("{what} db"), &b, &grads.db, &r, |b| {
            conv2d::conv2d(&x, batch, input, output, &c, &wt, b)
        });
    }
}

#[test]
fn linear_backward_matches_finite_differences() {
    for (inputs, outputs, batch) in [(7, 5, 3), (13, 1, 2), (4, 9, 1)] {
        let l = Linear {
            name: "l".into(),
            input: "x".into(),
            output: "y".into(),
            inputs,
            outputs,
            relu: false,
        };
        let mut g = rng(inputs as u64);
        let x = uniform(&mut g, batch * inputs, -1.0, 1.0);
        let w = uniform(&mut g, outputs * inputs, -0.5, 0.5);
        let b = uniform(&mut g, outputs, -0.5, 0.5);
        let r = uniform(&mut g, batch * outputs, -1.0, 1.0);
        let (dx, dw, db) = linear::linear_backward(&x, &r, batch, &l, &w, true);
        let what = format!("linear {inputs}→{outputs} ×{batch}");
        check(&format!("{what} dx"), &x, &dx, &r, |x| {
            linear::linear(x, batch, &l, &w, &b)
        });
        check(&format!("{what} dw"), &w, &dw, &r, |w| {
            linear::linear(&x, batch, &l, w, &b)
        });
        check(&format!("{what} db"), &b, &db, &r, |b| {
            linear::linear(&x, batch, &l, &w, b)
        });
    }
}

#[test]
fn batch_norm_training_backward_matches_finite_differences() {
    for (shape, batch) in [(Shape::new(3, 4, 5), 2), (Shape::new(2, 1, 1), 5)] {
        let mut g = rng(shape.len() as u64);
        let x = uniform(&mut g, batch * shape.len(), -2.0, 3.0);
        let gamma = uniform(&mut g, shape.c, 0.5, 1.5);
        let beta = uniform(&mut g, shape.c, -0.5, 0.5);
        let r = uniform(&mut g, batch * shape.len(), -1.0, 1.0);
        let (_, stats) = batch_norm::batch_norm_train(&x, batch, shape, &gamma, &beta);
        let (dx, dgamma, dbeta) =
            batch_norm::batch_norm_backward(&x, &r, batch, shape, &gamma, &stats);
        let f = |x: &[f32], gamma: &[f32], beta: &[f32]| {
            batch_norm::batch_norm_train(x, batch, shape, gamma, beta).0
        };
        let what = format!("batch norm {shape} ×{batch}");
        check(&format!("{what} dx"), &x, &dx, &r, |x| f(x, &gamma, &beta));
        check(&format!("{what} dγ"), &gamma, &dgamma, &r, |gm| {
            f(&x, gm, &beta)
        });
        check(&format!("{what} dβ"), &beta, &dbeta, &r, |bt| {
            f(&x, &gamma, bt)
        });
    }
}

#[test]
fn batch_norm_normalizes_by_the_batch_and_tracks_running_statistics() {
    let shape = Shape::new(2, 3, 3);
    let x: Vec<f32> = (0..2 * shape.len()).map(|i| i as f32).collect();
    let (y, stats) = batch_norm::batch_norm_train(&x, 2, shape, &[1.0, 2.0], &[0.0, 0.5]);
    for c in 0..2 {
        let vals: Vec<f32> = (0..2)
            .flat_map(|n| y[(n * 2 + c) * 9..][..9].to_vec())
            .collect();
        let mean = vals.iter().sum::<f32>() / 18.0;
        let expected_mean = [0.0, 0.5][c];
        assert!(
            (mean - expected_mean).abs() < 1e-5,
            "channel {c}: mean {mean}"
        );
    }
    let (mut rm, mut rv) = (vec![0.0; 2], vec![1.0; 2]);
    batch_norm::update_running(&stats, 18, &mut rm, &mut rv);
    // Channel 0 holds 0..9 and 18..27: mean 13.
    assert!((rm[0] - 1.3).abs() < 1e-5, "{}", rm[0]);
    let unbiased = stats.var[0] * 18.0 / 17.0;
    assert!((rv[0] - (0.9 + 0.1 * unbiased)).abs() < 1e-4);
}

#[test]
fn cheap_op_backwards_match_finite_differences() {
    let (batch, input) = (2, Shape::new(3, 6, 7));
    let x = spread(batch * input.len(), 5);
    let mut g = rng(9);
    // ReLU, from its output.
    let r = uniform(&mut g, x.len(), -1.0, 1.0);
    let dx = relu::relu_backward(&hourhand::cpu::relu::relu(&x), &r);
    check("relu", &x, &dx, &r, hourhand::cpu::relu::relu);
    // Max pooling 2×2 stride 2 (the odd width drops a column) and 3×3 stride 2.
    for (k, s) in [(2, 2), (3, 2)] {
        let out = Shape::new(3, (6 - k) / s + 1, (7 - k) / s + 1);
        let r = uniform(&mut g, batch * out.len(), -1.0, 1.0);
        let dx = max_pool::max_pool_backward(&x, &r, batch, input, out, k, s);
        check(&format!("max pool {k}/{s}"), &x, &dx, &r, |x| {
            hourhand::cpu::max_pool::max_pool(x, batch, input, out, k, s)
        });
    }
    // Upsampling ×2 and ×3.
    for f in [2, 3] {
        let r = uniform(&mut g, batch * input.len() * f * f, -1.0, 1.0);
        let dx = upsample::upsample_backward(&r, batch, input, f);
        check(&format!("upsample ×{f}"), &x, &dx, &r, |x| {
            hourhand::cpu::upsample::upsample(x, batch, input, f)
        });
    }
    // A 3×4 patch at (2, 1).
    let r = uniform(&mut g, batch * 3 * 3 * 4, -1.0, 1.0);
    let dx = patch::patch_backward(&r, batch, input, 2, 1, 3, 4);
    check("patch", &x, &dx, &r, |x| {
        hourhand::cpu::patch::patch(x, batch, input, 2, 1, 3, 4)
    });
    // Concatenation of two parts.
    let (a, b) = (&x[..batch * 5], &x[batch * 5..batch * 12]);
    let r = uniform(&mut g, batch * 12, -1.0, 1.0);
    let parts = concat::concat_backward(&r, &[5, 7], batch);
    check("concat a", a, &parts[0], &r, |a| {
        hourhand::cpu::concat::concat(&[(a, 5), (b, 7)], batch)
    });
    check("concat b", b, &parts[1], &r, |b| {
        hourhand::cpu::concat::concat(&[(a, 5), (b, 7)], batch)
    });
    // Dropout: the same mask forward and backward.
    let r = uniform(&mut g, x.len(), -1.0, 1.0);
    let dx = dropout::dropout(&r, 77, 0.3);
    check("dropout", &x, &dx, &r, |x| dropout::dropout(x, 77, 0.3));
}

#[test]
fn dropout_drops_about_its_rate_and_keeps_the_mean() {
    let x = vec![1.0f32; 100_000];
    let y = dropout::dropout(&x, 12345, 0.3);
    let dropped = y.iter().filter(|v| **v == 0.0).count() as f64 / x.len() as f64;
    assert!((dropped - 0.3).abs() < 0.01, "dropped {dropped}");
    let mean = y.iter().map(|v| *v as f64).sum::<f64>() / x.len() as f64;
    assert!((mean - 1.0).abs() < 0.02, "mean {mean}");
    assert_ne!(
        y,
        dropout::dropout(&x, 12346, 0.3),
        "the key changes the mask"
    );
    assert_eq!(dropout::dropout(&x, 5, 0.0), x);
}

/// Training's convolutions run on the fast kernels (the register-blocked ones, or Winograd's
/// F(2×2, 3×3) where the CPU runs it: 3×3, 8 or more input channels, planes 8 or more wide):
/// two stacked 3×3 convolutions, so the first's weight gradient comes through the second's
/// input gradient, against the reference's GEMMs (checked above) on odd channel counts, planes
/// of 6×16 and 4×8, and a batch the threads split unevenly.
#[test]
fn training_convolutions_give_the_reference_gradients() {
    for (input, batch) in [(Shape::new(9, 6, 16), 3), (Shape::new(12, 4, 8), 5)] {
        let (cin, h, w) = (input.c, input.h, input.w);
        let op = |name: &str, from: &str, cin: usize, cout: usize| Conv2d {
            name: name.into(),
            input: from.into(),
            output: name.into(),
            ..conv_op(cin, cout, 3, 1, 1, false)
        };
        let (a, b) = (op("a", "x", cin, 11), op("b", "a", 11, 10));
        let ops = vec![Op::Conv2d(a.clone()), Op::Conv2d(b.clone())];
        let program = Program::new(vec![("x".into(), input)], ops, "b").unwrap();
        if input.c == 9 {
            assert_eq!(
                winograd::applies(input, 3, 1, 1),
                winograd::runs_here(),
                "the first shape goes through Winograd where the CPU runs it"
            );
        }
        let mut g = rng(5 + cin as u64);
        let params = common::random_params(&program, &mut g);
        let x = uniform(&mut g, batch * input.len(), -1.0, 1.0);
        let (mid, out) = (Shape::new(11, h, w), Shape::new(10, h, w));
        let r = uniform(&mut g, batch * out.len(), -1.0, 1.0);
        let dropout = hourhand::net::training::Dropout { rate: 0.0, seed: 0 };
        let tape = train::forward(&program, &params, &x, batch, dropout);
        let grads = train::backward(&program, &params, &tape, &r);

        let p = |name: &str| params[name].data.as_slice();
        let ya = conv2d::conv2d(&x, batch, input, mid, &a, p("a.weight"), p("a.bias"));
        let yb = conv2d::conv2d(&ya, batch, mid, out, &b, p("b.weight"), p("b.bias"));
        assert!(
            max_abs_diff(&tape.values["b"], &yb) < 1e-4,
            "{input:?}: forward"
        );
        let gb = conv2d::conv2d_backward(&ya, &r, batch, mid, out, &b, p("b.weight"), true);
        let ga = conv2d::conv2d_backward(&x, &gb.dx, batch, input, mid, &a, p("a.weight"), false);
        for (name, want) in [
            ("b.weight", &gb.dw),
            ("b.bias", &gb.db),
            ("a.weight", &ga.dw),
            ("a.bias", &ga.db),
        ] {
            let tolerance = 1e-4 * want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
            let diff = max_abs_diff(&grads[name], want);
            assert!(diff < tolerance, "{input:?}: {name} off by {diff}");
        }
    }
}

/// The whole tiny network in training form (batch norm on batch statistics, dropout with a
/// fixed mask): every parameter tensor's gradient at a few entries.
#[test]
fn network_backward_matches_finite_differences() {
    let config = NetConfig::tiny();
    let program = Program::lrhn(&config).unwrap();
    let mut weights = Weights::init(&config, 3).unwrap();
    weights.perturb_batch_norm(4);
    let params = weights.tensors;
    let batch = 3;
    let mut g = rng(11);
    let s = config.input_size as usize;
    let input = uniform(&mut g, batch * s * s, -1.0, 1.0);
    let outputs = program.output_shape().len();
    let r = uniform(&mut g, batch * outputs, -1.0, 1.0);
    let dropout = hourhand::net::training::Dropout {
        rate: 0.25,
        seed: 99,
    };
    let tape = train::forward(&program, &params, &input, batch, dropout);
    let grads = train::backward(&program, &params, &tape, &r);
    let loss = |params: &hourhand::net::Params| {
        let t = train::forward(&program, params, &input, batch, dropout);
        dot(&r, &t.values[&program.output])
    };
    let mut checked = 0;
    for (name, t) in &params {
        if name.contains("running_") {
            assert!(!grads.contains_key(name), "{name} is not trained");
            continue;
        }
        let grad = &grads[name];
        assert_eq!(grad.len(), t.len(), "{name}");
        // Small enough that no ReLU or pooling choice flips inside the difference (1e-3
        // already crosses kinks in the early layers, whose weights touch every pixel).
        let h = 3e-4f64;
        for i in [0, t.len() / 2, t.len() - 1] {
            let mut p = params.clone();
            p.get_mut(name).unwrap().data[i] += h as f32;
            let up = loss(&p);
            p.get_mut(name).unwrap().data[i] -= 2.0 * h as f32;
            let down = loss(&p);
            let fd = (up - down) / (2.0 * h);
            let a = grad[i] as f64;
            assert!(
                (fd - a).abs() <= 2e-2 + 2e-2 * a.abs(),
                "{name}[{i}]: analytic {a} vs finite difference {fd}"
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked} entries checked");
}

/// The training workspace runs each batch norm that only feeds a ReLU as one fused pass,
/// forward and backward (the ReLU's backward recomputed from the batch norm's input), and with
/// the 2×2 pooling that alone reads that ReLU (the stem's and the head's) as one op, the stem's
/// convolution too; the plain forward and backward, op by op with a full tape, is what the
/// finite differences above check. The two must give the same gradients over several steps of
/// one workspace: the fused ops' own tests hold them to the ops apart bit for bit, but the
/// fused stem recomputes its convolution on a kernel of its own (the taps summed in another
/// order than the reference's GEMM), so every gradient differs in its last bits, here within
/// 2e-5 of each tensor's largest; the bound is 1e-4 of it, and 1e-5 for the biases before a
/// batch norm (their gradients are zero but for rounding, near 1e-6).
#[test]
fn fused_batch_norm_relu_backward_equals_the_plain_one() {
    let config = NetConfig::tiny();
    let program = Program::lrhn(&config).unwrap();
    let mut weights = Weights::init(&config, 8).unwrap();
    weights.perturb_batch_norm(5);
    let params = weights.tensors;
    let s = config.input_size as usize;
    let outputs = program.output_shape().len();
    let mut workspace = train::Workspace::new();
    for (step, batch) in [(0u32, 3usize), (1, 2)] {
        let mut g = rng(20 + step as u64);
        let input = uniform(&mut g, batch * s * s, -1.0, 1.0);
        let r = uniform(&mut g, batch * outputs, -1.0, 1.0);
        let dropout = hourhand::net::training::Dropout {
            rate: 0.25,
            seed: 7 + step,
        };
        workspace.forward(&program, &params, &input, batch, dropout);
        let fused = workspace.backward(&program, &params, &r).clone();
        // The plain forward and backward (a ReLU's from its output, a pooling's from its
        // input).
        let tape = train::forward(&program, &params, &input, batch, dropout);
        let want = &train::backward(&program, &params, &tape, &r);
        assert_eq!(fused.len(), want.len());
        for (name, g) in want {
            let scale = g.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let diff = max_abs_diff(&fused[name], g);
            assert!(
                diff <= 1e-4 * scale + 1e-5,
                "step {step}: gradient of {name} off by {diff} (largest {scale})"
            );
        }
        // The stem's convolution is fused with its batch norm, ReLU and pooling: its output is
        // never stored.
        let Some(hourhand::net::Op::Conv2d(stem)) = program.ops.first() else {
            panic!("the program starts with the stem's convolution")
        };
        assert!(
            !workspace.tape().values.contains_key(&stem.output),
            "the stem's convolution is fused"
        );
        let skipped = program.ops.iter().filter(|op| {
            matches!(op, hourhand::net::Op::BatchNorm(b) if !workspace.tape().values.contains_key(&b.output))
        });
        assert!(skipped.count() > 5, "the pairs are fused");
        let pooled = program.ops.iter().filter(|op| {
            matches!(op, hourhand::net::Op::MaxPool { input, .. } if !workspace.tape().values.contains_key(input))
        });
        assert_eq!(
            pooled.count(),
            2,
            "the stem's and the head's poolings are fused"
        );
        // Every sum is written by its later operand's maker (a residual block's last 1×1
        // convolution or its skip's, a level's upsampling), whose own output is never stored.
        let values = &workspace.tape().values;
        let sums = program
            .ops
            .iter()
            .filter(|op| matches!(op, hourhand::net::Op::Add { .. }));
        for op in sums {
            let hourhand::net::Op::Add { a, b, output, .. } = op else {
                unreachable!()
            };
            assert!(values.contains_key(output), "{output} is on the tape");
            assert!(
                values.contains_key(a) != values.contains_key(b),
                "{output}: one operand made in the sum's pass"
            );
        }
    }
}
