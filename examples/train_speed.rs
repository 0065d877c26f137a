//! Speed and memory of a GPU training step: `cargo run --release --example train_speed --
//! [config] [batch] [steps] [memory batch]` (defaults `tiny 8 5 32`; config `tiny` or
//! `default`). Prints samples/s of `GpuTrainer::step` (after one warm-up step), the same for
//! the CPU reference step, the GPU time per kernel of one step (timestamp queries, where the
//! adapter has them), and the device memory a trainer holds at the memory batch.

use std::time::Instant;

use hourhand::gpu::{AdapterRequest, GpuContext, GpuTrainer, TrainMemory, time_by_kernel};
use hourhand::net::training::Dropout;
use hourhand::net::{NetConfig, Program, Weights};
use hourhand::train::adam::AdamStep;
use hourhand::train::loss::Loss;
use hourhand::train::step::{Moments, StepOptions, cpu_step};

fn options(t: u64) -> StepOptions {
    StepOptions {
        loss: Loss::Mse,
        scale: 150.0,
        dropout: Dropout {
            rate: 0.3,
            seed: t as u32,
        },
        adam: AdamStep {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
            t,
        },
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn print_memory(m: &TrainMemory, batch: usize) {
    println!(
        "memory at batch {batch}: {:.1} MB = activations {:.1} + their gradients {:.1} + parameters {:.1} + parameter gradients {:.1} + moments {:.1} + other {:.1}",
        mb(m.total()),
        mb(m.activations),
        mb(m.grads),
        mb(m.params),
        mb(m.param_grads),
        mb(m.moments),
        mb(m.other)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let config = match args.get(1).map(String::as_str) {
        Some("default") => NetConfig::default(),
        _ => NetConfig::tiny(),
    };
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    let steps: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let memory_batch: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(32);

    let ctx = GpuContext::new(&AdapterRequest::default()).expect("a wgpu adapter");
    println!("adapter: {} ({:?})", ctx.info.name, ctx.info.backend);
    let program = Program::lrhn(&config).unwrap();
    let weights = Weights::init(&config, 1).unwrap();
    let side = config.input_size as usize;
    let input: Vec<f32> = (0..batch * side * side)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let outputs = program.output_shape().len();
    let target: Vec<f32> = (0..batch * outputs)
        .map(|i| ((i * 104_729) % 600) as f32 / 1000.0 - 0.3)
        .collect();

    let mut trainer =
        GpuTrainer::new(ctx.clone(), program.clone(), &weights.tensors, batch).unwrap();
    trainer.step(&input, &target, &options(1)).unwrap();
    let start = Instant::now();
    for t in 0..steps {
        trainer.step(&input, &target, &options(t + 2)).unwrap();
    }
    let gpu = start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "GPU step, batch {batch}: {:.1} ms, {:.2} samples/s",
        gpu * 1e3,
        batch as f64 / gpu
    );
    print_memory(&trainer.memory(), batch);
    if ctx.has_timestamps() {
        let (_, times) = trainer
            .step_timed(&input, &target, &options(steps + 2))
            .unwrap();
        let rows = time_by_kernel(&times);
        let total: f64 = times.iter().map(|t| t.ms).sum();
        println!(
            "GPU time per kernel of one step ({total:.1} ms in {} dispatches):",
            times.len()
        );
        for (kernel, ms, count) in rows {
            println!(
                "  {kernel:<16} {ms:9.1} ms {:5.1}%  ({count} dispatches)",
                100.0 * ms / total
            );
        }
    }

    let mut params = weights.tensors.clone();
    let mut moments = Moments::zeros(&params);
    cpu_step(
        &program,
        &mut params,
        &mut moments,
        &input,
        &target,
        batch,
        &options(1),
    );
    let start = Instant::now();
    for t in 0..steps {
        cpu_step(
            &program,
            &mut params,
            &mut moments,
            &input,
            &target,
            batch,
            &options(t + 2),
        );
    }
    let cpu = start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "CPU step, batch {batch}: {:.1} ms, {:.2} samples/s",
        cpu * 1e3,
        batch as f64 / cpu
    );

    drop(trainer);
    let big = GpuTrainer::new(ctx, program, &weights.tensors, memory_batch).unwrap();
    print_memory(&big.memory(), memory_batch);
}
