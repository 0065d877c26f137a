//! Subcommands and the options they share.

mod bench;
mod curve;
mod eval;
mod export;
mod infer;
mod info;
mod init;
mod record;
mod source;
mod synth;
mod train;
mod view;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hourhand::cpu::fast::FastNet;
use hourhand::estimator::{Engine, Estimator};
use hourhand::gpu::{AdapterRequest, GpuContext, GpuNet};
use hourhand::net::{NetConfig, Network, Weights};
use hourhand::run::Backend;

/// Hand pose from a single depth image: the local regression based hourglass network on wgpu.
#[derive(Debug, Parser)]
#[command(name = "hourhand", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List GPU adapters, say which one hourhand picks and why, and describe the network.
    Info(info::InfoArgs),
    /// Time the network on the GPU and CPU backends at several batch sizes.
    Bench(bench::BenchArgs),
    /// Write freshly initialized weights.
    Init(init::InitArgs),
    /// Write a weights file as an ONNX model (opset 17, dynamic batch) for other runtimes.
    Export(export::ExportArgs),
    /// Score results files against the ground truth: mean, per-subject and per-joint errors,
    /// success rates; optionally plot them.
    Eval(eval::EvalArgs),
    /// Run the network over a source and write its predictions in the results format.
    Infer(infer::InferArgs),
    /// Record a depth camera to a folder of depth PNGs that view, infer and train open.
    Record(record::RecordArgs),
    /// Write a synthetic NYU-format dataset of articulated hands.
    Synth(synth::SynthArgs),
    /// Train the network: MSE, smooth L1 or max-out smooth L1 phases, on the GPU or CPU.
    Train(train::TrainArgs),
    /// Compare training runs: their log.csv as a table, and with --plot validation error and
    /// training loss per epoch as an image.
    Curve(curve::CurveArgs),
    /// The viewer: predictions over ground truth in 2D and 3D (what `hourhand` alone opens).
    View(view::ViewArgs),
}

/// What a command that was told to use a GPU says when there is none to be had.
const NO_GPU: &str = "no GPU device (use --backend cpu for the CPU backend)";

/// `--backend` and `--adapter`, on every command that computes.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// Compute backend; default: the best GPU adapter on any backend, or the CPU backend where
    /// that adapter is a software renderer (lavapipe, llvmpipe, WARP) or there is none.
    #[arg(long, env = "WGPU_BACKEND", value_enum)]
    pub backend: Option<Backend>,
    /// Use the first adapter whose name contains this (case-insensitive).
    #[arg(long, env = "WGPU_ADAPTER_NAME")]
    pub adapter: Option<String>,
}

impl DeviceArgs {
    /// Whether the CPU backend was asked for instead of a GPU.
    pub fn is_cpu(&self) -> bool {
        self.backend == Some(Backend::Cpu)
    }

    /// The adapter request for wgpu.
    pub fn request(&self) -> AdapterRequest {
        AdapterRequest {
            backends: self.backend.and_then(Backend::wgpu_backends),
            adapter: self.adapter.clone(),
        }
    }

    /// Creates the GPU context.
    pub fn gpu(&self) -> anyhow::Result<GpuContext> {
        GpuContext::new(&self.request()).context(NO_GPU)
    }

    /// Whether a backend or an adapter was named (on the command line or in the environment).
    fn named(&self) -> bool {
        self.backend.is_some() || self.adapter.is_some()
    }

    /// Why the network runs on the CPU backend instead of `adapter`, when nothing was named and
    /// it is a software renderer; `None` otherwise.
    pub fn software_fallback(&self, adapter: &wgpu::AdapterInfo) -> Option<String> {
        if self.named() || adapter.device_type != wgpu::DeviceType::Cpu {
            return None;
        }
        let short = adapter.name.split(" (").next().unwrap_or(&adapter.name);
        Some(format!(
            "the best GPU adapter, {short}, is a software renderer: the CPU backend runs and \
             trains the network several times faster on the same cores (name the adapter with \
             --backend or --adapter to use it anyway)"
        ))
    }

    /// Where the network runs: as asked; with nothing asked (no `--backend`, `--adapter` or
    /// their environment variables), on the best GPU, unless that is a software renderer
    /// (lavapipe, llvmpipe, WARP: the CPU backend runs and trains the network several times
    /// faster on the same cores) or there is none. The viewer chooses the same way
    /// (`view::app::choose_engine`).
    pub fn place(&self) -> anyhow::Result<Placement> {
        if self.is_cpu() {
            return Ok(Placement::Cpu { why: None });
        }
        let named = self.named();
        match GpuContext::new(&self.request()) {
            Ok(ctx) => Ok(match self.software_fallback(&ctx.info) {
                Some(why) => Placement::Cpu { why: Some(why) },
                None => Placement::Gpu(Box::new(ctx)),
            }),
            Err(hourhand::gpu::ContextError::NoAdapter { .. }) if !named => Ok(Placement::Cpu {
                why: Some("wgpu found no GPU adapter".into()),
            }),
            Err(e) if !named => Ok(Placement::Cpu {
                why: Some(format!("the GPU could not be used: {e}")),
            }),
            Err(e) => Err(anyhow::Error::new(e).context(NO_GPU)),
        }
    }
}

/// Test-time rotation, for the commands that run the network on frames.
#[derive(Debug, Clone, Copy, Args)]
pub struct RotationArgs {
    /// Test-time rotation: average the network over N crops of each frame turned 0°, ±15°,
    /// ±30° … and turned back (odd, at most 13; 1 is off). Each crop is one more network run.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = parse_rotations)]
    pub rotations: usize,
}

fn parse_rotations(s: &str) -> Result<usize, String> {
    let count: usize = s.parse().map_err(|e| format!("{s:?}: {e}"))?;
    hourhand::estimator::rotation_angles(count).map_err(|e| e.to_string())?;
    Ok(count)
}

/// Where [`DeviceArgs::place`] put the network.
pub enum Placement {
    /// On the CPU backend; when it was not asked for, why.
    Cpu {
        /// Why the CPU backend, when the user did not ask for it.
        why: Option<String>,
    },
    /// On this GPU.
    Gpu(Box<GpuContext>),
}

/// `--weights`, on every command that runs the network.
#[derive(Debug, Clone, Args)]
pub struct WeightsArgs {
    /// Weights file (safetensors); default: freshly initialized paper-sized weights (seed 1).
    #[arg(long)]
    pub weights: Option<PathBuf>,
}

impl WeightsArgs {
    /// Loads the weights, or initializes the default network; also returns where they came from.
    pub fn load(&self) -> anyhow::Result<(Weights, String)> {
        match &self.weights {
            Some(path) => Ok((Weights::load(path)?, path.display().to_string())),
            None => Ok((
                Weights::init(&NetConfig::default(), 1)?,
                "freshly initialized (seed 1)".into(),
            )),
        }
    }
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Info(args)) => info::run(args),
        Some(Command::Bench(args)) => bench::run(args),
        Some(Command::Init(args)) => init::run(args),
        Some(Command::Export(args)) => export::run(args),
        Some(Command::Eval(args)) => eval::run(args),
        Some(Command::Infer(args)) => infer::run(args),
        Some(Command::Record(args)) => record::run(args),
        Some(Command::Synth(args)) => synth::run(args),
        Some(Command::Train(args)) => train::run(args),
        Some(Command::Curve(args)) => curve::run(args),
        Some(Command::View(args)) => view::run_view(args),
        // The viewer is the main job: on the bundled sample with the bundled weights.
        None => match Cli::parse_from(["hourhand", "view"]).command {
            Some(Command::View(args)) => view::run_view(args),
            _ => unreachable!("`hourhand view` parses as the view command"),
        },
    }
}

/// The network of `weights` where `device` places it, ready for frames; when it was placed on
/// the CPU without being asked, also why.
pub fn estimator(
    weights: &Weights,
    device: &DeviceArgs,
) -> anyhow::Result<(Estimator, Option<String>)> {
    let network = Network::from_weights(weights);
    let (engine, why) = match device.place()? {
        Placement::Cpu { why } => (Engine::Cpu(Box::new(FastNet::from_network(&network))), why),
        Placement::Gpu(ctx) => (
            Engine::Gpu(Box::new(GpuNet::from_network(*ctx, &network)?)),
            None,
        ),
    };
    Ok((Estimator::new(engine, weights.labels)?, why))
}

/// The training engine for `weights` at `batch` where `device` places it; when it was placed
/// on the CPU without being asked, also why.
pub fn train_engine(
    device: &DeviceArgs,
    weights: &Weights,
    batch: usize,
) -> anyhow::Result<(Box<dyn hourhand::train::engine::Engine>, Option<String>)> {
    use hourhand::train::engine::{CpuEngine, GpuEngine};
    Ok(match device.place()? {
        Placement::Cpu { why } => (Box::new(CpuEngine::new(weights)), why),
        Placement::Gpu(ctx) => (Box::new(GpuEngine::new(*ctx, weights, batch)?), None),
    })
}
