//! The viewer's live mode on an in-process camera that sends synthetic hands: the playhead
//! follows the newest frame, the network keeps up without blocking the UI, and the Record
//! button's recording holds exactly the frames the camera sent.

mod common;
#[path = "common/viewer.rs"]
#[allow(dead_code)]
mod viewer;

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use hourhand::camera::live::LiveSource;
use hourhand::camera::{CameraError, CameraFrame, DepthCamera};
use hourhand::data::synth::{SynthOptions, generate};
use hourhand::data::{DepthMap, Intrinsics};
use hourhand::view::{LiveInput, ViewOptions, ViewerApp};
use viewer::{SIZE, wait_for_prediction};

/// A camera sending synthetic frame `n` (seed 9) as its frame `n`, at about 30 FPS; it is
/// unplugged after `stop_after` frames, when given. With `empty_from`, frames from then on show
/// nothing within range (the hand taken away).
struct SynthCamera {
    next: u64,
    options: SynthOptions,
    stop_after: Option<u64>,
    empty_from: Option<u64>,
}

fn synthetic(n: u64, options: &SynthOptions) -> DepthMap {
    generate(9, n, options).depth
}

impl DepthCamera for SynthCamera {
    fn describe(&self) -> String {
        "synthetic camera".into()
    }
    fn intrinsics(&self) -> Intrinsics {
        self.options.intrinsics
    }
    fn next_frame(&mut self, _timeout: Duration) -> Result<Option<CameraFrame>, CameraError> {
        std::thread::sleep(Duration::from_millis(33));
        if self.stop_after == Some(self.next) {
            return Err(CameraError::Stopped {
                what: "synthetic".into(),
                problem: "unplugged".into(),
            });
        }
        let depth = if self.empty_from.is_some_and(|n| self.next >= n) {
            let (w, h) = (self.options.width, self.options.height);
            DepthMap::new(w, h, vec![0.0; w * h]).unwrap()
        } else {
            synthetic(self.next, &self.options)
        };
        let frame = CameraFrame {
            depth,
            received: Instant::now(),
            timestamp: self.next,
        };
        self.next += 1;
        Ok(Some(frame))
    }
}

/// The viewer playing a [`SynthCamera`] live (unplugged after `stop_after` frames, empty from
/// `empty_from`).
fn live_viewer(stop_after: Option<u64>, empty_from: Option<u64>) -> Harness<'static, ViewerApp> {
    let camera = SynthCamera {
        next: 0,
        options: SynthOptions::default(),
        stop_after,
        empty_from,
    };
    let live = LiveSource::start("synthetic", Box::new(camera)).unwrap();
    let view = ViewOptions {
        live: Some(LiveInput::new(live)),
        autoplay: true,
        show_timings: false,
        remember: false,
        ..Default::default()
    };
    Harness::builder()
        .with_size(SIZE)
        .wgpu()
        .build_eframe(|cc| ViewerApp::new(cc, view))
}

#[test]
fn live_mode_follows_the_camera_and_records_what_it_sent() {
    let options = SynthOptions::default();
    let mut harness = live_viewer(None, None);
    assert!(harness.state().is_live());
    wait_for_prediction(&mut harness);

    // While playing, the playhead moves on with the camera.
    let first = harness.state().frame_index();
    let start = Instant::now();
    while harness.state().frame_index() < first + 5 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the playhead stayed at {first}"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }

    let scratch = common::scratch("live", "record");
    let dir = scratch.join("recording");
    harness.state_mut().start_recording(&dir);
    assert!(
        harness.state().notices().is_empty(),
        "{:?}",
        harness.state().notices()
    );
    // Recorded until the playhead has moved on by 10 frames, not for a fixed time: with the
    // other tests' viewers, cameras and networks sharing two cores, 0.6 s once held only 4.
    let (from, start) = (harness.state().frame_index(), Instant::now());
    while harness.state().frame_index() < from + 10 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the playhead stayed at {}",
            harness.state().frame_index()
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    harness.state_mut().stop_recording();
    let note = harness.state().record_note().unwrap().to_owned();
    assert!(
        note.starts_with("recorded ") && note.contains(&dir.display().to_string()),
        "{note}"
    );

    // Every recorded frame is the camera's frame of the timestamp written beside it.
    let source = hourhand::data::open(&dir, &Default::default()).unwrap();
    assert!(
        source.len() >= 5,
        "only {} frames while the playhead moved on by 10",
        source.len()
    );
    assert_eq!(source.intrinsics(), options.intrinsics);
    let csv = std::fs::read_to_string(dir.join("timestamps.csv")).unwrap();
    let stamps: Vec<u64> = csv
        .lines()
        .skip(1)
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(stamps.len(), source.len());
    assert!(
        stamps.windows(2).all(|w| w[1] == w[0] + 1),
        "frames skipped: {stamps:?}"
    );
    for (i, &n) in stamps.iter().enumerate() {
        // 16-bit PNGs hold whole millimetres.
        let written: Vec<f32> = synthetic(n, &options)
            .values()
            .iter()
            .map(|v| v.round())
            .collect();
        assert_eq!(
            source.load(i).unwrap().depth.values(),
            &written[..],
            "frame {i} (camera frame {n})"
        );
    }
    // A second recording into the same folder is refused, and says why.
    harness.state_mut().start_recording(&dir);
    let notices = harness.state().notices().join("\n");
    assert!(notices.contains("not empty"), "{notices}");
}

#[test]
fn a_camera_that_goes_away_leaves_the_viewer_running_with_a_notice() {
    let mut harness = live_viewer(Some(6), None);
    let start = Instant::now();
    while harness.state().live_stopped().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the camera's end was not noticed"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let note = harness.state().live_stopped().unwrap();
    assert!(
        note.contains("synthetic: unplugged") && note.contains("last frames stay"),
        "{note}"
    );
    // Still running: the last frame gets its prediction, and stepping back still works.
    wait_for_prediction(&mut harness);
    assert_eq!(harness.state().frame_index(), 5);
    harness.key_press(egui::Key::ArrowLeft);
    harness.step();
    assert_eq!(harness.state().frame_index(), 4);
    assert!(
        harness.state().notices().is_empty(),
        "{:?}",
        harness.state().notices()
    );
}

#[test]
fn a_hand_taken_out_of_view_is_said_in_the_camera_panel_not_piled_up_as_notices() {
    let mut harness = live_viewer(None, Some(3));
    let start = Instant::now();
    while harness.state().live_miss().is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the frames without a hand were not noticed"
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    // A few more empty frames: still running, still one line, no notices.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(400) {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
    let miss = harness.state().live_miss().unwrap();
    assert!(miss.contains("only 0 pixels closer than"), "{miss}");
    assert!(
        harness.state().notices().is_empty(),
        "{:?}",
        harness.state().notices()
    );
}
