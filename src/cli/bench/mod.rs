//! `hourhand bench`: frames per second, milliseconds per batch and GFLOP/s of the network on
//! the GPU and CPU backends, and per-layer GPU times where the adapter has timestamp queries.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hourhand::cpu::fast::{FastNet, StepTime};
use hourhand::gpu::kernels::{KernelSet, peak};
use hourhand::gpu::{GpuContext, GpuError, GpuNet, LayerTime, half_weights};
use hourhand::net::Network;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{DeviceArgs, WeightsArgs};

mod train;

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    weights: WeightsArgs,
    /// Batch sizes to time (comma separated).
    #[arg(long, value_delimiter = ',', default_values_t = [1usize, 32])]
    batch: Vec<usize>,
    /// Time each configuration for about this many seconds (at least 3 runs).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Also print the GPU time of each layer (needs timestamp queries).
    #[arg(long)]
    per_layer: bool,
    /// Skip the CPU backend.
    #[arg(long)]
    no_cpu: bool,
    /// Check the GPU's output at each batch size against the CPU backend's on the same input
    /// (largest absolute difference in the row); fails past the tolerance the tests use.
    #[arg(long)]
    check: bool,
    /// Time training steps (forward, MSE, backward, AdamW) instead of inference; FPS is then
    /// samples per second. With --per-layer, the CPU time of every op's forward and backward,
    /// and the GPU time of every kernel over the step's dispatches.
    #[arg(long)]
    train: bool,
    /// GPU only: the kernel variants to run (register-blocked, blocked-gemv, tiled, subgroups,
    /// tiled-f16, subgroups-f16); default: the adapter's (register blocks on a CPU device such
    /// as lavapipe; on a GPU, register blocks with split-K GEMVs for the fully connected
    /// layers; f16 weights only when asked for, inference only). With --train it applies to
    /// the forward; the backward kernels are register-blocked on every adapter.
    #[arg(long)]
    kernels: Option<KernelSet>,
}

impl BenchArgs {
    /// The GPU to time, running the kernel set `--kernels` asked for (else the adapter's).
    fn gpu(&self) -> anyhow::Result<GpuContext> {
        let ctx = self.device.gpu()?;
        Ok(match self.kernels {
            Some(kernels) => ctx.with_kernels(kernels),
            None => ctx,
        })
    }
}

/// One timed configuration.
#[derive(Debug, Serialize)]
struct Row {
    backend: String,
    adapter: String,
    batch: usize,
    fps: f64,
    ms_per_batch: f64,
    gflops: f64,
    runs: usize,
    /// `"train"` for training steps (`fps` is then samples per second); absent for inference.
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    /// GPU only: device objects (buffers, bind groups, pipelines) created during the timed runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    objects_created_while_timing: Option<usize>,
    /// GPU only: bytes of activation buffers for this and earlier batch sizes, and of weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    activation_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight_bytes: Option<u64>,
    /// The device's measured FMA peak, GFLOP/s: the adapter's (`shaders/peak.wesl`), or all
    /// CPU threads' (`cpu::fast::peak`).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_gflops: Option<f64>,
    /// GPU only: the kernel set that ran ([`KernelSet::name`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    kernels: Option<&'static str>,
    /// GPU with `--check`: the largest absolute difference between the GPU's joints and the
    /// CPU backend's on the same input, and the largest joint value (its scale).
    #[serde(skip_serializing_if = "Option::is_none")]
    max_abs_diff_vs_cpu: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_abs_output: Option<f32>,
}

/// The largest difference `--check` accepts between the GPU's joints and the CPU's, relative to
/// the joints' scale (at least 1): the tests' whole-network check (`tests/network.rs`) allows
/// 1e-3 on outputs of about unit size; the weights `bench` times give joints in the hundreds,
/// and float rounding grows with them. A wrong kernel misses by the scale itself.
const CHECK_TOLERANCE: f32 = 1e-4;

/// The seed of the random inputs every bench times.
const SEED: u64 = 7;

/// `n` values uniform in `[−bound, bound)`: what a network is timed on (the time does not
/// depend on the values).
fn uniform(rng: &mut impl Rng, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
}

/// Runs `f` once to warm up, then repeatedly for about `seconds`; returns the median and count.
fn time(
    seconds: f64,
    mut f: impl FnMut() -> anyhow::Result<()>,
) -> anyhow::Result<(Duration, usize)> {
    f()?;
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || start.elapsed().as_secs_f64() < seconds {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], times.len()))
}

fn row(
    backend: String,
    adapter: String,
    batch: usize,
    flops: u64,
    (median, runs): (Duration, usize),
) -> Row {
    let s = median.as_secs_f64();
    Row {
        backend,
        adapter,
        batch,
        fps: batch as f64 / s,
        ms_per_batch: s * 1e3,
        gflops: (flops * batch as u64) as f64 / s / 1e9,
        runs,
        mode: None,
        objects_created_while_timing: None,
        activation_bytes: None,
        weight_bytes: None,
        peak_gflops: None,
        kernels: None,
        max_abs_diff_vs_cpu: None,
        max_abs_output: None,
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.batch.is_empty() && args.batch.iter().all(|&b| b > 0),
        "--batch sizes must be at least 1"
    );
    anyhow::ensure!(
        !(args.check && (args.device.is_cpu() || args.train)),
        "--check compares the GPU backend's inference with the CPU backend's; it does not apply to --backend cpu or --train"
    );
    let (weights, source) = args.weights.load()?;
    if args.train {
        if !args.json {
            println!("weights: {source}");
        }
        return train::run(&args, &weights);
    }
    let net = Network::from_weights(&weights);
    let flops = net.flops_per_frame();
    let input_len = net.program.inputs[0].1.len();
    let max_batch = *args.batch.iter().max().expect("not empty");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(SEED);
    let input = uniform(&mut rng, max_batch * input_len, 1.0);
    if !args.json {
        println!(
            "weights: {source}; {:.3} GFLOP per frame",
            flops as f64 / 1e9
        );
    }

    let mut rows = Vec::new();
    let mut layers: Option<(usize, Vec<LayerTime>)> = None;
    let mut failed_checks = Vec::new();
    // The CPU backend, built once: the reference of --check, then timed itself.
    let mut cpu: Option<FastNet> = None;
    // With f16 weights on the GPU, the reference computes with the same rounded weights.
    let mut f16_reference = false;
    if !args.device.is_cpu() {
        let ctx = args.gpu()?;
        let kernels = ctx.kernels.name();
        f16_reference = ctx.kernels.f16_weights();
        let backend = format!("{:?}", ctx.info.backend).to_lowercase();
        let adapter = ctx.info.name.clone();
        let peak = peak::measure(&ctx).context("measuring the adapter's arithmetic peak")?;
        let mut gpu =
            GpuNet::from_network(ctx, &net).context("uploading the network to the GPU")?;
        for &batch in &args.batch {
            let x = &input[..batch * input_len];
            // Also builds this batch size's plan. A batch past the device's binding limit is
            // reported and skipped, so the sizes that fit (and the per-layer times) still come.
            let output = match gpu.forward(&[x], batch) {
                Err(e @ GpuError::TooLarge { .. }) => {
                    print_refused(&backend, &adapter, batch, kernels, &e, args.json)?;
                    continue;
                }
                other => other?,
            };
            let before = gpu.stats();
            let timing = time(args.seconds, || Ok(gpu.forward(&[x], batch).map(drop)?))?;
            let after = gpu.stats();
            let mut r = row(backend.clone(), adapter.clone(), batch, flops, timing);
            r.objects_created_while_timing = Some(
                after.buffers + after.bind_groups + after.pipelines
                    - before.buffers
                    - before.bind_groups
                    - before.pipelines,
            );
            r.activation_bytes = Some(after.activation_bytes);
            r.weight_bytes = Some(after.weight_bytes);
            r.peak_gflops = Some(peak);
            r.kernels = Some(kernels);
            if args.check {
                let reference = cpu.get_or_insert_with(|| {
                    if f16_reference {
                        FastNet::from_network(&Network {
                            params: half_weights::rounded(&net.program, &net.params),
                            ..net.clone()
                        })
                    } else {
                        FastNet::from_network(&net)
                    }
                });
                let want = reference.forward(&[x], batch)?;
                let diff = output
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0f32, f32::max);
                let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                r.max_abs_diff_vs_cpu = Some(diff);
                r.max_abs_output = Some(scale);
                // (f32::max skips a NaN, so non-finite joints are looked for on their own.)
                if output.iter().any(|v| !v.is_finite()) {
                    failed_checks.push(format!("batch {batch}: non-finite joints"));
                } else if diff > CHECK_TOLERANCE * scale.max(1.0) {
                    failed_checks.push(format!("batch {batch}: {diff} on joints up to {scale}"));
                }
            }
            print_row(&r, args.json)?;
            rows.push(r);
            if args.per_layer && layers.is_none() {
                layers = Some((batch, per_layer(&mut gpu, x, batch)?));
            }
        }
    }
    if !args.no_cpu || args.device.is_cpu() {
        let mut cpu = match cpu {
            Some(reference) if !f16_reference => reference,
            _ => FastNet::from_network(&net),
        };
        let adapter = format!("CPU, {} threads", rayon::current_num_threads());
        let peak = hourhand::cpu::fast::peak::measure();
        let mut cpu_layers = None;
        for &batch in &args.batch {
            let x = &input[..batch * input_len];
            let timing = time(args.seconds, || Ok(cpu.forward(&[x], batch).map(drop)?))?;
            let mut r = row("cpu".into(), adapter.clone(), batch, flops, timing);
            r.peak_gflops = peak;
            r.kernels = Some(cpu.conv_kernel().name());
            print_row(&r, args.json)?;
            rows.push(r);
            if args.per_layer {
                cpu_layers
                    .get_or_insert_with(Vec::new)
                    .push((batch, cpu_per_layer(&mut cpu, x, batch)?));
            }
        }
        for (batch, steps) in cpu_layers.into_iter().flatten() {
            print_cpu_steps(batch, &steps, args.json)?;
        }
    }
    if let Some((batch, layers)) = layers {
        print_layers(batch, &layers, args.json)?;
    }
    anyhow::ensure!(
        failed_checks.is_empty(),
        "the GPU's joints differ from the CPU backend's by more than {CHECK_TOLERANCE} of their scale ({}): the kernels are wrong on this adapter; try another (--adapter) or --backend cpu, and please report it with `hourhand info`",
        failed_checks.join(", ")
    );
    Ok(())
}

/// A batch size the device refused (past its binding limit), as a row of its own.
fn print_refused(
    backend: &str,
    adapter: &str,
    batch: usize,
    kernels: &str,
    e: &GpuError,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let row = serde_json::json!({
            "backend": backend,
            "adapter": adapter,
            "batch": batch,
            "kernels": kernels,
            "refused": e.to_string(),
        });
        println!("{row}");
    } else {
        println!("{backend:<7} {adapter:<34} batch {batch:>3}: refused: {e}");
    }
    Ok(())
}

fn print_row(r: &Row, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
    } else {
        let objects = r
            .objects_created_while_timing
            .map(|n| format!("  objects created while timing: {n}"))
            .unwrap_or_default();
        let memory = r
            .activation_bytes
            .map(|a| {
                format!(
                    "  activations {:.1} MB, weights {:.1} MB",
                    a as f64 / 1e6,
                    r.weight_bytes.unwrap_or(0) as f64 / 1e6
                )
            })
            .unwrap_or_default();
        let peak = r
            .peak_gflops
            .map(|p| {
                format!(
                    " = {:.0}% of the {p:.1} GFLOP/s FMA peak",
                    100.0 * r.gflops / p
                )
            })
            .unwrap_or_default();
        let kernels = r
            .kernels
            .map(|k| format!("  kernels: {k}"))
            .unwrap_or_default();
        let (per_batch, rate) = match r.mode {
            Some("train") => ("ms/step", "samples/s"),
            _ => ("ms/batch", "FPS"),
        };
        println!(
            "{:<7} {:<34} batch {:>3}: {:>9.2} {per_batch} {:>9.1} {rate} {:>8.2} GFLOP/s{peak} ({} runs){kernels}{objects}{memory}",
            r.backend, r.adapter, r.batch, r.ms_per_batch, r.fps, r.gflops, r.runs
        );
    }
    Ok(())
}

/// The first run's rows with each row's time (the field `time` points to) replaced by its
/// median over all runs (every run times the same rows in the same order).
fn median<T: Clone>(mut runs: Vec<Vec<T>>, time: impl Fn(&mut T) -> &mut f64) -> Vec<T> {
    let mut out = runs[0].clone();
    for (i, row) in out.iter_mut().enumerate() {
        let mut all: Vec<f64> = runs.iter_mut().map(|r| *time(&mut r[i])).collect();
        all.sort_by(f64::total_cmp);
        *time(row) = all[all.len() / 2];
    }
    out
}

/// Median per-dispatch GPU times over a few timed runs.
fn per_layer(gpu: &mut GpuNet, x: &[f32], batch: usize) -> anyhow::Result<Vec<LayerTime>> {
    let runs: Vec<Vec<LayerTime>> = (0..5)
        .map(|_| gpu.forward_timed(&[x], batch).map(|(_, t)| t))
        .collect::<Result<_, _>>()?;
    Ok(median(runs, |l| &mut l.ms))
}

/// One row of a per-layer table.
struct LayerRow<'a> {
    op: &'a str,
    /// Ops fused into its kernel.
    fused: &'a [String],
    kernel: &'a str,
    ms: f64,
    flops: u64,
}

/// A per-layer table (or one JSON object a row, tagged with `backend` where given).
fn print_table(
    heading: &str,
    batch: usize,
    rows: &[LayerRow],
    json: bool,
    backend: Option<&str>,
) -> anyhow::Result<()> {
    let total: f64 = rows.iter().map(|r| r.ms).sum();
    if !json {
        println!("\n{heading}");
        println!(
            "{:<32} {:<18} {:>9} {:>7} {:>9}  fused",
            "layer", "kernel", "ms", "share", "GFLOP/s"
        );
    }
    for r in rows {
        let gflops = if r.ms > 0.0 {
            r.flops as f64 / (r.ms / 1e3) / 1e9
        } else {
            0.0
        };
        if json {
            let mut v = serde_json::Map::new();
            if let Some(b) = backend {
                v.insert("backend".into(), b.into());
            }
            v.insert("layer".into(), r.op.into());
            v.insert("kernel".into(), r.kernel.into());
            v.insert("batch".into(), batch.into());
            v.insert("ms".into(), r.ms.into());
            v.insert("gflops".into(), gflops.into());
            if !r.fused.is_empty() {
                v.insert("fused".into(), r.fused.into());
            }
            println!("{}", serde_json::Value::Object(v));
        } else {
            let g = if r.flops > 0 {
                format!("{gflops:>9.2}")
            } else {
                format!("{:>9}", "-")
            };
            println!(
                "{:<32} {:<18} {:>9.3} {:>6.1}% {g}  {}",
                r.op,
                r.kernel,
                r.ms,
                100.0 * r.ms / total.max(1e-12),
                r.fused.join(", ")
            );
        }
    }
    if !json {
        println!("{:<32} {:<18} {total:>9.3}", "total", "");
    }
    Ok(())
}

fn print_layers(batch: usize, layers: &[LayerTime], json: bool) -> anyhow::Result<()> {
    // Several dispatches of one op (concat) are reported as one layer, in program order.
    let mut rows: Vec<LayerRow> = Vec::new();
    for l in layers {
        match rows.iter_mut().find(|r| r.op == l.op) {
            Some(r) => {
                r.ms += l.ms;
                r.flops += l.flops;
            }
            None => rows.push(LayerRow {
                op: &l.op,
                fused: &l.fused,
                kernel: l.kernel.source().entry,
                ms: l.ms,
                flops: l.flops,
            }),
        }
    }
    let heading = format!(
        "per-layer GPU time at batch {batch} (median of 5 runs, one timed pass per dispatch):"
    );
    print_table(&heading, batch, &rows, json, None)
}

/// Median CPU time of every step over a few timed runs.
fn cpu_per_layer(cpu: &mut FastNet, x: &[f32], batch: usize) -> anyhow::Result<Vec<StepTime>> {
    let runs: Vec<Vec<StepTime>> = (0..7)
        .map(|_| cpu.forward_timed(&[x], batch).map(|(_, t, _)| t))
        .collect::<Result<_, _>>()?;
    Ok(median(runs, |s| &mut s.ms))
}

fn print_cpu_steps(batch: usize, steps: &[StepTime], json: bool) -> anyhow::Result<()> {
    let rows: Vec<LayerRow> = steps
        .iter()
        .map(|s| LayerRow {
            op: &s.op,
            fused: &[],
            kernel: s.kernel,
            ms: s.ms,
            flops: s.flops,
        })
        .collect();
    let heading = format!("per-step CPU time at batch {batch} (median of 7 runs):");
    print_table(&heading, batch, &rows, json, Some("cpu"))
}
