//! `hourhand record`: a depth camera to an NYU-style folder of depth PNGs that `view`, `infer`
//! and `train` open later.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hourhand::camera::record::FolderRecorder;
use hourhand::camera::{CameraSpec, open_camera};

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The camera: freenect[:N] (Kinect v1), openni2[:URI] (PrimeSense, Xtion, Astra, or a
    /// .oni file), or auto (the first found; `hourhand info` lists them).
    #[arg(long, default_value = "auto")]
    camera: CameraSpec,
    /// The folder to write: depth_1_0000001.png, … (16-bit, mm), intrinsics.json and
    /// timestamps.csv. Must not exist or be empty, unless --force.
    #[arg(long)]
    out: PathBuf,
    /// Stop after this many frames.
    #[arg(long, conflicts_with = "seconds", value_parser = clap::value_parser!(u64).range(1..))]
    frames: Option<u64>,
    /// Stop after this many seconds. Without --frames or --seconds, records until the camera
    /// stops or Ctrl-C; every frame written before then is kept.
    #[arg(long)]
    seconds: Option<f64>,
    /// Record into a folder that is not empty, replacing frames of the same name.
    #[arg(long)]
    force: bool,
}

pub fn run(args: RecordArgs) -> anyhow::Result<()> {
    if let Some(s) = args.seconds {
        anyhow::ensure!(
            s.is_finite() && s > 0.0,
            "--seconds {s}: expected a positive number"
        );
    }
    let mut camera = open_camera(&args.camera)?;
    let mut recorder = FolderRecorder::create(&args.out, &camera.intrinsics(), args.force)?;
    eprintln!(
        "recording {} to {}{}",
        camera.describe(),
        args.out.display(),
        match (args.frames, args.seconds) {
            (Some(n), _) => format!(" ({n} frames)"),
            (_, Some(s)) => format!(" ({s} s)"),
            _ => " (until Ctrl-C)".into(),
        }
    );
    let started = Instant::now();
    let deadline = args.seconds.map(|s| started + Duration::from_secs_f64(s));
    let mut ended = None;
    loop {
        if args.frames.is_some_and(|n| recorder.len() as u64 >= n)
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        let wait = deadline.map_or(Duration::from_millis(500), |d| {
            d.saturating_duration_since(Instant::now())
                .min(Duration::from_millis(500))
        });
        match camera.next_frame(wait) {
            Ok(Some(frame)) => recorder
                .push(&frame)
                .with_context(|| format!("recording to {}", args.out.display()))?,
            Ok(None) => {}
            Err(e) => {
                ended = Some(e);
                break;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (dir, frames) = recorder.finish()?;
    eprintln!(
        "recorded {frames} frames in {elapsed:.1} s ({:.1} FPS) to {}",
        frames as f64 / elapsed.max(1e-9),
        dir.display()
    );
    match ended {
        // A camera that stops before what was asked is an error; one that stops when nothing
        // was asked ends the recording.
        Some(e) if args.frames.is_some() || args.seconds.is_some() || frames == 0 => {
            Err(anyhow::Error::new(e).context(format!(
                "the camera stopped after {frames} frames; they are in {}",
                dir.display()
            )))
        }
        Some(e) => {
            eprintln!("{e}");
            Ok(())
        }
        None => Ok(()),
    }
}
