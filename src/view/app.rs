//! The viewer application: what is open, what the background threads have delivered, and the
//! layout of the window (menu, side panel, timeline, 2D and 3D views).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui;

use crate::data::open::open;
use crate::data::source::{Frame, Source};
use crate::estimator::Estimate;
use crate::gpu::GpuContext;
use crate::net::Weights;

use super::inference::{EngineChoice, InferenceWorker};
use super::methods::Method;
use super::palette;
use super::scene3d::{OrbitCamera, Scene3d, Scene3dRenderer};
use super::scores::{FrameScore, SequenceScores};
use super::screenshot::Screenshot;
use super::sequence::Sequence;
use super::settings::{self, Settings};
use super::timing::Timing;
use crate::bundled::{BUNDLED_WEIGHTS_NAME, bundled_sample, bundled_weights};

use super::options::ViewOptions;

/// A frame's prediction as shown.
pub struct Prediction {
    /// The estimate.
    pub estimate: Estimate,
    /// Its errors against the annotation, when there is one.
    pub score: Option<FrameScore>,
}

/// A run of the network over every frame of the sequence, in the background.
#[derive(Debug, Clone, Default)]
pub struct Sweep {
    /// The next frame to look at.
    pub next: usize,
    /// Whether a frame is with the network.
    pub in_flight: bool,
}

/// Where the network stands.
pub enum EngineState {
    /// Being built (pipelines compile).
    Starting,
    /// Running; the backend described.
    Ready(String),
    /// Could not be built.
    Failed(String),
}

/// Where the network runs: as asked, else on the viewer's device, unless that is a software
/// renderer (lavapipe, llvmpipe, WARP, SwiftShader): the CPU backend runs the network several
/// times faster on the same cores, and leaves the renderer's threads to draw the window. Returns
/// the choice and, when the viewer made it, why.
pub fn choose_engine(
    asked: Option<&EngineChoice>,
    shared: Option<&wgpu::AdapterInfo>,
) -> (EngineChoice, Option<String>) {
    match (asked, shared) {
        (Some(choice), _) => (choice.clone(), None),
        (None, Some(info)) if info.device_type == wgpu::DeviceType::Cpu => {
            let short = info.name.split(" (").next().unwrap_or(&info.name);
            (
                EngineChoice::Cpu,
                Some(format!(
                    "on the CPU: {short} is a software renderer, slower at this than the CPU backend"
                )),
            )
        }
        (None, _) => (EngineChoice::Shared, None),
    }
}

/// The viewer.
pub struct ViewerApp {
    pub(super) options: ViewOptions,
    pub(super) settings: Settings,
    pub(super) shared_gpu: Option<GpuContext>,
    pub(super) sequence: Option<Sequence>,
    pub(super) weights: Arc<Weights>,
    pub(super) weights_name: String,
    pub(super) engine: EngineChoice,
    /// Why the engine was chosen, when the viewer chose it (shown under the selector).
    pub(super) engine_note: Option<String>,
    pub(super) engine_state: EngineState,
    pub(super) generation: u64,
    pub(super) worker: InferenceWorker,
    pub(super) requested: Option<usize>,
    /// The run over every frame, when started.
    pub(super) sweep: Option<Sweep>,
    /// Frames the network could not be run on (no hand found, bad crop): not retried.
    pub(super) failed: std::collections::HashSet<usize>,
    /// Live, the newest frame the network could not be run on and why (a camera's frames
    /// without a hand are routine: shown in the camera's panel, not piled up as notices).
    pub(super) live_miss: Option<(usize, String)>,
    pub(super) ctx: egui::Context,
    pub(super) predictions: HashMap<usize, Prediction>,
    /// The newest prediction received, shown while the current frame's is on its way.
    pub(super) latest: Option<usize>,
    pub(super) ours: SequenceScores,
    pub(super) methods: Vec<(Method, SequenceScores)>,
    pub(super) notices: Vec<String>,
    pub(super) timing: Timing,
    pub(super) shown: Option<Arc<Frame>>,
    pub(super) view2d_texture: Option<(usize, egui::TextureHandle)>,
    /// The network input inset's texture, and which crop it shows.
    pub(super) input_texture: Option<(super::input_inset::InsetKey, egui::TextureHandle)>,
    pub(super) camera: OrbitCamera,
    pub(super) scene: Option<(super::views::SceneKey, Arc<Scene3d>)>,
    pub(super) scene_version: u64,
    pub(super) picks: super::menu::Picks,
    /// The text of the "Open a path…" window, while it is open.
    pub(super) path_prompt: Option<String>,
    pub(super) engine_list: std::cell::OnceCell<Vec<(EngineChoice, String)>>,
    screenshot: Option<Screenshot>,
    /// The camera, while one is open (the sequence plays its frames).
    pub(super) live: Option<Arc<crate::camera::live::LiveSource>>,
    /// The folder the Record button writes to, as typed.
    pub(super) record_prompt: Option<String>,
    /// What the last recording wrote.
    pub(super) record_note: Option<String>,
    /// egui's wgpu state, for the 3D renderer's counts in a benchmark's summary.
    render_state: Option<eframe::egui_wgpu::RenderState>,
    last_frame: Instant,
    started: Instant,
}

impl ViewerApp {
    /// Builds the app inside eframe (or an `egui_kittest` harness).
    pub fn new(cc: &eframe::CreationContext<'_>, options: ViewOptions) -> ViewerApp {
        let settings = match (options.remember, cc.storage) {
            (true, Some(storage)) => eframe::get_value(storage, settings::KEY).unwrap_or_default(),
            _ => Settings::default(),
        };
        let shared_gpu = cc.wgpu_render_state.as_ref().map(|rs| {
            Scene3dRenderer::register(rs);
            GpuContext::from_device(rs.device.clone(), rs.queue.clone(), rs.adapter.get_info())
        });
        let shared_info = shared_gpu.as_ref().map(|g| &g.info);
        let (engine, engine_note) = choose_engine(options.engine.as_ref(), shared_info);
        let ctx = cc.egui_ctx.clone();
        let worker = InferenceWorker::spawn(move || ctx.request_repaint());
        let screenshot = options
            .screenshot
            .as_ref()
            .map(|(path, overwrite)| Screenshot::new(path.clone(), *overwrite));
        let mut app = ViewerApp {
            settings,
            shared_gpu,
            sequence: None,
            weights: Arc::new(bundled_weights().expect("the bundled weights are valid")),
            weights_name: BUNDLED_WEIGHTS_NAME.into(),
            engine,
            engine_note,
            engine_state: EngineState::Starting,
            generation: 0,
            worker,
            requested: None,
            sweep: None,
            failed: Default::default(),
            live_miss: None,
            ctx: cc.egui_ctx.clone(),
            predictions: HashMap::new(),
            latest: None,
            ours: SequenceScores::default(),
            methods: Vec::new(),
            notices: Vec::new(),
            timing: Timing::default(),
            shown: None,
            view2d_texture: None,
            input_texture: None,
            camera: OrbitCamera::looking_at(glam::Vec3::new(0.0, 0.0, 600.0), 450.0),
            scene: None,
            scene_version: 0,
            picks: super::menu::Picks::default(),
            path_prompt: None,
            engine_list: Default::default(),
            screenshot,
            live: None,
            record_prompt: None,
            record_note: None,
            render_state: cc.wgpu_render_state.clone(),
            last_frame: Instant::now(),
            started: Instant::now(),
            options,
        };
        app.settings.playback.playing = app.options.autoplay;
        if let Some(path) = app.options.weights.clone() {
            app.load_weights(&path);
        } else {
            app.restart_engine();
        }
        if !app.open_live_input() {
            match app.options.source.clone().or_else(bundled_sample) {
                Some(path) => app.open_source(&path),
                None => app.notices.push(
                    "No sequence open and the bundled sample is not beside this binary: use File › Open sequence… or drop a folder here.".into(),
                ),
            }
            let len = app.sequence.as_ref().map_or(1, Sequence::len);
            app.settings.playback.index = app.options.start_frame.min(len.saturating_sub(1));
        }
        for path in app.options.results.clone() {
            app.add_results(&path);
        }
        // After opening: a new sequence cancels a sweep.
        if app.options.all_frames {
            app.start_sweep();
        }
        app
    }

    /// Opens an NYU folder or a folder of depth frames; on error keeps what was open.
    pub fn open_source(&mut self, path: &Path) {
        if crate::camera::openni2::is_oni(path) {
            // An OpenNI2 recording plays through OpenNI2, like a camera.
            let uri = path.display().to_string();
            self.open_camera(&crate::camera::CameraSpec::OpenNi2(Some(uri)));
            return;
        }
        let ctx_wake = self.wake();
        // Named relative to the working directory where it lies inside it: shorter on screen,
        // and the same wherever the project is checked out.
        let relative = std::env::current_dir()
            .ok()
            .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
            .filter(|p| !p.as_os_str().is_empty());
        let path = relative.as_deref().unwrap_or(path);
        match open(path, &self.options.open) {
            Ok(source) => {
                Settings::remember(
                    &mut self.settings.recent_sources,
                    &mut self.settings.last_dir,
                    path,
                );
                self.install_sequence(Sequence::new(path.into(), source, ctx_wake));
            }
            Err(e) => self
                .notices
                .push(format!("Could not open the sequence: {e}")),
        }
    }

    /// Shows `sequence` from its first frame, in place of what was open (a camera included).
    pub(super) fn install_sequence(&mut self, sequence: Sequence) {
        if let Some(live) = self.live.take() {
            // A recording in progress ends with its camera.
            live.stop_recording();
        }
        self.sequence = Some(sequence);
        self.settings.playback.index = 0;
        self.forget_predictions();
        self.shown = None;
        // Keyed by frame index, which the new sequence reuses.
        self.view2d_texture = None;
        for (method, scores) in &mut self.methods {
            scores.clear();
            let frames = self.sequence.as_ref().map_or(0, Sequence::len);
            if let Some(w) = method.count_warning(frames) {
                self.notices.push(w);
            }
        }
    }

    /// Loads weights and restarts the network; on error keeps the current ones.
    pub fn load_weights(&mut self, path: &Path) {
        match Weights::load(path) {
            Ok(w) => {
                Settings::remember(
                    &mut self.settings.recent_weights,
                    &mut self.settings.last_dir,
                    path,
                );
                self.weights = Arc::new(w);
                self.weights_name = path.display().to_string();
                self.restart_engine();
            }
            Err(e) => {
                self.notices
                    .push(format!("Could not load the weights: {e}"));
                if self.generation == 0 {
                    // At start there is no network yet: run the bundled one meanwhile.
                    self.restart_engine();
                }
            }
        }
    }

    /// Goes back to the weights compiled into the binary.
    pub fn use_bundled_weights(&mut self) {
        self.weights = Arc::new(bundled_weights().expect("the bundled weights are valid"));
        self.weights_name = BUNDLED_WEIGHTS_NAME.into();
        self.restart_engine();
    }

    /// Adds another method's results file.
    pub fn add_results(&mut self, path: &Path) {
        let colour = palette::method_colour(self.methods.len());
        match Method::load(path, colour) {
            Ok(method) => {
                Settings::remember(
                    &mut self.settings.recent_results,
                    &mut self.settings.last_dir,
                    path,
                );
                if let Some(w) =
                    method.count_warning(self.sequence.as_ref().map_or(0, Sequence::len))
                {
                    self.notices.push(w);
                }
                self.methods.push((method, SequenceScores::default()));
                let scored: Vec<usize> = self.ours.indices().collect();
                for index in scored {
                    self.score_methods(index);
                }
                self.scene = None;
            }
            Err(e) => self.notices.push(format!("Could not add the results: {e}")),
        }
    }

    /// Runs the network where `choice` says.
    pub fn set_engine(&mut self, choice: EngineChoice) {
        self.engine = choice;
        self.engine_note = None;
        self.restart_engine();
    }

    fn restart_engine(&mut self) {
        self.engine_state = EngineState::Starting;
        self.generation = self.worker.set_engine(
            self.engine.clone(),
            self.weights.clone(),
            self.shared_gpu.clone(),
        );
        self.forget_predictions();
    }

    /// Drops every prediction and score (new weights, engine, sequence or crop centring): the
    /// network runs again on what is shown.
    pub(super) fn forget_predictions(&mut self) {
        self.predictions.clear();
        self.latest = None;
        self.requested = None;
        self.sweep = None;
        self.failed.clear();
        self.live_miss = None;
        self.ours.clear();
        for (_, scores) in &mut self.methods {
            scores.clear();
        }
        self.scene = None;
        self.timing.clear_latency();
    }

    pub(super) fn wake(&self) -> impl Fn() + Send + 'static {
        let ctx = self.ctx.clone();
        move || ctx.request_repaint()
    }

    /// The prediction to draw for the frame on screen: its own, else the newest there is.
    pub(super) fn prediction(&self) -> Option<(usize, &Prediction)> {
        let index = self.shown.as_ref()?.index;
        if let Some(p) = self.predictions.get(&index) {
            return Some((index, p));
        }
        let latest = self.latest?;
        self.predictions.get(&latest).map(|p| (latest, p))
    }

    /// Whether `--screenshot` can capture: a frame and its own prediction are on screen.
    fn screenshot_ready(&self) -> Result<bool, String> {
        if let EngineState::Failed(e) = &self.engine_state {
            return Err(format!("the network could not start: {e}"));
        }
        // A file given on the command line that did not load would make a misleading picture.
        if !self.notices.is_empty() || self.sequence.is_none() {
            return Err(self.notices.join("; "));
        }
        if let Some((index, why)) = &self.live_miss
            && self.shown.as_ref().is_some_and(|f| f.index == *index)
        {
            return Err(format!("frame {}: {why}", index + 1));
        }
        let (done, len) = self.coverage();
        let swept = self.sweep.is_none() || done == len;
        // Live, the playhead follows the camera until it holds a frame (follow_live).
        let held = !(self.is_live() && self.settings.playback.playing);
        Ok(self.is_showing_prediction() && swept && held)
    }

    /// How often the 3D view was drawn, and how often a UI frame reused its last drawing
    /// (nothing had changed); `None` without a wgpu renderer.
    pub fn scene_redraws(&self) -> Option<(u64, u64)> {
        let renderer = self.render_state.as_ref()?.renderer.read();
        Some(
            renderer
                .callback_resources
                .get::<Scene3dRenderer>()?
                .redraws(),
        )
    }

    /// [`scene_redraws`](Self::scene_redraws) for a benchmark's summary.
    fn redraw_summary(&self) -> String {
        self.scene_redraws()
            .map_or(String::new(), |(drawn, reused)| {
                format!("; 3D view drawn {drawn} times, reused unchanged {reused} times")
            })
    }

    /// Where the network runs.
    pub fn engine(&self) -> &EngineChoice {
        &self.engine
    }

    fn engine_description(&self) -> String {
        match &self.engine_state {
            EngineState::Ready(d) => d.clone(),
            EngineState::Starting => "an engine still starting".into(),
            EngineState::Failed(e) => format!("a failed engine ({e})"),
        }
    }

    /// Whether a frame and its own prediction are on screen, in 2D and 3D.
    pub fn is_showing_prediction(&self) -> bool {
        self.current_estimate().is_some() && self.scene.is_some()
    }

    /// Messages for the user (errors opening files, frames that failed).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// The frame under the playhead (0-based).
    pub fn frame_index(&self) -> usize {
        self.settings.playback.index
    }

    /// Whether the sequence is playing.
    pub fn is_playing(&self) -> bool {
        self.settings.playback.playing
    }

    /// The estimate for the frame on screen, once the network has given it.
    pub fn current_estimate(&self) -> Option<&Estimate> {
        self.prediction()
            .filter(|(i, _)| Some(*i) == self.shown.as_ref().map(|f| f.index))
            .map(|(_, p)| &p.estimate)
    }

    /// Starts running the network over every frame in the background (the frame on screen
    /// still goes first), so the sequence's mean and curve cover the whole sequence.
    pub fn start_sweep(&mut self) {
        self.sweep = Some(Sweep::default());
    }

    /// Stops the run over every frame.
    pub fn stop_sweep(&mut self) {
        self.sweep = None;
    }

    /// Frames of the sequence the network has been run on (with a prediction or a failure),
    /// and the frame count. During a sweep, the frames its cursor has passed: estimates far from
    /// the playhead are dropped on long sequences, so counting the kept ones would fall short.
    pub fn coverage(&self) -> (usize, usize) {
        let len = self.sequence.as_ref().map_or(0, Sequence::len);
        let done = match &self.sweep {
            Some(sweep) => sweep.next - usize::from(sweep.in_flight),
            None => self.predictions.len() + self.failed.len(),
        };
        (done.min(len), len)
    }

    /// The mean error (mm) over the frames scored so far, and their count.
    pub fn sequence_mean(&mut self) -> Option<(f64, usize)> {
        self.ours.report().map(|r| (r.mean, r.frames))
    }

    /// The 3D camera (tests drive it).
    pub fn camera(&self) -> &OrbitCamera {
        &self.camera
    }
}

impl eframe::App for ViewerApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        let now = Instant::now();
        let dt = now.duration_since(self.last_frame);
        self.last_frame = now;
        self.timing.add_frame(dt, frame.info().cpu_usage);

        let len = self.sequence.as_ref().map_or(0, Sequence::len);
        self.settings.playback.handle_keys(&ctx, len);
        if self.is_live() {
            self.follow_live();
        } else {
            self.settings.playback.advance(dt.as_secs_f64(), len);
        }
        self.take_picks(&ctx);
        self.pump();

        self.menu_bar(ui);
        self.timeline(ui);
        self.side_panel(ui);
        self.views(ui);
        self.path_prompt_ui(&ctx);

        let ready = self.screenshot_ready();
        if let Some(shot) = &mut self.screenshot {
            shot.update(&ctx, ready);
        }
        if let Some(limit) = self.options.benchmark
            && self.started.elapsed() >= limit
        {
            let camera = self
                .live
                .as_ref()
                .and_then(|l| l.live_status())
                .map_or(String::new(), |s| {
                    format!("; camera: {} frames, {:.1} FPS at the end", s.frames, s.fps)
                });
            eprintln!(
                "viewer, {:.0} s on {}: {}{}{camera}",
                limit.as_secs_f64(),
                self.engine_description(),
                self.timing.summary(),
                self.redraw_summary()
            );
            self.options.benchmark = None;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
        }
        if self.settings.playback.playing && !self.is_live() {
            ctx.request_repaint_after(Duration::from_secs_f64(self.settings.playback.until_next()));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.options.remember {
            eframe::set_value(storage, settings::KEY, &self.settings);
        }
    }

    fn persist_egui_memory(&self) -> bool {
        self.options.remember
    }
}

impl ViewerApp {
    /// Where a `--screenshot` run leaves its outcome.
    pub fn screenshot_outcome(&self) -> Option<super::screenshot::Outcome> {
        self.screenshot.as_ref().map(|s| s.outcome.clone())
    }
}
