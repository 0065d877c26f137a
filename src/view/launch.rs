//! Opening the viewer's window: the wgpu renderer on the adapter the user asked for, the
//! remembered window size, and a clear message where there is no display to open it on.

use std::path::PathBuf;

use eframe::egui;

use super::app::ViewerApp;
use super::options::ViewOptions;
use crate::gpu::AdapterRequest;

/// Why the viewer could not run.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// No X11 or Wayland display.
    #[error(
        "no display to open the viewer's window on (DISPLAY and WAYLAND_DISPLAY are unset).\n  To render it without a screen, run it under Xvfb and save a screenshot:\n    xvfb-run -a hourhand view [SOURCE] --screenshot viewer.png\n  For predictions without a window: hourhand infer SOURCE --out results.txt"
    )]
    NoDisplay,
    /// The screenshot file exists.
    #[error("{0}: exists; pass --force to replace it")]
    ScreenshotExists(PathBuf),
    /// The window could not be opened or failed.
    #[error(
        "the viewer's window failed: {0}\n  Without a usable display, render it under Xvfb: xvfb-run -a hourhand view [SOURCE] --screenshot viewer.png\n  For predictions without a window: hourhand infer SOURCE --out results.txt"
    )]
    Window(String),
    /// `--screenshot` could not be taken.
    #[error("no screenshot taken: {0}")]
    Screenshot(String),
}

/// The window's size at first start (later runs remember the user's).
const INITIAL_SIZE: [f32; 2] = [1440.0, 880.0];

/// Runs the viewer until its window closes; with a screenshot, returns where it was written.
///
/// `device` picks the viewer's wgpu adapter (the one the network shares by default): its
/// backends, and the first adapter whose name contains its `adapter`.
pub fn run(options: ViewOptions, device: AdapterRequest) -> Result<Option<PathBuf>, ViewError> {
    let has_display = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()));
    if cfg!(target_os = "linux") && !has_display {
        return Err(ViewError::NoDisplay);
    }
    if let Some((path, false)) = &options.screenshot
        && path.exists()
    {
        return Err(ViewError::ScreenshotExists(path.clone()));
    }
    let screenshot = options.screenshot.is_some();
    let mut native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("hourhand")
            .with_app_id("hourhand")
            .with_inner_size(INITIAL_SIZE)
            .with_min_inner_size([640.0, 420.0])
            .with_drag_and_drop(true),
        renderer: eframe::Renderer::Wgpu,
        // A screenshot is taken at the initial size, whatever a user's last window was.
        persist_window: !screenshot,
        ..Default::default()
    };
    let eframe::egui_wgpu::WgpuSetup::CreateNew(setup) = &mut native.wgpu_options.wgpu_setup else {
        unreachable!("eframe's default wgpu setup creates a device");
    };
    if let Some(backends) = device.backends {
        setup.instance_descriptor.backends = backends;
    }
    if let Some(name) = device.adapter {
        let wanted = name.to_lowercase();
        setup.native_adapter_selector = Some(std::sync::Arc::new(move |adapters, _surface| {
            adapters
                .iter()
                .find(|a| a.get_info().name.to_lowercase().contains(&wanted))
                .cloned()
                .ok_or_else(|| {
                    let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
                    format!(
                        "no adapter named like {name:?}; there are: {}",
                        names.join(", ")
                    )
                })
        }));
    }
    let outcome = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = outcome.clone();
    eframe::run_native(
        "hourhand",
        native,
        Box::new(move |cc| {
            let app = ViewerApp::new(cc, options);
            if let Some(o) = app.screenshot_outcome() {
                *slot.lock().expect("outcome lock") = Some(o);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| ViewError::Window(e.to_string()))?;
    let taken = outcome.lock().expect("outcome lock").take();
    match taken {
        None => Ok(None),
        Some(o) => match o.lock().expect("screenshot lock").take() {
            Some(Ok(path)) => Ok(Some(path)),
            Some(Err(e)) => Err(ViewError::Screenshot(e)),
            None => Err(ViewError::Screenshot(
                "the window closed before the screenshot was taken".into(),
            )),
        },
    }
}
