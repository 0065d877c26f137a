//! `hourhand bench`: frames per second, milliseconds per batch and GFLOP/s of the network on
//! the GPU and CPU backends, and per-layer GPU times where the adapter has timestamp queries.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hourhand::cpu::fast::{FastNet, StepTime};
use hourhand::gpu::kernels::peak;
use hourhand::gpu::{GpuNet, LayerTime};
use hourhand::net::Network;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use super::{DeviceArgs, WeightsArgs};

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
    /// GPU only: device objects (buffers, bind groups, pipelines) created during the timed runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    objects_created_while_timing: Option<usize>,
    /// GPU only: bytes of activation buffers for this and earlier batch sizes, and of weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    activation_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight_bytes: Option<u64>,
    /// The device's measured FMA peak, GFLOP/s: the adapter's (`shaders/peak.wgsl`), or all
    /// CPU threads' (`cpu::fast::peak`).
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_gflops: Option<f64>,
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
        objects_created_while_timing: None,
        activation_bytes: None,
        weight_bytes: None,
        peak_gflops: None,
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        !args.batch.is_empty() && args.batch.iter().all(|&b| b > 0),
        "--batch sizes must be at least 1"
    );
    let (weights, source) = args.weights.load()?;
    let net = Network::from_weights(&weights);
    let flops = net.flops_per_frame();
    let input_len = net.program.inputs[0].1.len();
    let max_batch = *args.batch.iter().max().expect("not empty");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let input: Vec<f32> = (0..max_batch * input_len)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    if !args.json {
        println!(
            "weights: {source}; {:.3} GFLOP per frame",
            flops as f64 / 1e9
        );
    }

    let mut rows = Vec::new();
    let mut layers: Option<(usize, Vec<LayerTime>)> = None;
    if !args.device.is_cpu() {
        let ctx = args.device.gpu()?;
        let backend = format!("{:?}", ctx.info.backend).to_lowercase();
        let adapter = ctx.info.name.clone();
        let peak = peak::measure(&ctx).context("measuring the adapter's arithmetic peak")?;
        let mut gpu =
            GpuNet::from_network(ctx, &net).context("uploading the network to the GPU")?;
        for &batch in &args.batch {
            let x = &input[..batch * input_len];
            gpu.forward(&[x], batch)?; // builds this batch size's plan
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
            print_row(&r, args.json)?;
            rows.push(r);
            if args.per_layer && layers.is_none() {
                layers = Some((batch, per_layer(&mut gpu, x, batch)?));
            }
        }
    }
    if !args.no_cpu || args.device.is_cpu() {
        let mut cpu = FastNet::from_network(&net);
        let adapter = format!("CPU, {} threads", rayon::current_num_threads());
        let peak = hourhand::cpu::fast::peak::measure();
        let mut cpu_layers = None;
        for &batch in &args.batch {
            let x = &input[..batch * input_len];
            let timing = time(args.seconds, || Ok(cpu.forward(&[x], batch).map(drop)?))?;
            let mut r = row("cpu".into(), adapter.clone(), batch, flops, timing);
            r.peak_gflops = peak;
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
        println!(
            "{:<7} {:<34} batch {:>3}: {:>9.2} ms/batch {:>9.1} FPS {:>8.2} GFLOP/s{peak} ({} runs){objects}{memory}",
            r.backend, r.adapter, r.batch, r.ms_per_batch, r.fps, r.gflops, r.runs
        );
    }
    Ok(())
}

/// Median per-dispatch GPU times over a few timed runs.
fn per_layer(gpu: &mut GpuNet, x: &[f32], batch: usize) -> anyhow::Result<Vec<LayerTime>> {
    let runs: Vec<Vec<LayerTime>> = (0..5)
        .map(|_| gpu.forward_timed(&[x], batch).map(|(_, t)| t))
        .collect::<Result<_, _>>()?;
    let mut out = runs[0].clone();
    for (i, layer) in out.iter_mut().enumerate() {
        let mut ms: Vec<f64> = runs.iter().map(|r| r[i].ms).collect();
        ms.sort_by(f64::total_cmp);
        layer.ms = ms[ms.len() / 2];
    }
    Ok(out)
}

fn print_layers(batch: usize, layers: &[LayerTime], json: bool) -> anyhow::Result<()> {
    // Several dispatches of one op (concat) are reported as one layer, in program order.
    let mut order = Vec::new();
    let mut by_op: BTreeMap<&str, (&'static str, f64, u64)> = BTreeMap::new();
    for l in layers {
        let e = by_op.entry(&l.op).or_insert_with(|| {
            order.push(l.op.as_str());
            (l.kernel.source().entry, 0.0, 0)
        });
        e.1 += l.ms;
        e.2 += l.flops;
    }
    let total: f64 = by_op.values().map(|v| v.1).sum();
    if !json {
        println!(
            "\nper-layer GPU time at batch {batch} (median of 5 runs, one timed pass per dispatch):"
        );
        println!(
            "{:<32} {:<18} {:>9} {:>7} {:>9}",
            "layer", "kernel", "ms", "share", "GFLOP/s"
        );
    }
    for op in order {
        let (kernel, ms, flops) = by_op[op];
        let gflops = if ms > 0.0 {
            flops as f64 / (ms / 1e3) / 1e9
        } else {
            0.0
        };
        if json {
            let v = serde_json::json!({"layer": op, "kernel": kernel, "batch": batch, "ms": ms, "gflops": gflops});
            println!("{v}");
        } else {
            let g = if flops > 0 {
                format!("{gflops:>9.2}")
            } else {
                format!("{:>9}", "-")
            };
            println!(
                "{op:<32} {kernel:<18} {ms:>9.3} {:>6.1}% {g}",
                100.0 * ms / total.max(1e-12)
            );
        }
    }
    if !json {
        println!("{:<32} {:<18} {total:>9.3}", "total", "");
    }
    Ok(())
}

/// Median CPU time of every step over a few timed runs.
fn cpu_per_layer(cpu: &mut FastNet, x: &[f32], batch: usize) -> anyhow::Result<Vec<StepTime>> {
    let runs: Vec<Vec<StepTime>> = (0..7)
        .map(|_| cpu.forward_timed(&[x], batch).map(|(_, t, _)| t))
        .collect::<Result<_, _>>()?;
    let mut out = runs[0].clone();
    for (i, step) in out.iter_mut().enumerate() {
        let mut ms: Vec<f64> = runs.iter().map(|r| r[i].ms).collect();
        ms.sort_by(f64::total_cmp);
        step.ms = ms[ms.len() / 2];
    }
    Ok(out)
}

fn print_cpu_steps(batch: usize, steps: &[StepTime], json: bool) -> anyhow::Result<()> {
    let total: f64 = steps.iter().map(|s| s.ms).sum();
    if !json {
        println!("\nper-step CPU time at batch {batch} (median of 7 runs):");
        println!(
            "{:<32} {:<18} {:>9} {:>7} {:>9}",
            "layer", "kernel", "ms", "share", "GFLOP/s"
        );
    }
    for s in steps {
        let gflops = if s.ms > 0.0 {
            s.flops as f64 / (s.ms / 1e3) / 1e9
        } else {
            0.0
        };
        if json {
            let v = serde_json::json!({"backend": "cpu", "layer": s.op, "kernel": s.kernel, "batch": batch, "ms": s.ms, "gflops": gflops});
            println!("{v}");
        } else {
            let g = if s.flops > 0 {
                format!("{gflops:>9.2}")
            } else {
                format!("{:>9}", "-")
            };
            println!(
                "{:<32} {:<18} {:>9.3} {:>6.1}% {g}",
                s.op,
                s.kernel,
                s.ms,
                100.0 * s.ms / total.max(1e-12)
            );
        }
    }
    if !json {
        println!("{:<32} {:<18} {total:>9.3}", "total", "");
    }
    Ok(())
}
