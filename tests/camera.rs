//! Cameras through the real libraries: fakenect dumps written here from synthetic hands, replayed
//! by Debian's fakenect library (libfreenect's drop-in replacement) exactly as a plugged-in
//! Kinect would stream them, into `hourhand record` and `hourhand view --camera`.
//!
//! These need Debian's `libfreenect0.5` (which holds fakenect); `bash .ci/test` installs it.
//! They fail, saying so, where it is missing.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use hourhand::camera::fakenect::{DumpWriter, FakenectDump};
use hourhand::camera::kinect;
use hourhand::data::depth_png::read_depth_png;
use hourhand::data::source::Source;
use hourhand::data::synth::{SynthOptions, generate};
use hourhand::data::{DepthMap, Intrinsics};

/// Where Debian (and Ubuntu) put fakenect's libfreenect.
const FAKENECT_DIRS: [&str; 3] = [
    "/usr/lib/x86_64-linux-gnu/fakenect",
    "/usr/lib/aarch64-linux-gnu/fakenect",
    "/usr/lib/fakenect",
];

fn fakenect_dir() -> &'static str {
    FAKENECT_DIRS
        .iter()
        .find(|d| Path::new(d).join("libfreenect.so.0.5").exists())
        .unwrap_or_else(|| {
            panic!(
                "fakenect (libfreenect.so.0.5) not found in {FAKENECT_DIRS:?}: install Debian's libfreenect0.5 (`bash .ci/test` does it)"
            )
        })
}

fn scratch(name: &str) -> common::Scratch {
    common::scratch("camera", name)
}

/// Synthetic hands through the Kinect sensor model, 640×480.
fn synthetic_frames(count: u64) -> Vec<DepthMap> {
    let options = SynthOptions::default();
    assert_eq!(
        (options.width, options.height),
        (kinect::WIDTH, kinect::HEIGHT)
    );
    (0..count)
        .map(|i| generate(77, i, &options).depth)
        .collect()
}

/// A dump of `frames` at 30 FPS.
fn write_dump(dir: &Path, frames: &[DepthMap]) {
    let mut writer = DumpWriter::create(dir, false).unwrap();
    for (i, depth) in frames.iter().enumerate() {
        writer
            .push(depth, 1000.0 + i as f64 / 30.0, 5000 + 1001 * i as u32)
            .unwrap();
    }
}

/// `hourhand ARGS` with fakenect replaying `dump` (or no `FAKENECT_PATH` when `None`).
fn hourhand_on_fakenect(dump: Option<&Path>, args: &[&str], home: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hourhand"));
    cmd.args(args)
        .env("LD_LIBRARY_PATH", fakenect_dir())
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .env_remove("FAKENECT_PATH");
    if let Some(dump) = dump {
        cmd.env("FAKENECT_PATH", dump);
    }
    cmd.output().unwrap()
}

fn ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_kinect_replayed_by_fakenect_records_value_by_value() {
    let dir = scratch("record");
    let dump = dir.join("dump");
    let frames = synthetic_frames(6);
    write_dump(&dump, &frames);
    let out = dir.join("recording");
    let output = hourhand_on_fakenect(
        Some(&dump),
        &[
            "record",
            "--camera",
            "freenect",
            "--frames",
            "5",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    ok(&output, "hourhand record --camera freenect");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("replayed by fakenect") && stderr.contains("recorded 5 frames"),
        "{stderr}"
    );

    // What the dump holds, as hourhand reads it without the library: the same conversion.
    let native = FakenectDump::open(&dump, None, None).unwrap();
    let camera: Intrinsics =
        serde_json::from_str(&std::fs::read_to_string(out.join("intrinsics.json")).unwrap())
            .unwrap();
    assert_eq!(camera, kinect::INTRINSICS);
    for (i, written) in frames.iter().enumerate().take(5) {
        let path = out.join(format!("depth_1_{:07}.png", i + 1));
        let (recorded, _) = read_depth_png(&path, Some((640, 480))).unwrap();
        let replayed = native.load(i).unwrap().depth;
        assert_eq!(
            recorded, replayed,
            "frame {i}: the library and hourhand's reader differ"
        );
        // And within the Kinect's quantization of what was written.
        for (&a, &b) in written.values().iter().zip(recorded.values()) {
            if a == 0.0 || kinect::mm_to_raw(a) == kinect::NO_READING {
                assert_eq!(b, 0.0);
            } else {
                assert!(
                    (a - b).abs() <= kinect::step_at(a) / 2.0 + 1.0,
                    "frame {i}: {a} recorded as {b}"
                );
            }
        }
    }
    assert!(!out.join("depth_1_0000006.png").exists());
    // The recording opens as a sequence with the camera it was recorded with, and the network
    // runs over it (the hand detected in every frame: a camera has no annotation).
    let source = hourhand::data::open(&out, &Default::default()).unwrap();
    assert_eq!(source.len(), 5);
    assert_eq!(source.intrinsics(), kinect::INTRINSICS);
    let preds = dir.join("preds.txt");
    let infer = Command::new(env!("CARGO_BIN_EXE_hourhand"))
        .args(["infer", out.to_str().unwrap(), "--backend", "cpu", "--out"])
        .arg(&preds)
        .output()
        .unwrap();
    ok(&infer, "hourhand infer on the recording");
    let lines = std::fs::read_to_string(&preds).unwrap();
    assert_eq!(lines.lines().count(), 5, "{lines}");
    assert!(
        lines.lines().all(|l| l.split_whitespace().count() == 42),
        "{lines}"
    );

    // Never over a recording without --force.
    let again = hourhand_on_fakenect(
        Some(&dump),
        &[
            "record",
            "--camera",
            "freenect",
            "--frames",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
        &dir,
    );
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(
        stderr.contains("not empty") && stderr.contains("--force"),
        "{stderr}"
    );
}

#[test]
fn fakenect_problems_are_errors_not_exits() {
    let dir = scratch("problems");
    let out = dir.join("never");
    let args = [
        "record",
        "--camera",
        "freenect",
        "--frames",
        "1",
        "--out",
        out.to_str().unwrap(),
    ];
    // fakenect itself exits the process when FAKENECT_PATH is unset or names a damaged dump.
    let unset = hourhand_on_fakenect(None, &args, &dir);
    assert!(!unset.status.success());
    let e = String::from_utf8_lossy(&unset.stderr);
    assert!(
        e.contains("fakenect") && e.contains("set FAKENECT_PATH"),
        "{e}"
    );

    let dump = dir.join("short");
    write_dump(&dump, &synthetic_frames(2));
    let second = FakenectDump::open(&dump, None, None).unwrap().entries()[1]
        .file
        .clone();
    let path = dump.join(&second);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..1000]).unwrap();
    let short = hourhand_on_fakenect(Some(&dump), &args, &dir);
    assert!(!short.status.success());
    let e = String::from_utf8_lossy(&short.stderr);
    assert!(e.contains(&second) && e.contains("truncated"), "{e}");
    assert!(
        !out.exists(),
        "nothing is written when the camera does not open"
    );

    // A recording that ends before the frames asked for says so, and keeps what it got.
    let two = dir.join("two");
    write_dump(&two, &synthetic_frames(2));
    let args = [
        "record",
        "--camera",
        "freenect",
        "--frames",
        "50",
        "--out",
        out.to_str().unwrap(),
    ];
    let ended = hourhand_on_fakenect(Some(&two), &args, &dir);
    let e = String::from_utf8_lossy(&ended.stderr);
    assert!(
        !ended.status.success() && e.contains("the camera stopped after 2 frames"),
        "{e}"
    );
    assert!(out.join("depth_1_0000002.png").exists());
}

#[test]
fn info_lists_the_replayed_kinect() {
    let dir = scratch("info");
    let dump = dir.join("dump");
    write_dump(&dump, &synthetic_frames(1));
    let output = hourhand_on_fakenect(Some(&dump), &["info", "--backend", "cpu"], &dir);
    ok(&output, "hourhand info");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("freenect:0: Kinect v1 replayed by fakenect"),
        "{stdout}"
    );
}

#[test]
fn the_viewer_plays_a_replayed_kinect_live() {
    let xvfb = Command::new("xvfb-run").arg("--help").output();
    assert!(
        xvfb.is_ok(),
        "xvfb-run not found: install Debian's `xvfb` and `xauth` (`bash .ci/test` does it)"
    );
    let dir = scratch("view");
    let dump = dir.join("dump");
    write_dump(&dump, &synthetic_frames(40));
    let shot = dir.join("live.png");
    let mut cmd = Command::new("xvfb-run");
    cmd.args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_hourhand"))
        .args([
            "view",
            "--camera",
            "freenect",
            "--backend",
            "cpu",
            "--screenshot",
        ])
        .arg(&shot)
        .env("LD_LIBRARY_PATH", fakenect_dir())
        .env("FAKENECT_PATH", &dump)
        .env("HOME", &dir)
        .env("XDG_RUNTIME_DIR", &dir);
    let output = cmd.output().unwrap();
    ok(&output, "hourhand view --camera freenect --screenshot");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    // The prediction's colours are on screen (blue joints, green bones); there is no ground
    // truth on a camera.
    let count = |c: egui::Color32| {
        buf[..info.buffer_size()]
            .chunks(channels)
            .filter(|p| {
                (0..3).all(|i| (i32::from(p[i]) - i32::from([c.r(), c.g(), c.b()][i])).abs() <= 6)
            })
            .count()
    };
    use hourhand::view::palette;
    assert!(count(palette::PRED_JOINT) >= 20 && count(palette::PRED_BONE) >= 20);
}

/// An OpenNI2 recording of `frames` (whole millimetres) at 30 FPS with NYU's field of view.
fn write_oni_of(path: &Path, frames: &[DepthMap]) -> Vec<Vec<u16>> {
    use hourhand::camera::openni2::{OniDepthStream, write_oni};
    let k = kinect::INTRINSICS;
    let stream = OniDepthStream {
        width: 640,
        height: 480,
        fps: 30,
        horizontal_fov: 2.0 * (320.0 / k.fx).atan(),
        vertical_fov: 2.0 * (240.0 / k.fy).atan(),
    };
    let mm: Vec<Vec<u16>> = frames
        .iter()
        .map(|d| d.values().iter().map(|&v| v.round() as u16).collect())
        .collect();
    write_oni(path, stream, &mm).unwrap();
    mm
}

#[test]
fn an_oni_recording_plays_through_openni2_into_record_and_view() {
    let dir = scratch("oni");
    let oni = dir.join("hands.oni");
    let written = write_oni_of(&oni, &synthetic_frames(4));
    let out = dir.join("recording");
    let spec = format!("openni2:{}", oni.display());
    // No --frames: it records until the recording ends.
    let output = Command::new(env!("CARGO_BIN_EXE_hourhand"))
        .args(["record", "--camera", &spec, "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    ok(&output, "hourhand record --camera openni2:FILE.oni");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The file driver replays in real time and `record` keeps the newest frame, as from a live
    // camera: on a loaded machine a frame can pass unread, so the recording holds the written
    // frames in order, possibly with gaps, and says how many.
    let source = hourhand::data::open(&out, &Default::default()).unwrap();
    let n = source.len();
    assert!(
        (1..=4).contains(&n)
            && stderr.contains(&format!("recorded {n} frames"))
            && stderr.contains("the recording ended"),
        "{stderr}"
    );
    // The camera's intrinsics come back from the field of view written.
    let k = source.intrinsics();
    assert!(
        (k.fx - kinect::INTRINSICS.fx).abs() < 1e-3 && (k.cx - 320.0).abs() < 1e-9,
        "{k:?}"
    );
    let mut next = 0;
    for i in 0..n {
        let got: Vec<u16> = source
            .load(i)
            .unwrap()
            .depth
            .values()
            .iter()
            .map(|&v| v as u16)
            .collect();
        let at = written[next..]
            .iter()
            .position(|mm| *mm == got)
            .unwrap_or_else(|| panic!("recorded frame {i} is no written frame after {next}"));
        next += at + 1;
    }
    // Other commands point to the viewer and to record.
    let e = hourhand::data::open(&oni, &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("hourhand view") && e.contains("hourhand record --camera openni2:"),
        "{e}"
    );

    let xvfb = Command::new("xvfb-run").arg("--help").output();
    assert!(
        xvfb.is_ok(),
        "xvfb-run not found: install Debian's `xvfb` and `xauth` (`bash .ci/test` does it)"
    );
    let many = dir.join("many.oni");
    write_oni_of(&many, &synthetic_frames(60));
    let shot = dir.join("oni.png");
    let output = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1600x1000x24"])
        .arg(env!("CARGO_BIN_EXE_hourhand"))
        .args([
            "view",
            many.to_str().unwrap(),
            "--backend",
            "cpu",
            "--screenshot",
        ])
        .arg(&shot)
        .env("HOME", &dir)
        .env("XDG_RUNTIME_DIR", &dir)
        .output()
        .unwrap();
    ok(&output, "hourhand view FILE.oni --screenshot");
    assert!(shot.exists());
}
