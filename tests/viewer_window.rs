//! The real binary's window, under Xvfb: `hourhand view --screenshot` on the bundled sample must
//! write a PNG that shows the four skeleton colours (prediction: blue joints, green bones; ground
//! truth: yellow joints, red bones) and a point cloud in the 3D view.

mod common;

use std::path::Path;
use std::process::Command;

use hourhand::view::palette;

fn read_png(path: &Path) -> (usize, usize, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width as usize, info.height as usize, pixels)
}

fn near(a: [u8; 3], b: egui::Color32, tolerance: i32) -> bool {
    let b = [b.r(), b.g(), b.b()];
    (0..3).all(|c| (i32::from(a[c]) - i32::from(b[c])).abs() <= tolerance)
}

#[test]
fn the_window_shows_both_skeletons_and_the_point_cloud() {
    let xvfb = Command::new("xvfb-run").arg("--help").output();
    assert!(
        xvfb.is_ok(),
        "xvfb-run not found: install Debian's `xvfb` and `xauth` (the README's test command, `bash .ci/test`, does it)"
    );
    let dir = common::scratch("window", "screenshot");
    let shot = dir.join("viewer.png");
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_hourhand"))
        .args(["view", "--frame", "8", "--screenshot"])
        .arg(&shot)
        .env("XDG_RUNTIME_DIR", &dir)
        // Keep the user's remembered settings out of it (and untouched).
        .env("HOME", &dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hourhand view --screenshot failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let (width, height, pixels) = read_png(&shot);
    assert!(width >= 1000 && height >= 600, "{width}×{height}");
    let count = |colour, region: &dyn Fn(usize) -> bool| {
        pixels
            .iter()
            .enumerate()
            .filter(|&(i, p)| region(i) && near(*p, colour, 6))
            .count()
    };
    let everywhere = |_| true;
    for (name, colour) in [
        ("prediction joints (blue)", palette::PRED_JOINT),
        ("prediction bones (green)", palette::PRED_BONE),
        ("ground-truth joints (yellow)", palette::GT_JOINT),
        ("ground-truth bones (red)", palette::GT_BONE),
    ] {
        let n = count(colour, &everywhere);
        assert!(
            n >= 20,
            "{name}: {n} pixels of {colour:?} in {}",
            shot.display()
        );
    }
    // The 3D view is the right part of the window. Its points are a grey ramp with a touch
    // less blue (shaders/view/cloud.wgsl); its background and grid lean blue instead.
    let in_3d =
        |i: usize| i % width > width * 65 / 100 && (i / width) > 60 && (i / width) < height - 60;
    let cloud = pixels
        .iter()
        .enumerate()
        .filter(|&(i, p)| in_3d(i) && p[0] == p[1] && p[2] < p[0] && p[0] > 60)
        .count();
    assert!(
        cloud > 2000,
        "the 3D view shows only {cloud} point-cloud pixels"
    );
}
