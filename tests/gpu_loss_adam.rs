//! The loss and optimizer kernels against their CPU references ([`Loss::value_and_grad`],
//! [`adam_update`]): per-sample losses whose mean is the batch loss and the gradient within
//! 1e-5 of the reference's largest magnitude; AdamW's parameters and moments within 1e-6 (one
//! rounding of a square root apart), with and without weight decay. Also the temporary plain
//! convolution and fully connected backward kernels against the CPU's SGEMM backward (1e-4).

mod common;

use std::collections::BTreeMap;

use common::{gpu, rng, uniform};
use hourhand::cpu::{conv, linear};
use hourhand::gpu::kernels::{Dispatch, Slot, adam, loss, naive_grad};
use hourhand::gpu::runner::run_dispatches;
use hourhand::net::Shape;
use hourhand::net::program::{Conv2d, Linear};
use hourhand::train::adam::{AdamStep, adam_update};
use hourhand::train::loss::Loss;

fn run(dispatches: &[Dispatch], buffers: Vec<(Slot, Vec<f32>)>, read: &[Slot]) -> Vec<Vec<f32>> {
    let buffers: BTreeMap<Slot, Vec<f32>> = buffers.into_iter().collect();
    let out = run_dispatches(&gpu(), dispatches, &buffers, read).unwrap();
    read.iter().map(|s| out[s].clone()).collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 0.0,
        "{what}: degenerate test, the reference is all zeros"
    );
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tol * scale,
            "{what}[{i}]: GPU {a} vs CPU {b} (scale {scale})"
        );
    }
}

#[test]
fn losses_match_cpu() {
    let out = || Slot::Tensor("out".into());
    // (batch, dims, scale): 105 outputs as in the network, odd sizes, both sides of the knee.
    for (batch, dims, scale) in [(3usize, 105usize, 150.0f32), (5, 7, 1.0), (1, 1, 10.0)] {
        let mut r = rng(dims as u64);
        let pred = uniform(&mut r, batch * dims, -0.2, 0.2);
        let target = uniform(&mut r, batch * dims, -0.2, 0.2);
        for kind in Loss::ALL {
            let (value, grad) = kind.value_and_grad(&pred, &target, batch, scale);
            let got = run(
                &[loss::dispatch(kind, scale, batch, dims, "out")],
                vec![
                    (out(), pred.clone()),
                    (loss::target(), target.clone()),
                    (loss::per_sample(), vec![0.0; batch]),
                    (Slot::Grad("out".into()), vec![7.0; batch * dims]),
                ],
                &[loss::per_sample(), Slot::Grad("out".into())],
            );
            let mean = got[0].iter().map(|v| *v as f64).sum::<f64>() / batch as f64;
            let what = format!("{kind} batch {batch} dims {dims}");
            assert!(
                (mean - value as f64).abs() <= 1e-5 * (value as f64).abs(),
                "{what}: GPU {mean} vs CPU {value}"
            );
            assert_close(&format!("{what} gradient"), &got[1], &grad, 1e-5);
            if kind == Loss::MaxOut {
                let nonzero = got[1].iter().filter(|g| **g != 0.0).count();
                assert_eq!(nonzero, batch, "{what}: one coordinate per sample");
            }
        }
    }
}

#[test]
fn adam_matches_cpu() {
    for (len, weight_decay, t) in [(1usize, 0.0f32, 1u64), (1000, 0.01, 7), (333, 0.5, 120)] {
        let mut r = rng(len as u64 + t);
        let p = uniform(&mut r, len, -1.0, 1.0);
        let grad = uniform(&mut r, len, -0.1, 0.1);
        let m = uniform(&mut r, len, -0.01, 0.01);
        let v = uniform(&mut r, len, 0.0, 1e-3);
        let step = AdamStep {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
            t,
        };
        let (mut want_p, mut want_m, mut want_v) = (p.clone(), m.clone(), v.clone());
        adam_update(&mut want_p, &grad, &mut want_m, &mut want_v, &step);
        let got = run(
            &[adam::dispatch("w", len, &step)],
            vec![
                (Slot::Param("w".into()), p.clone()),
                (Slot::ParamGrad("w".into()), grad),
                (adam::first_moment("w"), m),
                (adam::second_moment("w"), v),
            ],
            &[
                Slot::Param("w".into()),
                adam::first_moment("w"),
                adam::second_moment("w"),
            ],
        );
        let what = format!("adam len {len} decay {weight_decay} t {t}");
        assert_close(&format!("{what} p"), &got[0], &want_p, 1e-6);
        assert_close(&format!("{what} m"), &got[1], &want_m, 1e-6);
        assert_close(&format!("{what} v"), &got[2], &want_v, 1e-6);
        assert!(got[0] != p, "{what}: the parameters moved");
    }
}

// TEMPORARY: goes with src/gpu/kernels/naive_grad.rs.
#[test]
fn naive_conv_and_linear_backward_match_cpu() {
    let t = |n: &str| Slot::Tensor(n.into());
    let g = |n: &str| Slot::Grad(n.into());
    let p = |n: &str| Slot::Param(n.into());
    let pg = |n: &str| Slot::ParamGrad(n.into());
    for (cin, cout, h, w, k, stride, pad, batch) in [
        (3, 5, 7, 9, 3, 1, 1, 2),
        (2, 3, 8, 7, 3, 2, 0, 3),
        (4, 6, 5, 5, 1, 1, 0, 1),
    ] {
        let c = Conv2d {
            name: "c".into(),
            input: "x".into(),
            output: "y".into(),
            cin,
            cout,
            kernel: k,
            stride,
            pad,
            relu: false,
        };
        let (i, o) = (
            Shape::new(cin, h, w),
            Shape::new(
                cout,
                (h + 2 * pad - k) / stride + 1,
                (w + 2 * pad - k) / stride + 1,
            ),
        );
        let mut r = rng(cin as u64 * 31 + k as u64);
        let x = uniform(&mut r, batch * i.len(), -1.0, 1.0);
        let dy = uniform(&mut r, batch * o.len(), -1.0, 1.0);
        let wt = uniform(&mut r, cout * cin * k * k, -0.5, 0.5);
        let want = conv::conv2d_backward(&x, &dy, batch, i, o, &c, &wt, true);
        let mut ds = naive_grad::conv_dx(&c, i, o, batch, false);
        ds.extend(naive_grad::conv_dw(&c, i, o, batch));
        let got = run(
            &ds,
            vec![
                (t("x"), x),
                (g("y"), dy),
                (g("x"), vec![0.0; batch * i.len()]),
                (p("c.weight"), wt),
                (pg("c.weight"), vec![0.0; cout * cin * k * k]),
                (pg("c.bias"), vec![0.0; cout]),
            ],
            &[g("x"), pg("c.weight"), pg("c.bias")],
        );
        assert_close("conv dx", &got[0], &want.dx, 1e-4);
        assert_close("conv dw", &got[1], &want.dw, 1e-4);
        assert_close("conv db", &got[2], &want.db, 1e-4);
    }
    let l = Linear {
        name: "l".into(),
        input: "x".into(),
        output: "y".into(),
        inputs: 37,
        outputs: 13,
        relu: false,
    };
    let batch = 3;
    let mut r = rng(99);
    let x = uniform(&mut r, batch * 37, -1.0, 1.0);
    let dy = uniform(&mut r, batch * 13, -1.0, 1.0);
    let wt = uniform(&mut r, 13 * 37, -0.5, 0.5);
    let (dx, dw, db) = linear::linear_backward(&x, &dy, batch, &l, &wt, true);
    let mut ds = naive_grad::linear_dx(&l, batch, false);
    ds.extend(naive_grad::linear_dw(&l, batch));
    let got = run(
        &ds,
        vec![
            (t("x"), x),
            (g("y"), dy),
            (g("x"), vec![0.0; batch * 37]),
            (p("l.weight"), wt),
            (pg("l.weight"), vec![0.0; 13 * 37]),
            (pg("l.bias"), vec![0.0; 13]),
        ],
        &[g("x"), pg("l.weight"), pg("l.bias")],
    );
    assert_close("linear dx", &got[0], &dx, 1e-4);
    assert_close("linear dw", &got[1], &dw, 1e-4);
    assert_close("linear db", &got[2], &db, 1e-4);
}
