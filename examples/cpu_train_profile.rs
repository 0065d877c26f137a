//! Speed of a CPU training step, and where its time goes: `cargo run --release --example
//! cpu_train_profile -- [config] [batch] [steps]` (defaults `64 32 5`; config `tiny`, `64` (the
//! bundled model's 64×64 network) or `default`). Prints samples/s of `cpu_step_in` after one
//! warm-up step, then the time of each op kind, forward and backward, over one profiled step.

use std::collections::BTreeMap;
use std::time::Instant;

use hourhand::cpu::train::{Dropout, Workspace};
use hourhand::net::{NetConfig, Program, Weights};
use hourhand::train::adam::AdamStep;
use hourhand::train::loss::Loss;
use hourhand::train::step::{Moments, StepOptions, cpu_step_in};

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let config = match args.get(1).map(String::as_str) {
        Some("default") => NetConfig::default(),
        Some("tiny") => NetConfig::tiny(),
        _ => NetConfig {
            input_size: 64,
            ..NetConfig::default()
        },
    };
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let steps: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
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
    let mut params = weights.tensors.clone();
    let mut moments = Moments::zeros(&params);
    let mut workspace = Workspace::new();
    let mut step = |workspace: &mut Workspace, t: u64| {
        cpu_step_in(
            workspace,
            &program,
            &mut params,
            &mut moments,
            &input,
            &target,
            batch,
            &options(t),
        )
    };
    step(&mut workspace, 1);
    let start = Instant::now();
    for t in 0..steps {
        step(&mut workspace, t + 2);
    }
    let seconds = start.elapsed().as_secs_f64() / steps as f64;
    println!(
        "CPU step, batch {batch}: {:.1} ms, {:.2} samples/s",
        seconds * 1e3,
        batch as f64 / seconds
    );
    workspace.set_profiling(true);
    let start = Instant::now();
    step(&mut workspace, steps + 2);
    let total = start.elapsed().as_secs_f64();
    let mut by_kind: BTreeMap<(&str, bool), (f64, usize)> = BTreeMap::new();
    for t in workspace.times() {
        let e = by_kind.entry((t.kind, t.backward)).or_default();
        e.0 += t.seconds;
        e.1 += 1;
    }
    let mut rows: Vec<_> = by_kind.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    let ops: f64 = rows.iter().map(|r| r.1.0).sum();
    println!(
        "profiled step {:.1} ms: ops {:.1} ms, the rest (loss, AdamW, running statistics) {:.1} ms",
        total * 1e3,
        ops * 1e3,
        (total - ops) * 1e3
    );
    for ((kind, backward), (s, n)) in rows {
        let pass = if backward { "backward" } else { "forward" };
        println!(
            "  {kind:<12} {pass:<8} {:8.1} ms {:5.1}%  ({n} ops)",
            s * 1e3,
            100.0 * s / total
        );
    }
    let mut slowest: Vec<_> = workspace.times().to_vec();
    slowest.sort_by(|a, b| b.seconds.total_cmp(&a.seconds));
    println!("slowest ops:");
    for t in slowest.iter().take(16) {
        let pass = if t.backward { "backward" } else { "forward" };
        let op = program
            .ops
            .iter()
            .find(|o| o.name() == t.op)
            .expect("timed ops exist");
        // Backward does twice the forward's multiply-adds (input and weight gradients).
        let flops =
            2.0 * program.op_macs(op) as f64 * batch as f64 * if t.backward { 2.0 } else { 1.0 };
        println!(
            "  {:<28} {pass:<8} {:8.2} ms {:7.1} GFLOP/s",
            t.op,
            t.seconds * 1e3,
            flops / t.seconds / 1e9
        );
    }
}
