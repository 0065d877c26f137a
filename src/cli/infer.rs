//! `hourhand infer`: the network over a whole source, written in the community results format
//! (and, optionally, all 36 joints in millimetres), ready for `hourhand eval`.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use glam::Vec3;
use hourhand::data::EVAL_SUBSET;
use hourhand::data::source::{Frame, Source};
use hourhand::estimator::{Centers, Estimate, Estimator, describe_rotations};
use hourhand::eval::results;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::source::{CenterArgs, SourceArgs};
use super::{DeviceArgs, RotationArgs};

#[derive(Debug, Args)]
pub struct InferArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    center: CenterArgs,
    /// Weights file (safetensors); default: the bundled weights (trained on synthetic hands,
    /// compiled into the binary).
    #[arg(long)]
    weights: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    #[command(flatten)]
    rotations: RotationArgs,
    /// Results file to write: one line per frame, the 14 NYU evaluation joints as u v d.
    #[arg(long)]
    out: PathBuf,
    /// Also write all 36 joints per frame as x y z (mm, camera space, y up).
    #[arg(long)]
    out_xyz: Option<PathBuf>,
    /// Frames per network batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Replace existing output files.
    #[arg(long)]
    force: bool,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

/// A batch decoded and centred on the loader thread.
struct Batch {
    frames: Vec<Frame>,
    centers: Vec<Vec3>,
    cubes: Vec<f32>,
}

pub fn run(args: InferArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch > 0, "--batch must be at least 1");
    for path in std::iter::once(&args.out).chain(&args.out_xyz) {
        anyhow::ensure!(
            args.force || !path.exists(),
            "{}: already exists; refusing to overwrite it (pass --force to replace it)",
            path.display()
        );
    }
    let source = args.source.open()?;
    let centers = args.center.centers(source.as_ref())?;
    let refine = args.center.refine(&centers)?;
    let (weights, weights_from) = match &args.weights {
        Some(path) => (
            hourhand::net::Weights::load(path)?,
            path.display().to_string(),
        ),
        None => (
            hourhand::bundled::bundled_weights()?,
            hourhand::bundled::BUNDLED_WEIGHTS_NAME.to_string(),
        ),
    };
    let (mut estimator, placed) = super::estimator(&weights, &args.device)?;
    estimator.set_rotations(args.rotations.rotations)?;
    if !args.quiet {
        eprintln!("source:  {}", source.describe());
        eprintln!("weights: {weights_from}");
        eprintln!("backend: {}", estimator.describe());
        if let Some(why) = &placed {
            eprintln!("         because {why}");
        }
        match refine {
            0 => eprintln!("centres: {}", centers.describe()),
            n => eprintln!(
                "centres: {}, refined by {n} more network pass{}",
                centers.describe(),
                if n == 1 { "" } else { "es" }
            ),
        }
        if estimator.rotations() > 1 {
            eprintln!(
                "rotations: the mean over {} (test-time rotation)",
                describe_rotations(estimator.rotations())
            );
        }
    }
    let estimates = run_all(&args, source.as_ref(), &centers, refine, &mut estimator)?;
    let subset: Vec<results::Frame> = estimates
        .iter()
        .map(|e| EVAL_SUBSET.iter().map(|&i| e.uvd[i].as_dvec3()).collect())
        .collect();
    results::write(&args.out, &subset, args.force)?;
    if let Some(path) = &args.out_xyz {
        let all: Vec<results::Frame> = estimates
            .iter()
            .map(|e| e.xyz.iter().map(|p| p.as_dvec3()).collect())
            .collect();
        results::write(path, &all, args.force)?;
    }
    if !args.quiet {
        eprintln!("wrote {} frames to {}", estimates.len(), args.out.display());
    }
    Ok(())
}

/// Runs every frame through the network; frames are decoded and centred on a loader thread
/// (in parallel) while the previous batch runs.
fn run_all(
    args: &InferArgs,
    source: &dyn Source,
    centers: &Centers,
    refine: usize,
    estimator: &mut Estimator,
) -> anyhow::Result<Vec<Estimate>> {
    let n = source.len();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(n as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  ETA {eta}")
            .expect("a valid template"),
    );
    let start = Instant::now();
    let mut estimates = Vec::with_capacity(n);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = mpsc::sync_channel::<anyhow::Result<Batch>>(2);
        scope.spawn(move || {
            for first in (0..n).step_by(args.batch) {
                let indices: Vec<usize> = (first..(first + args.batch).min(n)).collect();
                let batch = load_batch(args, source, centers, &indices);
                let failed = batch.is_err();
                if tx.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        for batch in rx {
            let batch = batch?;
            let frames: Vec<&Frame> = batch.frames.iter().collect();
            estimates.extend(estimator.estimate_refined(
                &frames,
                &batch.centers,
                &batch.cubes,
                refine,
            )?);
            bar.inc(frames.len() as u64);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    anyhow::ensure!(
        estimates.len() == n,
        "stopped after {} of {n} frames",
        estimates.len()
    );
    if !args.quiet {
        let seconds = start.elapsed().as_secs_f64();
        eprintln!(
            "{n} frames in {seconds:.1} s ({:.1} frames/s, decoding included)",
            n as f64 / seconds
        );
    }
    Ok(estimates)
}

fn load_batch(
    args: &InferArgs,
    source: &dyn Source,
    centers: &Centers,
    indices: &[usize],
) -> anyhow::Result<Batch> {
    let loaded: Vec<(Frame, Vec3, f32)> = indices
        .par_iter()
        .map(|&i| {
            let frame = source.load(i)?;
            let cube = args.center.cube(source, i);
            let center = centers.center(&frame)?;
            Ok((frame, center, cube))
        })
        .collect::<anyhow::Result<_>>()
        .context("reading frames")?;
    let mut batch = Batch {
        frames: Vec::new(),
        centers: Vec::new(),
        cubes: Vec::new(),
    };
    for (frame, center, cube) in loaded {
        batch.frames.push(frame);
        batch.centers.push(center);
        batch.cubes.push(cube);
    }
    Ok(batch)
}
