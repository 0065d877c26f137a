//! The viewer's behaviour without pixels: bad files give notices that name them and keep what
//! was open, the keys move the playhead, the network gives the same joints on the GPU and
//! the CPU reference, and refining and test-time rotation give what `infer` gives.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
use hourhand::view::inference::EngineChoice;
use hourhand::view::{Pick, ViewOptions, ViewerApp};

mod common;
#[path = "common/viewer.rs"]
mod harness;
use harness::{asset, wait_for_prediction};

fn viewer(engine: EngineChoice) -> Harness<'static, ViewerApp> {
    harness::viewer(ViewOptions {
        engine: Some(engine),
        start_frame: 3,
        ..ViewOptions::default()
    })
}

/// A file holding `contents` in a scratch folder of its own (removed when that is dropped).
fn temp_file(name: &str, contents: &[u8]) -> (common::Scratch, PathBuf) {
    let dir = common::scratch("viewer-input", name);
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

#[test]
fn bad_files_say_what_is_wrong_and_keep_what_was_open() {
    let mut harness = viewer(EngineChoice::Shared);
    let app = harness.state_mut();

    app.open_pick(Pick::Source(PathBuf::from("/no/such/sequence")));
    let notice = app.notices().last().cloned().unwrap_or_default();
    assert!(notice.contains("/no/such/sequence"), "{notice}");

    let (_results_dir, results) = temp_file("broken.txt", b"1 2 3\n");
    app.open_pick(Pick::Results(results.clone()));
    let notice = app.notices().last().cloned().unwrap_or_default();
    assert!(notice.contains("broken.txt"), "{notice}");
    assert!(notice.contains("line 1"), "names the line: {notice}");

    let (_weights_dir, weights) = temp_file("not-weights.safetensors", b"hello");
    app.open_pick(Pick::Weights(weights));
    let notice = app.notices().last().cloned().unwrap_or_default();
    assert!(notice.contains("not-weights.safetensors"), "{notice}");

    assert_eq!(app.notices().len(), 3);
    // The sample and its prediction are still there.
    harness.run_steps(2);
    assert!(harness.state().is_showing_prediction());
    assert_eq!(harness.state().frame_index(), 3);
}

#[test]
fn keys_step_and_play() {
    let mut harness = viewer(EngineChoice::Shared);
    harness.key_press(egui::Key::ArrowRight);
    harness.step();
    assert_eq!(harness.state().frame_index(), 4);
    harness.key_press(egui::Key::ArrowLeft);
    harness.key_press(egui::Key::ArrowLeft);
    harness.step();
    assert_eq!(harness.state().frame_index(), 2);
    harness.key_press(egui::Key::End);
    harness.step();
    assert_eq!(harness.state().frame_index(), 99);
    assert!(!harness.state().is_playing());
    harness.key_press(egui::Key::Space);
    harness.step();
    assert!(harness.state().is_playing());
}

#[test]
fn the_gpu_and_the_cpu_reference_agree_in_the_viewer() {
    let joints = |engine| {
        let harness = viewer(engine);
        harness
            .state()
            .current_estimate()
            .expect("a prediction")
            .xyz
    };
    let gpu = joints(EngineChoice::Shared);
    let cpu = joints(EngineChoice::Cpu);
    let worst = gpu
        .iter()
        .zip(&cpu)
        .map(|(a, b)| a.distance(*b))
        .fold(0.0f32, f32::max);
    assert!(worst < 0.5, "GPU and CPU joints differ by up to {worst} mm");
}

#[test]
fn without_a_display_it_points_to_xvfb_and_infer() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hourhand"))
        .arg("view")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    for hint in ["no display", "--screenshot", "xvfb-run", "hourhand infer"] {
        assert!(err.contains(hint), "{hint:?} missing from: {err}");
    }
}

#[test]
fn a_screenshot_never_replaces_a_file_without_force() {
    let (_existing_dir, existing) = temp_file("mine.png", b"my own picture");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_hourhand"))
        .args(["view", "--screenshot"])
        .arg(&existing)
        .env("DISPLAY", ":12345")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("mine.png") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"my own picture");
}

#[test]
fn a_run_over_every_frame_gives_the_figure_eval_gives() {
    let mut harness = viewer(EngineChoice::Shared);
    harness.state_mut().start_sweep();
    let start = Instant::now();
    while harness.state().coverage().0 < 100 {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "only {:?} frames after 600 s",
            harness.state().coverage()
        );
        harness.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        harness.state().notices().is_empty(),
        "{:?}",
        harness.state().notices()
    );
    let (mean, frames) = harness.state_mut().sequence_mean().unwrap();
    assert_eq!(frames, 100);
    // What `infer` + `eval` give on the bundled sample with the bundled weights.
    assert!(
        (mean - common::BUNDLED_SAMPLE_MEAN_MM).abs() < 0.01,
        "{mean}"
    );
}

/// On a frame without annotation the viewer detects the hand and refines the centre as
/// `--refine` says, averages turned crops as `--rotations` says, and shows exactly the joints
/// `infer --center detect --refine N --rotations M` writes.
#[test]
fn the_viewer_refines_and_rotates_as_infer_does() {
    let dir = common::scratch("viewer", "refine");
    let frame = "depth_1_0000004.png";
    std::fs::copy(asset("assets/sample").join(frame), dir.join(frame)).unwrap();
    let mut shown = Vec::new();
    for (refine, rotations) in [(0, 1), (2, 1), (0, 5)] {
        let harness = harness::viewer(ViewOptions {
            source: Some(dir.to_path_buf()),
            engine: Some(EngineChoice::Cpu),
            refine,
            rotations,
            ..ViewOptions::default()
        });
        let xyz = harness.state().current_estimate().unwrap().xyz;
        let out = dir.join(format!("refine{refine}-rotations{rotations}.txt"));
        let out_xyz = dir.join(format!("refine{refine}-rotations{rotations}-xyz.txt"));
        let o = common::hourhand(&[
            "infer",
            dir.to_str().unwrap(),
            "--center",
            "detect",
            "--refine",
            &refine.to_string(),
            "--rotations",
            &rotations.to_string(),
            "--backend",
            "cpu",
            "--out",
            out.to_str().unwrap(),
            "--out-xyz",
            out_xyz.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", common::stderr(&o));
        let written = common::read_numbers(&out_xyz);
        assert_eq!((written.len(), written[0].len()), (1, 108));
        for (j, p) in xyz.iter().enumerate() {
            let q = glam::DVec3::from_slice(&written[0][3 * j..3 * j + 3]).as_vec3();
            assert!(
                (*p - q).length() < 0.01,
                "refine {refine}, rotations {rotations}, joint {j}: {p} vs {q}"
            );
        }
        shown.push(xyz);
    }
    // Refining moved the crop, and with it the joints; so did averaging turned crops.
    let moved = |a: &hourhand::data::Joints, b: &hourhand::data::Joints| {
        a.iter()
            .zip(b)
            .map(|(a, b)| (*a - *b).length())
            .fold(0.0, f32::max)
    };
    assert!(moved(&shown[0], &shown[1]) > 1.0);
    assert!(moved(&shown[0], &shown[2]) > 1.0);
}

/// Choosing a rotation count in the Network panel re-estimates the frame with it.
#[test]
fn the_panel_changes_the_test_time_rotations() {
    use egui_kittest::kittest::Queryable;
    let mut harness = viewer(EngineChoice::Cpu);
    wait_for_prediction(&mut harness);
    let before = harness.state().current_estimate().unwrap().xyz;
    harness.get_by_label("Rotations").click();
    harness.run_steps(2);
    harness.get_by_label("5 crops, ±30°").click();
    harness.run_steps(2);
    wait_for_prediction(&mut harness);
    let after = harness.state().current_estimate().unwrap().xyz;
    let moved = before
        .iter()
        .zip(&after)
        .map(|(a, b)| (*a - *b).length())
        .fold(0.0, f32::max);
    assert!(moved > 0.5, "{moved} mm");
}

#[test]
fn a_typed_path_opens_like_a_dropped_one() {
    use egui_kittest::kittest::Queryable;
    let mut harness = viewer(EngineChoice::Shared);
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("Open a path…").click();
    harness.run_steps(2);
    let path = asset("assets/sample-results/bundled-paper128-2026-12-02.txt");
    harness
        .get_by_role(egui::accesskit::Role::TextInput)
        .type_text(path.to_str().unwrap());
    harness.run_steps(2);
    harness.get_by_label("Open").click();
    harness.run_steps(3);
    assert!(
        harness
            .query_all_by_label("bundled-paper128-2026-12-02")
            .next()
            .is_some(),
        "the results file is listed as a method; notices: {:?}",
        harness.state().notices()
    );
}

/// Asked for nothing, the viewer runs the network on its own device, unless that is a software
/// renderer: then on the CPU backend, and says why. An engine asked for is kept.
#[test]
fn the_engine_is_the_cpu_when_the_only_device_is_a_software_renderer() {
    let info = |device_type| wgpu::AdapterInfo {
        name: "llvmpipe (LLVM 15.0.6, 256 bits)".into(),
        ..wgpu::AdapterInfo::new(device_type, wgpu::Backend::Vulkan)
    };
    let software = info(wgpu::DeviceType::Cpu);
    let (engine, note) = hourhand::view::choose_engine(None, Some(&software));
    assert_eq!(engine, EngineChoice::Cpu);
    let note = note.expect("the choice is explained");
    assert!(
        note.contains("llvmpipe") && note.contains("software renderer"),
        "{note}"
    );
    let gpu = info(wgpu::DeviceType::DiscreteGpu);
    assert_eq!(
        hourhand::view::choose_engine(None, Some(&gpu)),
        (EngineChoice::Shared, None)
    );
    assert_eq!(
        hourhand::view::choose_engine(Some(&EngineChoice::Shared), Some(&software)),
        (EngineChoice::Shared, None)
    );
    assert_eq!(
        hourhand::view::choose_engine(None, None),
        (EngineChoice::Shared, None)
    );
    // The viewer on lavapipe, asked for nothing.
    let harness = harness::viewer(ViewOptions::default());
    assert_eq!(harness.state().engine(), &EngineChoice::Cpu);
}

/// A UI frame in which nothing in the 3D view changed composites its last drawing instead of
/// drawing the scene again; an orbit draws it anew.
#[test]
fn the_3d_view_is_not_redrawn_when_nothing_changed() {
    let mut harness = viewer(EngineChoice::Cpu);
    // The harness paints (runs the paint callbacks) only when asked to render.
    let frames = |harness: &mut Harness<'static, ViewerApp>, n: usize| {
        for _ in 0..n {
            harness.step();
            harness.render().expect("the harness renders through wgpu");
        }
        harness.state().scene_redraws().expect("a wgpu renderer")
    };
    let (drawn, reused) = frames(&mut harness, 2);
    assert!(drawn >= 1, "drawn {drawn}");
    let (drawn_after, reused_after) = frames(&mut harness, 4);
    assert_eq!(drawn_after, drawn, "nothing changed, nothing drawn");
    assert!(reused_after >= reused + 4, "{reused} -> {reused_after}");
    // Drag across the 3D view, which fills the right part of the window.
    let from = egui::pos2(harness::SIZE[0] * 0.8, harness::SIZE[1] * 0.5);
    harness.drag_at(from);
    frames(&mut harness, 1);
    harness.hover_at(from + egui::vec2(40.0, -10.0));
    frames(&mut harness, 1);
    harness.drop_at(from + egui::vec2(40.0, -10.0));
    let (drawn_orbited, _) = frames(&mut harness, 2);
    assert!(
        drawn_orbited > drawn,
        "the orbit is drawn: {drawn} -> {drawn_orbited}"
    );
}

#[test]
fn the_network_moves_to_another_adapter_or_the_cpu_when_chosen() {
    let mut harness = viewer(EngineChoice::Shared);
    let choices: Vec<EngineChoice> = harness
        .state()
        .engine_choices()
        .iter()
        .map(|(c, _)| c.clone())
        .collect();
    assert_eq!(choices.first(), Some(&EngineChoice::Shared));
    assert_eq!(choices.last(), Some(&EngineChoice::Cpu));
    let own = choices
        .iter()
        .find(|c| matches!(c, EngineChoice::Adapter(_, wgpu::Backend::Vulkan)))
        .expect("the Vulkan adapter is offered with a device of its own")
        .clone();
    for choice in [own, EngineChoice::Cpu] {
        harness.state_mut().set_engine(choice.clone());
        harness.step();
        wait_for_prediction(&mut harness);
        assert!(
            harness.state().notices().is_empty(),
            "{:?}",
            harness.state().notices()
        );
    }
}
