//! Live mode: a camera played as a sequence whose end keeps growing. While playing, the
//! playhead follows the newest frame and the network runs on whatever is newest when it is free
//! (the pump never queues more than one frame), so the UI never waits on the camera or the
//! network; pausing holds a frame, and the frames still in the camera's ring can be stepped
//! through. The side panel shows the camera's rate, the end-to-end latency and a Record button.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eframe::egui::{self, Color32};

use super::app::ViewerApp;
use super::sequence::Sequence;
use crate::camera::CameraSpec;
use crate::camera::live::LiveSource;
use crate::camera::record::FolderRecorder;
use crate::data::source::Source;

/// A camera the command line opened before the window (so a missing camera is reported
/// there, not in a window), handed to the viewer once.
#[derive(Clone, Default)]
pub struct LiveInput(Arc<Mutex<Option<LiveSource>>>);

impl LiveInput {
    /// Wraps a started camera.
    pub fn new(source: LiveSource) -> LiveInput {
        LiveInput(Arc::new(Mutex::new(Some(source))))
    }

    fn take(&self) -> Option<LiveSource> {
        self.0.lock().expect("live input").take()
    }
}

impl std::fmt::Debug for LiveInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveInput")
    }
}

impl ViewerApp {
    /// Opens the camera the command line started, if any; whether there was one.
    pub(super) fn open_live_input(&mut self) -> bool {
        let Some(source) = self.options.live.as_ref().and_then(LiveInput::take) else {
            return false;
        };
        self.open_live(source);
        true
    }

    /// Opens the camera `spec` names and plays it; on error keeps what was open and says why.
    pub fn open_camera(&mut self, spec: &CameraSpec) {
        match LiveSource::open(spec) {
            Ok(source) => {
                self.open_live(source);
                self.settings.playback.playing = true;
            }
            Err(e) => self.notices.push(format!("Could not open the camera: {e}")),
        }
    }

    /// Plays a camera: the sequence is its ring of newest frames.
    pub fn open_live(&mut self, source: LiveSource) {
        let source = Arc::new(source);
        let ctx = self.ctx.clone();
        source.set_on_frame(move || ctx.request_repaint());
        let path = PathBuf::from(source.name());
        let wake = self.wake();
        self.install_sequence(Sequence::new(path, Box::new(source.clone()), wake));
        self.live = Some(source);
        // From the newest frame. A camera has no annotation, so the pump centres every crop on
        // the detected hand.
        self.settings.playback.index = self.sequence.as_ref().map_or(0, |s| s.len() - 1);
    }

    /// While playing live, the playhead is the newest frame. For a screenshot, it holds the
    /// newest once `live_frames` have arrived.
    pub(super) fn follow_live(&mut self) {
        let Some(live) = &self.live else { return };
        let status = live.live_status();
        if !self.settings.playback.playing {
            return;
        }
        let Some(seq) = &mut self.sequence else {
            return;
        };
        // The newest frame is taken from the camera's ring here, not through the loader
        // thread: the playhead moves on every UI frame, and would never wait for it.
        let newest = seq.len().saturating_sub(1);
        if seq.frame(newest).is_none()
            && let Ok(frame) = seq.source.load(newest)
        {
            seq.insert(newest, Arc::new(frame));
        }
        self.settings.playback.index = newest;
        let stream_done = status.is_some_and(|s| s.ended.is_some());
        if self.options.screenshot.is_some()
            && (seq.len() >= self.options.live_frames || stream_done)
        {
            self.settings.playback.playing = false;
        }
    }

    /// Why the camera stopped sending frames, once it has: shown with the notices but not one
    /// of them (it does not make a screenshot misleading).
    pub fn live_stopped(&self) -> Option<String> {
        let why = self.live.as_ref()?.live_status()?.ended?;
        Some(format!(
            "The camera stopped ({why}); its last frames stay here."
        ))
    }

    /// Why the network could not run on the camera's newest frame tried, while no later frame
    /// has a prediction (a hand out of view): shown in the camera's panel, not as a notice.
    pub fn live_miss(&self) -> Option<String> {
        let (index, why) = self.live_miss.as_ref()?;
        self.latest
            .is_none_or(|l| l < *index)
            .then(|| format!("Frame {}: {why}", index + 1))
    }

    /// Whether a camera is open.
    pub fn is_live(&self) -> bool {
        self.live.is_some()
    }

    /// The camera's rate, latency and recording, in the side panel.
    pub(super) fn live_ui(&mut self, ui: &mut egui::Ui) {
        let Some(live) = self.live.clone() else {
            return;
        };
        let Some(status) = live.live_status() else {
            return;
        };
        if status.recording.is_none() {
            // Recording stopped on its own (the camera ended, or a write failed): say so.
            self.finish_recording(&live);
        }
        ui.strong("Camera");
        let ms = |v: Option<f32>| v.map_or("–".into(), |v| format!("{v:.0} ms"));
        egui::Grid::new("live").num_columns(2).show(ui, |ui| {
            ui.label("Frames received");
            ui.label(status.frames.to_string());
            ui.end_row();
            if self.options.show_timings {
                ui.label("Camera rate");
                ui.label(format!("{:.1} FPS", status.fps));
                ui.end_row();
                ui.label("Frame to skeleton")
                    .on_hover_text("From the frame's arrival to its prediction on screen");
                ui.label(ms(self.timing.live_latency_ms()));
                ui.end_row();
            }
        });
        if let Some(miss) = self.live_miss() {
            ui.label(miss).on_hover_text(
                "The newest frame the network could not be run on; the skeleton shown is the last one found",
            );
        }
        match &status.recording {
            Some((dir, frames)) => {
                ui.horizontal(|ui| {
                    ui.colored_label(Color32::from_rgb(255, 80, 80), "⏺");
                    ui.label(format!("recording {frames} frames to {}", dir.display()));
                });
                if ui.button("Stop recording").clicked() {
                    self.stop_recording();
                }
            }
            None => {
                let prompt = self.record_prompt.get_or_insert_with(default_recording_dir);
                ui.horizontal(|ui| {
                    let label = ui.label("Record to");
                    ui.text_edit_singleline(prompt)
                        .labelled_by(label.id)
                        .on_hover_text("A new or empty folder");
                });
                let enabled = status.ended.is_none();
                let clicked = ui
                    .add_enabled(enabled, egui::Button::new("⏺ Record"))
                    .on_hover_text("Every frame from now on, as 16-bit depth PNGs with intrinsics.json, into a new folder")
                    .clicked();
                if clicked {
                    let dir = PathBuf::from(prompt.trim());
                    self.start_recording(&dir);
                }
            }
        }
        if let Some(note) = &self.record_note {
            ui.weak(note);
        }
    }

    /// Records every frame from now on into `dir`, a new or empty folder; on error says why.
    pub fn start_recording(&mut self, dir: &Path) {
        let Some(live) = &self.live else {
            self.notices
                .push("Nothing to record: no camera is open".into());
            return;
        };
        match FolderRecorder::create(dir, &live.intrinsics(), false) {
            Ok(r) => {
                live.start_recording(r);
                self.record_note = None;
            }
            Err(e) => self.notices.push(format!("Could not record: {e}")),
        }
    }

    /// Ends the recording, if one is running.
    pub fn stop_recording(&mut self) {
        if let Some(live) = self.live.clone() {
            self.finish_recording(&live);
        }
    }

    /// What the last recording wrote ("recorded N frames to DIR…").
    pub fn record_note(&self) -> Option<&str> {
        self.record_note.as_deref()
    }

    fn finish_recording(&mut self, live: &LiveSource) {
        match live.stop_recording() {
            Some(Ok((dir, frames))) => {
                self.record_prompt = None;
                self.record_note = Some(format!(
                    "recorded {frames} frames to {}; open it with File › Open",
                    dir.display()
                ));
            }
            Some(Err(e)) => self.notices.push(format!("Recording failed: {e}")),
            None => {}
        }
    }
}

/// A new folder name in the working directory: `recording-1`, `recording-2`, …
fn default_recording_dir() -> String {
    (1..)
        .map(|i| format!("recording-{i}"))
        .find(|name| !Path::new(name).exists())
        .unwrap_or_else(|| "recording".into())
}
