//! `--screenshot out.png`: once a frame and its prediction are on screen, capture the window,
//! write the PNG and close (for docs and CI, e.g. under Xvfb).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::files::{png_bytes, write_atomic};

/// Frames drawn with everything in place before the capture, so late layout settles.
const SETTLE_FRAMES: u32 = 3;

/// How long to wait for the first frame and its prediction before giving up.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// Where a screenshot went (or why none was taken), once the run is over.
pub type Outcome = Arc<Mutex<Option<Result<PathBuf, String>>>>;

/// Where a screenshot run stands.
pub struct Screenshot {
    path: PathBuf,
    overwrite: bool,
    started: Instant,
    settled: u32,
    requested: bool,
    /// Filled in by the capture callback; read by the launcher after the window closes.
    pub outcome: Outcome,
}

impl Screenshot {
    /// A capture to `path`, replacing an existing file only when `overwrite`.
    pub fn new(path: PathBuf, overwrite: bool) -> Screenshot {
        Screenshot {
            path,
            overwrite,
            started: Instant::now(),
            settled: 0,
            requested: false,
            outcome: Arc::new(Mutex::new(None)),
        }
    }

    /// Called every frame with whether the data and the prediction are on screen (or
    /// `Some(error)` when they never will be): requests the capture when ready and closes the
    /// window once the file is written.
    pub fn update(&mut self, ctx: &egui::Context, ready: Result<bool, String>) {
        if self.outcome.lock().expect("screenshot lock").is_some() {
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if self.requested {
            ctx.request_repaint();
            return;
        }
        let ready = match ready {
            Ok(r) => r,
            Err(e) => return self.finish(ctx, Err(e)),
        };
        if !ready {
            self.settled = 0;
            if self.started.elapsed() > PATIENCE {
                let e = format!(
                    "no frame with a prediction on screen after {} s; nothing written to {}",
                    PATIENCE.as_secs(),
                    self.path.display()
                );
                self.finish(ctx, Err(e));
            }
            ctx.request_repaint_after(Duration::from_millis(50));
            return;
        }
        self.settled += 1;
        if self.settled < SETTLE_FRAMES {
            ctx.request_repaint();
            return;
        }
        self.requested = true;
        let (path, overwrite, outcome, waker) = (
            self.path.clone(),
            self.overwrite,
            self.outcome.clone(),
            ctx.clone(),
        );
        ctx.request_screenshot(move |image| {
            let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
            let [w, h] = image.size;
            let bytes = png_bytes(
                w as u32,
                h as u32,
                png::ColorType::Rgba,
                png::BitDepth::Eight,
                &rgba,
                png::Compression::Balanced,
            );
            let result = write_atomic(&path, &bytes, overwrite)
                .map(|()| path.clone())
                .map_err(|e| e.to_string());
            *outcome.lock().expect("screenshot lock") = Some(result);
            waker.request_repaint();
        });
    }

    fn finish(&mut self, ctx: &egui::Context, result: Result<PathBuf, String>) {
        *self.outcome.lock().expect("screenshot lock") = Some(result);
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }
}
