//! The whole network: GPU against the CPU reference on the same random weights, inference
//! lowering against the training-form definition, and steady-state inference creating no
//! device objects.

mod common;

use common::{Tolerance, gpu, max_abs_diff, rng, uniform};
use hourhand::cpu::CpuNet;
use hourhand::gpu::kernels::KernelSet;
use hourhand::gpu::{GpuError, GpuNet, half_weights};
use hourhand::net::{NetConfig, Network, Program, Weights};

fn weights(config: &NetConfig, seed: u64) -> Weights {
    let mut w = Weights::init(config, seed).unwrap();
    w.perturb_batch_norm(seed + 100);
    w
}

/// Outputs of the CPU and GPU backends for one random batch through random weights.
fn cpu_and_gpu(config: &NetConfig, seed: u64, batch: usize) -> (Vec<f32>, Vec<f32>) {
    cpu_and_gpu_set(config, seed, batch, KernelSet::RegisterBlocked)
}

/// [`cpu_and_gpu`] with the GPU running the variants of `set`.
fn cpu_and_gpu_set(
    config: &NetConfig,
    seed: u64,
    batch: usize,
    set: KernelSet,
) -> (Vec<f32>, Vec<f32>) {
    let net = Network::from_weights(&weights(config, seed));
    let side = config.input_size as usize;
    let x = uniform(&mut rng(seed + 1), batch * side * side, -1.0, 1.0);
    // The "-f16" sets compute with the weights rounded to f16; so does their reference.
    let reference = if set.f16_weights() {
        Network {
            params: half_weights::rounded(&net.program, &net.params),
            ..net.clone()
        }
    } else {
        net.clone()
    };
    let cpu = CpuNet::from_network(&reference)
        .forward(&[&x], batch)
        .unwrap();
    let gpu = GpuNet::from_network(gpu().with_kernels(set), &net)
        .unwrap()
        .forward(&[&x], batch)
        .unwrap();
    (cpu, gpu)
}

#[test]
fn default_network_gpu_matches_cpu() {
    let batch = 2;
    let (cpu, gpu) = cpu_and_gpu(&NetConfig::default(), 3, batch);
    assert_eq!(cpu.len(), batch * 105);
    let scale = cpu.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(scale > 1e-2, "degenerate outputs (max |y| = {scale})");
    // 88 ops of f32 sums in another order: rounding compounds through the depth.
    Tolerance::Absolute(1e-3).assert("default network joints", &gpu, &cpu);
    // The two samples differ, so batching does not mix them up.
    assert!(max_abs_diff(&cpu[..105], &cpu[105..]) > 1e-4);
}

/// Every layer of the network through the kernel sets GPUs run.
#[test]
fn tiny_network_on_the_tiled_kernels_matches_cpu() {
    for set in KernelSet::ALL.into_iter().filter(|s| s.is_tiled()) {
        let (cpu, gpu) = cpu_and_gpu_set(&NetConfig::tiny(), 11, 3, set);
        Tolerance::Absolute(1e-4).assert(&format!("tiny network joints, {set}"), &gpu, &cpu);
    }
}

#[test]
fn tiny_network_gpu_matches_cpu_at_odd_batch() {
    let (cpu, gpu) = cpu_and_gpu(&NetConfig::tiny(), 5, 5);
    Tolerance::Absolute(1e-4).assert("tiny network joints", &gpu, &cpu);
}

#[test]
fn batch_of_one_equals_the_same_sample_inside_a_batch() {
    let net = Network::from_weights(&weights(&NetConfig::tiny(), 7));
    let x = uniform(&mut rng(8), 3 * 32 * 32, -1.0, 1.0);
    let mut g = GpuNet::from_network(gpu(), &net).unwrap();
    let all = g.forward(&[&x], 3).unwrap();
    let second = g.forward(&[&x[32 * 32..2 * 32 * 32]], 1).unwrap();
    assert!(max_abs_diff(&all[15..30], &second) <= 1e-5);
}

#[test]
fn lowering_preserves_the_function() {
    let w = weights(&NetConfig::tiny(), 9);
    let training = CpuNet::new(Program::lrhn(&w.config).unwrap(), w.tensors.clone());
    let lowered = CpuNet::from_network(&Network::from_weights(&w));
    let x = uniform(&mut rng(10), 2 * 32 * 32, -1.0, 1.0);
    let a = training.forward(&[&x], 2).unwrap();
    let b = lowered.forward(&[&x], 2).unwrap();
    let diff = max_abs_diff(&a, &b);
    assert!(
        diff <= 1e-4,
        "folded batch norm changes the output by {diff}"
    );
}

#[test]
fn steady_state_inference_creates_no_device_objects() {
    let net = Network::from_weights(&weights(&NetConfig::tiny(), 11));
    let mut g = GpuNet::from_network(gpu(), &net).unwrap();
    let x1 = uniform(&mut rng(12), 32 * 32, -1.0, 1.0);
    let x4 = uniform(&mut rng(13), 4 * 32 * 32, -1.0, 1.0);
    let after_upload = g.stats();
    assert!(after_upload.pipelines > 0 && after_upload.buffers > 0);
    g.forward(&[&x1], 1).unwrap();
    let planned = g.stats();
    assert!(planned.bind_groups > 0, "the first forward builds the plan");
    for _ in 0..3 {
        g.forward(&[&x1], 1).unwrap();
    }
    assert_eq!(
        g.stats(),
        planned,
        "repeated inference at one batch size must reuse every object"
    );
    g.forward(&[&x4], 4).unwrap();
    let second = g.stats();
    assert!(
        second.bind_groups > planned.bind_groups,
        "a new batch size gets its own plan"
    );
    g.forward(&[&x1], 1).unwrap();
    g.forward(&[&x4], 4).unwrap();
    assert_eq!(g.stats(), second);
    // Liveness-based reuse keeps activation memory well under the sum of all tensors.
    let program = g.program();
    let all: usize = program.shapes.values().map(|s| s.len() * 4).sum();
    assert!(
        (planned.activation_bytes as usize) < all / 2,
        "{} of {all} bytes",
        planned.activation_bytes
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let net = Network::from_weights(&weights(&NetConfig::tiny(), 14));
    let mut g = GpuNet::from_network(gpu(), &net).unwrap();
    let x = vec![0.0f32; 100];
    let e = g.forward(&[&x], 1).unwrap_err();
    assert!(
        e.to_string().contains("needs 1024 values, 100 were given"),
        "{e}"
    );
    assert!(matches!(g.forward(&[], 1), Err(GpuError::Input(_))));
    let e = g.forward(&[&x], 0).unwrap_err();
    assert!(e.to_string().contains("at least 1"), "{e}");
    let cpu = CpuNet::from_network(&net);
    assert!(cpu.forward(&[&x], 1).is_err());
}

#[test]
fn batch_over_the_binding_limit_is_refused_with_the_largest_that_fits() {
    let net = Network::from_weights(&Weights::init(&NetConfig::default(), 1).unwrap());
    let mut g = GpuNet::from_network(gpu(), &net).unwrap();
    let batch = 4096;
    let x = vec![0.0f32; batch * 128 * 128];
    match g.forward(&[&x], batch) {
        Err(GpuError::TooLarge {
            max_batch, tensor, ..
        }) => {
            assert!(
                max_batch >= 32 && max_batch < batch,
                "max batch {max_batch}"
            );
            assert_eq!(tensor, "stem.relu", "the stem output is the largest tensor");
        }
        other => panic!("expected TooLarge, got {:?}", other.map(|v| v.len())),
    }
}
