//! The viewer's window rendered headless through wgpu (lavapipe in CI) by `egui_kittest`,
//! compared with the snapshots in `tests/snapshots`: the 2D view with both skeletons, the 3D
//! view after an orbit drag, and a second method's results loaded. Regenerate the snapshots
//! after an intended change with `UPDATE_SNAPSHOTS=1 cargo test --test viewer`.
//!
//! A few pixels may differ ([`TOLERATED_PIXELS`]): the skeletons are drawn from the network's
//! predictions, which differ in their last bits between a debug build (`cargo test`, whose CPU
//! backend takes the `gemm` crate's path) and a release one (the register-blocked kernels), and
//! with the model bundled on 2026-12-03 that moved one pixel of the 3D view. Anything a user
//! would notice (a joint moved, a colour or a label changed) changes hundreds.

use std::path::PathBuf;

use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use hourhand::view::{ViewOptions, ViewerApp};

#[path = "common/viewer.rs"]
mod harness;
use harness::{SIZE, asset};

/// Pixels that may fail the comparison with a snapshot (see the module's docs): the one-pixel
/// difference between builds failed 6 at no colour tolerance and 1 at the default.
const TOLERATED_PIXELS: usize = 16;

/// Compares the harness's rendering with snapshot `name`, allowing [`TOLERATED_PIXELS`].
fn snapshot(harness: &mut Harness<'static, ViewerApp>, name: &str) {
    let options = SnapshotOptions::new().max_failed_pixels(TOLERATED_PIXELS);
    harness.snapshot_options(name, &options);
}

/// The viewer paused at `frame` with `results` loaded, settled for a snapshot.
fn viewer(frame: usize, results: Vec<PathBuf>) -> Harness<'static, ViewerApp> {
    let mut harness = harness::viewer(ViewOptions {
        results,
        start_frame: frame,
        ..ViewOptions::default()
    });
    assert!(
        harness.state().notices().is_empty(),
        "{:?}",
        harness.state().notices()
    );
    harness.run_steps(4);
    harness
}

#[test]
fn the_2d_view_shows_both_skeletons() {
    let mut harness = viewer(7, Vec::new());
    snapshot(&mut harness, "viewer_2d");
}

#[test]
fn the_3d_view_orbits_when_dragged() {
    let mut harness = viewer(7, Vec::new());
    let before = harness.state().camera().clone();
    // The 3D view fills the right part of the window; drag across its middle.
    let from = egui::pos2(SIZE[0] * 0.8, SIZE[1] * 0.5);
    harness.drag_at(from);
    harness.step();
    for k in 1..=10 {
        harness.hover_at(from + egui::vec2(12.0 * k as f32, -4.0 * k as f32));
        harness.step();
    }
    harness.drop_at(from + egui::vec2(120.0, -40.0));
    harness.run_steps(4);
    let after = harness.state().camera().clone();
    assert_ne!(before.eye(), after.eye(), "the drag orbits the camera");
    assert!(
        (before.eye().distance(before.target()) - after.eye().distance(after.target())).abs()
            < 1e-3,
        "orbiting keeps the distance to the target"
    );
    snapshot(&mut harness, "viewer_3d_orbited");
}

#[test]
fn a_second_method_gets_its_own_colour_and_legend() {
    let results = vec![asset("assets/sample-results/bundled-64x64.txt")];
    let mut harness = viewer(7, results);
    // The side panel lists it by its file name, with a toggle.
    assert!(
        harness.query_all_by_label("bundled-64x64").next().is_some(),
        "the method's toggle is in the side panel"
    );
    snapshot(&mut harness, "viewer_second_method");
}
