//! `hourhand info`: adapters, the choice among them, and the network.

use clap::Args;
use hourhand::gpu::kernels::KernelSet;
use hourhand::gpu::schedule::schedule;
use hourhand::gpu::{self, GpuContext};
use hourhand::net::Network;

use super::{DeviceArgs, WeightsArgs};

#[derive(Debug, Args)]
pub struct InfoArgs {
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    weights: WeightsArgs,
}

impl Default for InfoArgs {
    fn default() -> Self {
        Self {
            device: DeviceArgs {
                backend: None,
                adapter: None,
            },
            weights: WeightsArgs { weights: None },
        }
    }
}

pub fn run(args: InfoArgs) -> anyhow::Result<()> {
    let adapters = gpu::list_adapters(&args.device.request());
    println!("GPU adapters found by wgpu: {}", adapters.len());
    for a in &adapters {
        println!(
            "  - {a}{}",
            if a.timestamps {
                ", timestamp queries"
            } else {
                ""
            }
        );
    }
    if args.device.is_cpu() {
        println!(
            "backend: CPU ({} threads; --backend cpu)",
            rayon::current_num_threads()
        );
    } else {
        match GpuContext::new(&args.device.request()) {
            Ok(ctx) => {
                println!("picked: {}", ctx.summary());
                println!("  because: {}", ctx.reason);
                if let Some(why) = args.device.software_fallback(&ctx.info) {
                    println!("  infer and train: on the CPU backend, because {why}");
                }
                let l = ctx.device.limits();
                println!(
                    "  limits: {} storage buffers per stage, {} MiB per binding, {} invocations per workgroup",
                    l.max_storage_buffers_per_shader_stage,
                    l.max_storage_buffer_binding_size >> 20,
                    l.max_compute_invocations_per_workgroup
                );
                println!(
                    "  per-layer timing: {}",
                    if ctx.has_timestamps() {
                        "available (bench --per-layer)"
                    } else {
                        "not available"
                    }
                );
                let f = ctx.adapter_features;
                let yes = |feature| if f.contains(feature) { "yes" } else { "no" };
                let sets: Vec<&str> = KernelSet::ALL.iter().map(|k| k.name()).collect();
                println!(
                    "  kernels: {} (bench --kernels {} forces a set)",
                    ctx.kernels,
                    sets.join("|")
                );
                println!(
                    "  adapter features: shader-f16 {}, subgroups {} (sizes {}–{}), pipeline cache {}",
                    yes(wgpu::Features::SHADER_F16),
                    yes(wgpu::Features::SUBGROUP),
                    ctx.info.subgroup_min_size,
                    ctx.info.subgroup_max_size,
                    yes(wgpu::Features::PIPELINE_CACHE)
                );
                match &ctx.pipeline_cache {
                    Some(cache) => {
                        let size = std::fs::metadata(cache.path()).map(|m| m.len());
                        println!(
                            "  compiled kernels kept in: {} ({}; HOURHAND_PIPELINE_CACHE=off turns it off)",
                            cache.path().display(),
                            match size {
                                Ok(bytes) => format!("{bytes} bytes"),
                                Err(_) => "not written yet".to_string(),
                            }
                        );
                    }
                    None => println!("  compiled kernels kept: no (the driver's own cache only)"),
                }
            }
            Err(e) => {
                println!("picked: none — {e}\n  the CPU backend still works: --backend cpu")
            }
        }
    }

    print_cameras();
    let (weights, source) = args.weights.load()?;
    let net = Network::from_weights(&weights);
    let c = &weights.config;
    println!("network: local regression based hourglass network");
    println!("  weights: {source}");
    // Fresh weights have learned no convention yet.
    if args.weights.weights.is_some() {
        println!(
            "  labels: {} ({})",
            weights.labels.name(),
            weights.labels.describe()
        );
    }
    println!(
        "  input {s}×{s}; stem {}; residual {}→{}; hourglass order {} at {h}×{h}, {} features; {}×{} patches of {p}×{p}×{}; FC {}×{} → {} → {} ({} joints × 3)",
        c.stem_channels,
        c.res1_channels,
        c.features,
        c.hourglass_order,
        c.features,
        c.patch_grid,
        c.patch_grid,
        c.head_channels,
        c.patch_grid * c.patch_grid,
        c.local_features,
        c.global_features,
        c.outputs(),
        c.joints,
        s = c.input_size,
        h = c.hourglass_size(),
        p = c.patch_size(),
    );
    println!(
        "  parameters: {} ({:.2} M, batch-norm statistics included)",
        weights.parameter_count(),
        weights.parameter_count() as f64 / 1e6
    );
    println!(
        "  compute: {:.3} GFLOP per frame ({:.3} GMAC); {} ops after folding batch norm ({} before)",
        net.flops_per_frame() as f64 / 1e9,
        net.flops_per_frame() as f64 / 2e9,
        net.program.ops.len(),
        hourhand::net::Program::lrhn(c)
            .map(|p| p.ops.len())
            .unwrap_or(0)
    );
    let counts: Vec<(KernelSet, usize)> = KernelSet::ALL
        .iter()
        .filter_map(|&set| {
            let nodes = schedule(&net.program, 1, set).ok()?;
            Some((set, nodes.iter().map(|n| n.dispatches.len()).sum()))
        })
        .collect();
    let counts = match counts.as_slice() {
        [(_, n), rest @ ..] if rest.iter().all(|(_, m)| m == n) => {
            format!("{n} on every kernel set")
        }
        _ => counts
            .iter()
            .map(|(set, n)| format!("{n} ({set})"))
            .collect::<Vec<_>>()
            .join(", "),
    };
    println!(
        "  GPU dispatches per batch, with affines, sums and poolings fused into convolutions: {counts}"
    );
    Ok(())
}

/// The depth cameras each library finds, or why it could not look.
fn print_cameras() {
    println!("depth cameras (hourhand view --camera SPEC, hourhand record --camera SPEC):");
    for (library, found) in hourhand::camera::list_cameras() {
        match found {
            Ok(cameras) if cameras.is_empty() => println!("  {library}: none connected"),
            Ok(cameras) => {
                for c in cameras {
                    println!("  {}: {} ({library})", c.spec, c.name);
                }
            }
            Err(e) => println!("  {library}: {e}"),
        }
    }
}
