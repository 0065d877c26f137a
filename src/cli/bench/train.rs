//! `hourhand bench --train`: training steps per second (forward in training mode, MSE, backward,
//! AdamW, running statistics) on the GPU and CPU backends, and with `--per-layer` the CPU time
//! of every op's forward and backward and the GPU time of every kernel. Random inputs and
//! targets: the step costs the same whatever the data.

use std::collections::BTreeMap;

use anyhow::Context;
use hourhand::cpu::train::{OpTime, Workspace};
use hourhand::gpu::{GpuTrainer, LayerTime, time_by_kernel};
use hourhand::net::training::Dropout;
use hourhand::net::{Program, Weights};
use hourhand::train::adam::AdamStep;
use hourhand::train::loss::Loss;
use hourhand::train::run::LOSS_SCALE;
use hourhand::train::step::{Moments, StepOptions, cpu_step_in};
use rand::SeedableRng;

use super::{BenchArgs, LayerRow, Row, SEED, median, print_row, print_table, row, time, uniform};

/// The options of training step `t`: weight decay 1e-4 as `hourhand train`'s default, and
/// dropout 0.3 (DeepPrior++'s rate, `train`'s default until 2026-12-02) with a new mask every
/// step, so the step timed includes the dropout ops and its figures compare with earlier ones.
fn options(t: u64) -> StepOptions {
    StepOptions {
        loss: Loss::Mse,
        scale: LOSS_SCALE,
        dropout: Dropout {
            rate: 0.3,
            seed: t as u32,
        },
        adam: AdamStep {
            lr: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
            t,
        },
    }
}

/// Times training steps of `weights`' network at every batch size of `args`.
pub fn run(args: &BenchArgs, weights: &Weights) -> anyhow::Result<()> {
    let program = Program::lrhn(&weights.config)?;
    // A step does the forward's multiply-adds three times: forward, input and weight gradients.
    let flops = 3 * 2 * program.macs();
    let input_len = program.inputs[0].1.len();
    let outputs = program.output_shape().len();
    let max_batch = *args.batch.iter().max().expect("not empty");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let input = uniform(&mut rng, max_batch * input_len, 1.0);
    let target = uniform(&mut rng, max_batch * outputs, 0.5);
    if !args.json {
        println!(
            "training steps (MSE, dropout 0.3, AdamW); {:.3} GFLOP per sample",
            flops as f64 / 1e9
        );
    }
    if !args.device.is_cpu() {
        let ctx = args.gpu()?;
        let kernels = ctx.kernels.name();
        let backend = format!("{:?}", ctx.info.backend).to_lowercase();
        let adapter = ctx.info.name.clone();
        let mut per_kernel = Vec::new();
        for &batch in &args.batch {
            let mut trainer =
                GpuTrainer::new(ctx.clone(), program.clone(), &weights.tensors, batch)
                    .context("planning the training step on the GPU")?;
            let (x, y) = (&input[..batch * input_len], &target[..batch * outputs]);
            let mut t = 0;
            let timing = time(args.seconds, || {
                t += 1;
                Ok(trainer.step(x, y, &options(t)).map(drop)?)
            })?;
            let mut r = row(backend.clone(), adapter.clone(), batch, flops, timing);
            r.kernels = Some(kernels);
            print(r, args.json)?;
            if args.per_layer {
                let runs: Vec<Vec<LayerTime>> = (1..=5)
                    .map(|k| {
                        let (_, times) = trainer.step_timed(x, y, &options(t + k))?;
                        Ok(times)
                    })
                    .collect::<anyhow::Result<_>>()?;
                per_kernel.push((batch, median(runs, |l| &mut l.ms)));
            }
        }
        for (batch, times) in per_kernel {
            print_kernel_times(batch, &times, args.json)?;
        }
    }
    if !args.no_cpu || args.device.is_cpu() {
        let adapter = format!("CPU, {} threads", rayon::current_num_threads());
        let mut per_layer = Vec::new();
        for &batch in &args.batch {
            let mut params = weights.tensors.clone();
            let mut moments = Moments::zeros(&params);
            let mut workspace = Workspace::new();
            let (x, y) = (&input[..batch * input_len], &target[..batch * outputs]);
            let mut t = 0;
            let mut step = |workspace: &mut Workspace| {
                t += 1;
                let o = options(t);
                cpu_step_in(
                    workspace,
                    &program,
                    &mut params,
                    &mut moments,
                    x,
                    y,
                    batch,
                    &o,
                );
                Ok(())
            };
            // The first step sizes every buffer of the workspace (`time` runs it untimed).
            let timing = time(args.seconds, || step(&mut workspace))?;
            print(
                row("cpu".into(), adapter.clone(), batch, flops, timing),
                args.json,
            )?;
            if args.per_layer {
                workspace.set_profiling(true);
                let runs: Vec<Vec<OpTime>> = (0..5)
                    .map(|_| {
                        step(&mut workspace)?;
                        Ok(workspace.times().to_vec())
                    })
                    .collect::<anyhow::Result<_>>()?;
                per_layer.push((batch, median(runs, |t| &mut t.seconds)));
            }
        }
        for (batch, times) in per_layer {
            print_op_times(&program, batch, &times, args.json)?;
        }
    }
    Ok(())
}

/// A training row: the frames of an inference row are samples here.
fn print(mut r: Row, json: bool) -> anyhow::Result<()> {
    r.mode = Some("train");
    print_row(&r, json)
}

/// The GPU time of each kernel over a training step's dispatches (a step is hundreds of them:
/// every op's forward and backward, and one AdamW update per parameter), most first.
fn print_kernel_times(batch: usize, times: &[LayerTime], json: bool) -> anyhow::Result<()> {
    let kernels = time_by_kernel(times);
    let total: f64 = times.iter().map(|t| t.ms).sum();
    if !json {
        println!(
            "\nGPU time per kernel of a training step at batch {batch} (median of 5 steps, one timed pass per dispatch): {total:.3} ms in {} dispatches",
            times.len()
        );
    }
    for (kernel, ms, dispatches) in kernels {
        if json {
            let v = serde_json::json!({
                "backend": "gpu-train", "kernel": kernel, "batch": batch, "ms": ms,
                "dispatches": dispatches,
            });
            println!("{v}");
        } else {
            println!(
                "{kernel:<24} {ms:>9.3} ms {:>5.1}%  ({dispatches} dispatches)",
                100.0 * ms / total.max(1e-12)
            );
        }
    }
    Ok(())
}

/// The per-op table of a CPU training step, then the time of each kind of op.
fn print_op_times(
    program: &Program,
    batch: usize,
    times: &[OpTime],
    json: bool,
) -> anyhow::Result<()> {
    let labels: Vec<String> = times
        .iter()
        .map(|t| {
            format!(
                "{} ({})",
                t.op,
                if t.backward { "backward" } else { "forward" }
            )
        })
        .collect();
    let rows: Vec<LayerRow> = times
        .iter()
        .zip(&labels)
        .map(|(t, label)| {
            let op = program.ops.iter().find(|o| o.name() == t.op);
            let macs = op.map_or(0, |o| program.op_macs(o)) * batch as u64;
            // A backward does the forward's multiply-adds twice (input and weight gradients).
            let flops = 2 * macs * if t.backward { 2 } else { 1 };
            LayerRow {
                op: label,
                fused: &[],
                kernel: t.kind,
                ms: t.seconds * 1e3,
                flops,
            }
        })
        .collect();
    let heading =
        format!("per-op CPU time of a training step at batch {batch} (median of 5 steps):");
    print_table(&heading, batch, &rows, json, Some("cpu-train"))?;
    if json {
        return Ok(());
    }
    let mut kinds: BTreeMap<(&str, bool), f64> = BTreeMap::new();
    for t in times {
        *kinds.entry((t.kind, t.backward)).or_default() += t.seconds * 1e3;
    }
    let mut kinds: Vec<_> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.total_cmp(&a.1));
    println!("\nby kind of op:");
    for ((kind, backward), ms) in kinds {
        let pass = if backward { "backward" } else { "forward" };
        println!("{kind:<16} {pass:<8} {ms:>9.2} ms");
    }
    Ok(())
}
