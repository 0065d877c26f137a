//! What the viewer is asked to show when it starts (the command line's `view` options).

use std::path::PathBuf;
use std::time::Duration;

use crate::data::open::OpenOptions;

use super::inference::EngineChoice;

/// What the viewer is asked to show at start.
#[derive(Debug, Clone)]
pub struct ViewOptions {
    /// The sequence; `None` opens the bundled sample.
    pub source: Option<PathBuf>,
    /// A camera to play live instead (started by the command line).
    pub live: Option<super::live::LiveInput>,
    /// How to open it (NYU split and kinect).
    pub open: OpenOptions,
    /// Weights; `None` uses the bundled ones.
    pub weights: Option<PathBuf>,
    /// Other methods' results files.
    pub results: Vec<PathBuf>,
    /// Where the network runs; `None`: the viewer's device, or the CPU backend when that device
    /// is a software renderer (see `app::choose_engine`).
    pub engine: Option<EngineChoice>,
    /// The first frame shown (0-based).
    pub start_frame: usize,
    /// Start playing.
    pub autoplay: bool,
    /// Run the network over every frame from the start (a screenshot then waits for it).
    pub all_frames: bool,
    /// Network passes after the first that re-centre a detected crop on the predicted palm
    /// ([`crate::estimator::Estimator::estimate_refined`]).
    pub refine: usize,
    /// Test-time rotation: crops per frame the estimate averages over (1: off;
    /// [`crate::estimator::Estimator::set_rotations`]); the panel changes it.
    pub rotations: usize,
    /// Show measured times (off for pixel-exact snapshots, whose times would differ per run).
    pub show_timings: bool,
    /// Live mode with a screenshot: follow the camera for this many frames first.
    pub live_frames: usize,
    /// Capture the window to this PNG once ready, then close; `true` replaces an existing file.
    pub screenshot: Option<(PathBuf, bool)>,
    /// Read and write the remembered settings.
    pub remember: bool,
    /// Play for this long, print the measured times, and close.
    pub benchmark: Option<Duration>,
}

impl Default for ViewOptions {
    fn default() -> Self {
        ViewOptions {
            source: None,
            live: None,
            open: OpenOptions::default(),
            weights: None,
            results: Vec::new(),
            engine: None,
            start_frame: 0,
            autoplay: false,
            all_frames: false,
            refine: crate::estimator::REFINE_PASSES,
            rotations: 1,
            show_timings: true,
            live_frames: 0,
            screenshot: None,
            remember: true,
            benchmark: None,
        }
    }
}
