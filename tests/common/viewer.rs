//! The viewer in an `egui_kittest` harness on the bundled sample, rendered through wgpu
//! (lavapipe in CI), waited on until the frame and its prediction are on screen.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use hourhand::view::{ViewOptions, ViewerApp};

/// The window size of every viewer test.
pub const SIZE: [f32; 2] = [1280.0, 800.0];

/// A path in the project.
pub fn asset(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The viewer on the bundled sample (or `options.source`) as `options` says (paused, without
/// measured times, which differ from run to run, and without the user's remembered settings),
/// once the first prediction is on screen.
pub fn viewer(options: ViewOptions) -> Harness<'static, ViewerApp> {
    let options = ViewOptions {
        source: options
            .source
            .clone()
            .or_else(|| Some(asset("assets/sample"))),
        autoplay: false,
        show_timings: false,
        remember: false,
        ..options
    };
    let mut harness = Harness::builder()
        .with_size(SIZE)
        .wgpu()
        .build_eframe(|cc| ViewerApp::new(cc, options));
    wait_for_prediction(&mut harness);
    harness
}

/// Steps the UI until the frame on screen has its prediction (decoding and the network run on
/// their own threads).
pub fn wait_for_prediction(harness: &mut Harness<'static, ViewerApp>) {
    let start = Instant::now();
    while !harness.state().is_showing_prediction() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "no prediction on screen after 300 s; notices: {:?}",
            harness.state().notices()
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}
