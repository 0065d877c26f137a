//! The loss and optimizer kernels against their CPU references ([`Loss::value_and_grad`],
//! [`adam_update`]): per-sample losses whose mean is the batch loss and the gradient within
//! 1e-5 of the reference's largest magnitude; AdamW's parameters and moments within 1e-6 (one
//! rounding of a square root apart), with and without weight decay.

mod common;

use std::collections::BTreeMap;

use common::{Tolerance, gpu, rng, uniform};
use hourhand::gpu::kernels::{Dispatch, Slot, adam, loss};
use hourhand::gpu::runner::run_dispatches;
use hourhand::train::adam::{AdamStep, adam_update};
use hourhand::train::loss::Loss;

fn run(dispatches: &[Dispatch], buffers: Vec<(Slot, Vec<f32>)>, read: &[Slot]) -> Vec<Vec<f32>> {
    let buffers: BTreeMap<Slot, Vec<f32>> = buffers.into_iter().collect();
    let out = run_dispatches(&gpu(), dispatches, &buffers, read).unwrap();
    read.iter().map(|s| out[s].clone()).collect()
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
            Tolerance::OfLargest(1e-5).assert(&format!("{what} gradient"), &got[1], &grad);
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
        Tolerance::OfLargest(1e-6).assert(&format!("{what} p"), &got[0], &want_p);
        Tolerance::OfLargest(1e-6).assert(&format!("{what} m"), &got[1], &want_m);
        Tolerance::OfLargest(1e-6).assert(&format!("{what} v"), &got[2], &want_v);
        assert!(got[0] != p, "{what}: the parameters moved");
    }
}
