//! Recordings written by [`oni_file`](super::oni_file) played back through libOpenNI2 and its
//! file driver. These need libOpenNI2 installed (Debian `libopenni2-0`; CI installs it): where
//! it is missing they fail, saying so, rather than pass without testing anything.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ffi::{Api, LIBRARY};
use super::{OniDepthStream, OpenNi2Camera, list, write_oni};
use crate::camera::library::VendorLibrary;
use crate::camera::{CameraError, DepthCamera};

/// An 8×6 stream at 30 FPS, for the tests that need a recording but not its contents.
const TINY: OniDepthStream = OniDepthStream {
    width: 8,
    height: 6,
    fps: 30,
    horizontal_fov: 1.0,
    vertical_fov: 0.8,
};

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("hourhand-openni2-{}-{name}", std::process::id()))
}

/// Removes the file when the test ends, passed or not.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Depth that varies per pixel and per frame, with holes (0) in a moving pattern.
fn synthetic_frames(width: u32, height: u32, count: u32) -> Vec<Vec<u16>> {
    (0..count)
        .map(|f| {
            (0..height)
                .flat_map(|y| (0..width).map(move |x| (x, y)))
                .map(|(x, y)| {
                    if (x * 3 + y * 5 + f) % 13 == 0 {
                        0
                    } else {
                        (300 + (x * 7 + y * 11 + f * 97) % 9000) as u16
                    }
                })
                .collect()
        })
        .collect()
}

/// Opens a recording, failing the test with the reason (naming the package to install when
/// libOpenNI2 is missing).
fn open(path: &Path) -> OpenNi2Camera {
    OpenNi2Camera::open(Some(path.to_str().unwrap())).unwrap_or_else(|e| {
        panic!("{e}\n(these tests play .oni files through libOpenNI2: install libopenni2-0)")
    })
}

/// Reads frames until the camera reports the end (or a frame fails to come in 5 s).
fn read_to_end(camera: &mut OpenNi2Camera) -> (Vec<crate::camera::CameraFrame>, CameraError) {
    let mut frames = Vec::new();
    loop {
        match camera.next_frame(Duration::from_secs(5)) {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => panic!(
                "no frame and no end within 5 s after {} frames",
                frames.len()
            ),
            Err(e) => return (frames, e),
        }
    }
}

fn round_trip(name: &str, stream: OniDepthStream, count: u32) {
    let file = TempFile(temp_path(name));
    let written = synthetic_frames(stream.width, stream.height, count);
    write_oni(&file.0, stream, &written).unwrap();

    let mut camera = open(&file.0);
    assert!(camera.describe().contains(name), "{}", camera.describe());
    let (frames, end) = read_to_end(&mut camera);

    assert_eq!(frames.len(), count as usize, "frames played back");
    for (f, (frame, expected)) in frames.iter().zip(&written).enumerate() {
        assert_eq!(
            (frame.depth.width(), frame.depth.height()),
            (stream.width as usize, stream.height as usize),
            "frame {f}"
        );
        let expected: Vec<f32> = expected.iter().map(|&d| f32::from(d)).collect();
        assert!(
            frame.depth.values() == expected.as_slice(),
            "frame {f}: depth differs"
        );
    }
    let stamps: Vec<u64> = frames.iter().map(|f| f.timestamp).collect();
    assert!(
        stamps.windows(2).all(|w| w[0] < w[1]),
        "timestamps {stamps:?}"
    );

    // The player keeps the fields of view as f32.
    let (w, h) = (f64::from(stream.width), f64::from(stream.height));
    let hfov = f64::from(stream.horizontal_fov as f32);
    let vfov = f64::from(stream.vertical_fov as f32);
    let k = camera.intrinsics();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
    assert!(close(k.fx, w / 2.0 / (hfov / 2.0).tan()), "fx {}", k.fx);
    assert!(close(k.fy, h / 2.0 / (vfov / 2.0).tan()), "fy {}", k.fy);
    assert!(close(k.cx, w / 2.0) && close(k.cy, h / 2.0), "{k:?}");

    // (b) the end of the recording, and it stays ended.
    let message = end.to_string();
    assert!(matches!(end, CameraError::Stopped { .. }), "{end:?}");
    assert!(
        message.contains("the recording ended") && message.contains(name),
        "{message}"
    );
    assert!(matches!(
        camera.next_frame(Duration::from_millis(10)),
        Err(CameraError::Stopped { .. })
    ));
}

#[test]
fn a_written_recording_plays_back_exactly() {
    round_trip(
        "qqvga.oni",
        OniDepthStream {
            width: 160,
            height: 120,
            fps: 30,
            horizontal_fov: 1.0226,
            vertical_fov: 0.7959,
        },
        5,
    );
}

#[test]
fn an_odd_sized_recording_plays_back_exactly() {
    round_trip(
        "odd.oni",
        OniDepthStream {
            width: 37,
            height: 23,
            fps: 60,
            horizontal_fov: 1.2,
            vertical_fov: 0.9,
        },
        6,
    );
}

#[test]
fn two_recordings_play_at_once() {
    let stream = OniDepthStream {
        width: 64,
        height: 48,
        fps: 60,
        horizontal_fov: 1.0,
        vertical_fov: 0.8,
    };
    let threads: Vec<_> = (0..2)
        .map(|i| {
            std::thread::spawn(move || {
                let file = TempFile(temp_path(&format!("parallel-{i}.oni")));
                let written = synthetic_frames(stream.width, stream.height, 4 + i);
                write_oni(&file.0, stream, &written).unwrap();
                let mut camera = open(&file.0);
                let (frames, _) = read_to_end(&mut camera);
                assert_eq!(frames.len(), written.len());
                for (frame, expected) in frames.iter().zip(&written) {
                    let expected: Vec<f32> = expected.iter().map(|&d| f32::from(d)).collect();
                    assert!(frame.depth.values() == expected.as_slice());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_missing_recording_names_the_file() {
    let path = temp_path("missing.oni");
    let e = OpenNi2Camera::open(Some(path.to_str().unwrap()))
        .err()
        .unwrap();
    assert!(
        matches!(&e, CameraError::Recording { path: p, .. } if p == &path),
        "{e:?}"
    );
    assert!(e.to_string().contains("missing.oni: no such file"), "{e}");
}

#[test]
fn files_that_are_not_recordings_are_refused_without_a_crash() {
    // Not an .oni at all.
    let garbage = TempFile(temp_path("garbage.oni"));
    let noise: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage.0, &noise).unwrap();
    let e = OpenNi2Camera::open(Some(garbage.0.to_str().unwrap()))
        .err()
        .unwrap();
    assert!(matches!(e, CameraError::Recording { .. }), "{e:?}");
    assert!(e.to_string().contains("not an OpenNI2 recording"), "{e}");

    // A real header followed by noise, and a recording cut short inside its properties: these
    // get past the signature check, so OpenNI2 itself has to refuse them.
    let stream = TINY;
    let whole = TempFile(temp_path("whole.oni"));
    write_oni(&whole.0, stream, &synthetic_frames(8, 6, 2)).unwrap();
    let bytes = std::fs::read(&whole.0).unwrap();
    for (name, content) in [
        ("noisy.oni", [&bytes[..24], &noise[..]].concat()),
        ("cut.oni", bytes[..150].to_vec()),
    ] {
        let file = TempFile(temp_path(name));
        std::fs::write(&file.0, content).unwrap();
        let e = OpenNi2Camera::open(Some(file.0.to_str().unwrap()))
            .err()
            .unwrap();
        assert!(matches!(e, CameraError::Recording { .. }), "{name}: {e:?}");
        let message = e.to_string();
        assert!(
            message.contains(name) && message.contains("OpenNI2 cannot play it"),
            "{message}"
        );
    }
}

#[test]
fn a_missing_library_names_the_package() {
    assert_eq!(LIBRARY.package, "libopenni2-0");
    let missing = VendorLibrary {
        names: &["libhourhand-no-such-OpenNI2.so.0"],
        package: LIBRARY.package,
    };
    let e = Api::load(&missing, "openni2:a.oni").err().unwrap();
    assert!(matches!(e, CameraError::Library { .. }), "{e:?}");
    let message = e.to_string();
    assert!(
        message.starts_with("openni2:a.oni: libhourhand-no-such-OpenNI2.so.0 could not be loaded"),
        "{message}"
    );
    assert!(
        message.ends_with("sudo apt-get install libopenni2-0"),
        "{message}"
    );
}

#[test]
fn listing_leaves_recordings_out() {
    let file = TempFile(temp_path("listed.oni"));
    let stream = TINY;
    write_oni(&file.0, stream, &synthetic_frames(8, 6, 1)).unwrap();
    let camera = open(&file.0);
    let cameras = list().unwrap_or_else(|e| panic!("{e}"));
    drop(camera);
    for c in &cameras {
        assert!(!c.name.contains("listed.oni"), "{c:?}");
    }
}
