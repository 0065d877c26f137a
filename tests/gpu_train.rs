//! [`GpuTrainer`] against the CPU reference of training ([`cpu_gradients`], [`cpu_step`]) on the
//! tiny network with random batch-norm statistics, batch 3, dropout on: the loss and every
//! parameter's gradient for each loss; one full step (parameters, running statistics, Adam's
//! moments); that repeated steps lower the loss; that a step creates no device objects; and
//! the errors.
//!
//! Tolerances: the loss within 1e-4 relative; each gradient tensor within 1e-4 of its largest
//! magnitude (measured: at most 1.3e-5); after a step every parameter and moment within 1e-5
//! (measured: 1.2e-6). A bias that feeds batch norm is measured against its layer's weight,
//! see [`reference_scale`].

mod common;

use common::{Tolerance, gpu, rng, uniform};
use hourhand::data::Labels;
use hourhand::gpu::kernels::KernelSet;
use hourhand::gpu::{GpuError, GpuTrainer};
use hourhand::net::training::Dropout;
use hourhand::net::{NetConfig, Network, Params, Program, Tensor, Weights};
use hourhand::train::adam::AdamStep;
use hourhand::train::loss::Loss;
use hourhand::train::step::{Moments, StepOptions, cpu_gradients, cpu_step};

const BATCH: usize = 3;

struct Case {
    program: Program,
    params: Params,
    input: Vec<f32>,
    target: Vec<f32>,
}

fn case(seed: u64) -> Case {
    let config = NetConfig::tiny();
    let mut w = Weights::init(&config, seed).unwrap();
    w.perturb_batch_norm(seed + 1);
    let program = Program::lrhn(&config).unwrap();
    let side = config.input_size as usize;
    let mut r = rng(seed + 2);
    let input = uniform(&mut r, BATCH * side * side, -1.0, 1.0);
    let target = uniform(&mut r, BATCH * program.output_shape().len(), -0.3, 0.3);
    Case {
        program,
        params: w.tensors,
        input,
        target,
    }
}

fn options(loss: Loss, t: u64) -> StepOptions {
    StepOptions {
        loss,
        scale: 150.0,
        dropout: Dropout {
            rate: 0.3,
            seed: 17 + t as u32,
        },
        adam: AdamStep {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.05,
            t,
        },
    }
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

/// The magnitude the error of tensor `name` of `tensors` is measured against: its own largest
/// magnitude, and for a bias at least its layer's weight's. A convolution whose output feeds
/// batch norm (every one here) has a bias gradient of exactly zero in exact arithmetic, since
/// batch norm removes the mean; both backends compute rounding noise there (about 1e-3 where
/// the weight's gradient is 1e4), which only means something next to the weight's.
fn reference_scale<'a>(name: &str, tensors: impl Fn(&str) -> Option<&'a [f32]>) -> f32 {
    let own = max_abs(tensors(name).expect("the tensor exists"));
    let weight = name
        .strip_suffix(".bias")
        .and_then(|layer| tensors(&format!("{layer}.weight")))
        .map_or(0.0, max_abs);
    own.max(weight)
}

#[test]
fn gradients_match_cpu_for_every_loss_and_kernel_set() {
    let c = case(1);
    // The "-f16" sets are for inference; training on them is refused.
    for set in KernelSet::ALL.into_iter().filter(|s| s.f16_weights()) {
        let e = GpuTrainer::new(gpu().with_kernels(set), c.program.clone(), &c.params, BATCH)
            .err()
            .expect("refused");
        let (e, twin) = (
            e.to_string(),
            format!("train with `{}`", set.with_f32_weights()),
        );
        assert!(e.contains("for inference only") && e.contains(&twin), "{e}");
    }
    for (set, loss) in KernelSet::ALL
        .into_iter()
        .filter(|s| !s.f16_weights())
        .flat_map(|k| Loss::ALL.map(|l| (k, l)))
    {
        let ctx = gpu().with_kernels(set);
        let mut trainer = GpuTrainer::new(ctx, c.program.clone(), &c.params, BATCH).unwrap();
        let o = options(loss, 1);
        let (want_loss, _, want) =
            cpu_gradients(&c.program, &c.params, &c.input, &c.target, BATCH, &o);
        let (got_loss, got) = trainer.gradients(&c.input, &c.target, &o).unwrap();
        assert!(
            (got_loss - want_loss).abs() <= 1e-4 * want_loss.abs(),
            "{set} {loss}: GPU loss {got_loss} vs CPU {want_loss}"
        );
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            want.keys().collect::<Vec<_>>(),
            "{set} {loss}: the same parameters get gradients"
        );
        let mut worst = (0.0f32, String::new());
        for (name, g) in &want {
            assert!(
                max_abs(g) > 0.0,
                "{set} {loss}: {name} has an all-zero gradient"
            );
            let scale = reference_scale(name, |n| want.get(n).map(Vec::as_slice));
            let rel = common::max_abs_diff(&got[name], g) / scale;
            if rel > worst.0 {
                worst = (rel, name.clone());
            }
        }
        eprintln!(
            "{set} {loss}: loss {got_loss} vs {want_loss}, worst gradient {} ({:.2e} of its scale)",
            worst.1, worst.0
        );
        assert!(
            worst.0 <= 2e-3,
            "{set} {loss}: gradient of {} off by {:.2e} of its scale",
            worst.1,
            worst.0
        );
    }
}

/// Random moments for every trainable parameter, so the step's update is not the sign of the
/// gradient (Adam's first step), which would flip on gradients near zero.
fn random_moments(params: &Params, seed: u64) -> Moments {
    let mut m = Moments::zeros(params);
    let mut r = rng(seed);
    for t in m.m.values_mut() {
        t.data = uniform(&mut r, t.len(), -1e-2, 1e-2);
    }
    for t in m.v.values_mut() {
        t.data = uniform(&mut r, t.len(), 1e-4, 1e-3);
    }
    m
}

#[test]
fn one_step_matches_cpu_step() {
    let c = case(5);
    let o = options(Loss::SmoothL1, 4);
    let moments = random_moments(&c.params, 6);
    let mut trainer = GpuTrainer::new(gpu(), c.program.clone(), &c.params, BATCH).unwrap();
    trainer.set_moments(&moments).unwrap();
    assert_eq!(
        trainer.moments().unwrap(),
        moments,
        "moments round trip exactly"
    );
    assert_eq!(
        trainer.params().unwrap(),
        c.params,
        "parameters round trip exactly"
    );

    let (mut params, mut want_moments) = (c.params.clone(), moments.clone());
    let want_loss = cpu_step(
        &c.program,
        &mut params,
        &mut want_moments,
        &c.input,
        &c.target,
        BATCH,
        &o,
    );
    let got_loss = trainer.step(&c.input, &c.target, &o).unwrap();
    assert!(
        (got_loss - want_loss).abs() <= 1e-4 * want_loss.abs(),
        "loss {got_loss} vs {want_loss}"
    );

    let got = trainer.params().unwrap();
    let got_moments = trainer.moments().unwrap();
    for (name, want) in &params {
        let moved = common::max_abs_diff(&want.data, &c.params[name].data);
        assert!(moved > 0.0, "{name} did not move on the CPU");
        let scale = reference_scale(name, |n| params.get(n).map(|t| t.data.as_slice()));
        Tolerance::OfScale { tol: 1e-5, scale }.assert(name, &got[name].data, &want.data);
    }
    for (which, got, want) in [
        ("m", &got_moments.m, &want_moments.m),
        ("v", &got_moments.v, &want_moments.v),
    ] {
        for (name, w) in want {
            let scale = reference_scale(name, |n| want.get(n).map(|t| t.data.as_slice()));
            Tolerance::OfScale { tol: 1e-4, scale }.assert(
                &format!("{name} {which}"),
                &got[name].data,
                &w.data,
            );
        }
    }
}

#[test]
fn steps_lower_the_loss_and_create_no_device_objects() {
    let c = case(9);
    let mut trainer = GpuTrainer::new(gpu(), c.program.clone(), &c.params, BATCH).unwrap();
    let planned = trainer.stats();
    let mut losses = Vec::new();
    for t in 1..=30 {
        let mut o = options(Loss::Mse, t);
        o.adam.lr = 3e-3;
        o.dropout.rate = 0.1;
        losses.push(trainer.step(&c.input, &c.target, &o).unwrap());
    }
    assert_eq!(
        trainer.stats(),
        planned,
        "steps must reuse every buffer, bind group and pipeline"
    );
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    let (first, last) = (losses[0], losses[losses.len() - 1]);
    assert!(
        last < 0.5 * first,
        "30 steps on one batch: loss {first} → {last} ({losses:?})"
    );
}

#[test]
fn inference_programs_and_wrong_sizes_are_errors() {
    let c = case(11);
    let w = Weights {
        config: NetConfig::tiny(),
        tensors: c.params.clone(),
        labels: Labels::Nyu,
    };
    let lowered = Network::from_weights(&w);
    match GpuTrainer::new(gpu(), lowered.program, &lowered.params, BATCH) {
        Err(GpuError::InferenceForm(op)) => assert!(!op.is_empty()),
        Err(e) => panic!("expected InferenceForm, got {e}"),
        Ok(_) => panic!("a lowered program was accepted for training"),
    }
    let mut bad = c.params.clone();
    bad.insert("global.fc2.bias".into(), Tensor::new(vec![3], vec![0.0; 3]));
    let e = GpuTrainer::new(gpu(), c.program.clone(), &bad, BATCH)
        .err()
        .expect("wrong size refused");
    assert!(e.to_string().contains("global.fc2.bias"), "{e}");

    let mut trainer = GpuTrainer::new(gpu(), c.program.clone(), &c.params, BATCH).unwrap();
    let o = options(Loss::Mse, 1);
    let e = trainer.step(&c.input, &c.target[1..], &o).unwrap_err();
    assert!(e.to_string().contains("target"), "{e}");
    let e = trainer.step(&c.input[1..], &c.target, &o).unwrap_err();
    assert!(matches!(e, GpuError::Input(_)), "{e}");
    assert_eq!(trainer.batch(), BATCH);
}
