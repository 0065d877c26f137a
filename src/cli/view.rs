//! `hourhand view` (and `hourhand` alone): the desktop viewer.

use std::path::PathBuf;

use clap::Args;
use hourhand::camera::live::LiveSource;
use hourhand::camera::{CameraSpec, openni2};
use hourhand::data::{Intrinsics, OpenOptions};
use hourhand::run::Backend;
use hourhand::view::inference::EngineChoice;
use hourhand::view::{LiveInput, ViewOptions, run};

use super::{DeviceArgs, RotationArgs};

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// An NYU dataset or split folder, a fakenect dump, or a folder of depth PNGs; default: the
    /// bundled sample.
    source: Option<PathBuf>,
    /// Play a depth camera live instead: freenect[:N] (Kinect v1), openni2[:URI] (PrimeSense,
    /// Xtion, Astra), or alone for the first found (`hourhand info` lists them).
    #[arg(long, value_name = "CAMERA", num_args = 0..=1, default_missing_value = "auto", conflicts_with = "source")]
    camera: Option<CameraSpec>,
    /// Weights (safetensors); default: the bundled weights, trained on synthetic hands.
    #[arg(long)]
    weights: Option<PathBuf>,
    /// Another method's results file to compare with (14 NYU joints as u v d per line); repeat
    /// for several.
    #[arg(long = "pred", value_name = "RESULTS")]
    results: Vec<PathBuf>,
    /// NYU: which split of a dataset folder.
    #[arg(long, value_parser = ["test", "train"])]
    split: Option<String>,
    /// NYU: which kinect (1 is the frontal view of the standard protocol).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=3))]
    kinect: u32,
    /// Frame folders: ground truth, a results-format file (14 joints × u v d per line).
    #[arg(long)]
    gt: Option<PathBuf>,
    /// Frame folders: the camera's intrinsics as fx,fy,cx,cy (pixels); overrides
    /// intrinsics.json.
    #[arg(long, value_name = "FX,FY,CX,CY", value_parser = parse_intrinsics)]
    intrinsics: Option<Intrinsics>,
    /// The first frame shown (1-based).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    frame: u64,
    /// Run the network over every frame from the start, so the sequence's mean and success
    /// curve cover all of it (a screenshot waits for it).
    #[arg(long)]
    all_frames: bool,
    /// Start paused (the viewer plays the sequence when it opens).
    #[arg(long)]
    paused: bool,
    /// Network passes after the first that re-centre a detected crop on the palm the previous
    /// pass predicted, as `infer --refine` (cameras and unannotated frames are always
    /// detected). Each pass costs one more network run a frame; 0 for the fastest live view.
    #[arg(long, default_value_t = hourhand::estimator::REFINE_PASSES, value_name = "N")]
    refine: usize,
    /// Render the window once the frame and its prediction are shown, write it to this PNG and
    /// exit (under Xvfb where there is no screen).
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
    /// Play for this many seconds, print the UI's frame times and the inference latency, and
    /// exit.
    #[arg(long, value_name = "SECONDS")]
    benchmark: Option<f64>,
    /// With --camera and --screenshot: follow the camera for this many frames, then hold the
    /// newest and take the screenshot once its prediction is shown.
    #[arg(long, default_value_t = 30, value_name = "N")]
    live_frames: usize,
    /// Replace an existing screenshot file.
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    rotations: RotationArgs,
    #[command(flatten)]
    device: DeviceArgs,
}

fn parse_intrinsics(s: &str) -> Result<Intrinsics, String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|p| p.trim().parse::<f64>().map_err(|e| format!("{p:?}: {e}")))
        .collect::<Result<_, _>>()?;
    let [fx, fy, cx, cy] = v[..] else {
        return Err(format!("expected 4 numbers fx,fy,cx,cy, found {}", v.len()));
    };
    let k = Intrinsics { fx, fy, cx, cy };
    k.validate("--intrinsics").map_err(|e| e.to_string())?;
    Ok(k)
}

pub fn run_view(args: ViewArgs) -> anyhow::Result<()> {
    let device = args.device;
    // A backend or adapter asked for runs the network; otherwise the viewer chooses.
    let engine = match (device.backend, &device.adapter) {
        (Some(Backend::Cpu), _) => Some(EngineChoice::Cpu),
        (Some(_), _) | (None, Some(_)) => Some(EngineChoice::Shared),
        (None, None) => None,
    };
    let mut request = device.request();
    if engine == Some(EngineChoice::Cpu) {
        // The window still needs a device to draw with: any will do.
        request.backends = None;
    }
    let screenshot = args.screenshot.map(|p| (p, args.force));
    // An OpenNI2 recording plays through OpenNI2, like a camera.
    let (source, camera) = match (args.source, args.camera) {
        (Some(path), None) if openni2::is_oni(&path) => (
            None,
            Some(CameraSpec::OpenNi2(Some(path.display().to_string()))),
        ),
        other => other,
    };
    // The camera opens before the window, so a missing one is said here.
    let live = match &camera {
        Some(spec) => Some(LiveInput::new(LiveSource::open(spec)?)),
        None => None,
    };
    let is_live = live.is_some();
    let options = ViewOptions {
        source,
        live,
        open: OpenOptions {
            split: args.split,
            kinect: args.kinect,
            intrinsics: args.intrinsics,
            ground_truth: args.gt,
        },
        weights: args.weights,
        results: args.results,
        engine,
        start_frame: (args.frame - 1) as usize,
        // A camera plays (follows its newest frame) even for a screenshot, until --live-frames.
        autoplay: !args.paused && (screenshot.is_none() || is_live),
        live_frames: args.live_frames,
        all_frames: args.all_frames,
        refine: args.refine,
        rotations: args.rotations.rotations,
        show_timings: true,
        remember: screenshot.is_none() && args.benchmark.is_none(),
        benchmark: args
            .benchmark
            .map(|s| std::time::Duration::from_secs_f64(s.max(0.0))),
        screenshot,
    };
    if let Some(path) = run(options, request)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
