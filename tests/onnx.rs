//! The ONNX export, loaded back by another runtime (tract) and run: its outputs must match the
//! CPU reference within 1e-4 at several batch sizes through the one exported file.

mod common;

use common::{max_abs_diff, rng, uniform};
use hourhand::cpu::CpuNet;
use hourhand::net::{NetConfig, Network, Weights};
use tract_onnx::prelude::*;

fn network(config: &NetConfig, seed: u64) -> Network {
    let mut w = Weights::init(config, seed).unwrap();
    w.perturb_batch_norm(seed + 100);
    Network::from_weights(&w)
}

/// Runs the exported model through tract at `batch` and returns its output.
fn run_onnx(bytes: &[u8], side: usize, batch: usize, x: &[f32]) -> Vec<f32> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the export")
        .with_input_fact(0, f32::fact([batch, 1, side, side]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = tract_ndarray::Array4::from_shape_vec((batch, 1, side, side), x.to_vec()).unwrap();
    let out = model.run(tvec!(Tensor::from(input).into())).unwrap();
    let view = out[0].to_plain_array_view::<f32>().unwrap();
    assert_eq!(view.shape()[0], batch);
    view.iter().copied().collect()
}

fn check(config: &NetConfig, seed: u64, batches: &[usize]) {
    let net = network(config, seed);
    let bytes = hourhand::onnx::export(&net).unwrap();
    let side = config.input_size as usize;
    let reference = CpuNet::from_network(&net);
    for &batch in batches {
        let x = uniform(
            &mut rng(seed + batch as u64),
            batch * side * side,
            -1.0,
            1.0,
        );
        let want = reference.forward(&[&x], batch).unwrap();
        let got = run_onnx(&bytes, side, batch, &x);
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 1e-2, "degenerate outputs");
        let diff = max_abs_diff(&want, &got);
        assert!(
            diff <= 1e-4 * scale.max(1.0),
            "batch {batch}: ONNX vs hourhand max abs difference {diff} (outputs up to {scale})"
        );
    }
}

#[test]
fn exported_tiny_network_runs_in_tract_like_ours() {
    check(&NetConfig::tiny(), 4, &[1, 3]);
}

#[test]
fn exported_default_network_runs_in_tract_like_ours() {
    check(&NetConfig::default(), 9, &[2]);
}

#[test]
fn training_form_programs_are_refused() {
    let w = Weights::init(&NetConfig::tiny(), 1).unwrap();
    let mut net = Network::from_weights(&w);
    net.program = hourhand::net::Program::lrhn(&w.config).unwrap();
    let err = hourhand::onnx::export(&net).unwrap_err();
    assert!(err.to_string().contains("training-form"), "{err}");
}
