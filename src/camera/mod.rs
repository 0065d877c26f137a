//! Depth cameras and their recordings: a Kinect v1 through libfreenect, OpenNI2 devices and
//! `.oni` files through libOpenNI2, and fakenect dumps.
//!
//! The vendor libraries are loaded at run time ([`library`]), never linked: the same binary runs
//! where they are not installed, and asking for a camera there says which Debian package to
//! install. Every camera hands out [`CameraFrame`]s, depth in millimetres, through one trait,
//! [`DepthCamera`]; [`live::LiveSource`] turns one into a [`Source`](crate::data::source::Source)
//! the viewer plays like a sequence whose end keeps growing.
//!
//! Adding a camera: a module with a `DepthCamera` implementation, a variant of [`CameraSpec`]
//! and its arm in [`open_camera`] and [`list_cameras`].

pub mod fakenect;
pub mod freenect;
pub mod kinect;
pub mod library;
pub mod live;
pub mod openni2;
pub mod record;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::data::depth::DepthMap;
use crate::data::intrinsics::Intrinsics;

/// One depth frame from a camera.
#[derive(Debug, Clone)]
pub struct CameraFrame {
    /// Depth in millimetres (0: no reading).
    pub depth: DepthMap,
    /// When it reached hourhand (for latency).
    pub received: Instant,
    /// The camera's own frame counter or timestamp, as it gave it.
    pub timestamp: u64,
}

/// A depth camera, live or replaying a recording.
pub trait DepthCamera: Send {
    /// What it is ("Kinect v1 (libfreenect, device 0)").
    fn describe(&self) -> String;
    /// Its depth camera's intrinsics, at the resolution of its frames.
    fn intrinsics(&self) -> Intrinsics;
    /// Waits up to `timeout` for the next frame; `Ok(None)` when none came in that time.
    fn next_frame(&mut self, timeout: Duration) -> Result<Option<CameraFrame>, CameraError>;
}

/// Which camera to open: `freenect[:N]`, `openni2[:URI]`, or `auto` (the first found).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CameraSpec {
    /// The first camera any library finds.
    Auto,
    /// A Kinect v1 through libfreenect, by index (0 first).
    Freenect(u32),
    /// An OpenNI2 device by URI (the first when `None`); a `.oni` file's path is a URI too.
    OpenNi2(Option<String>),
}

impl std::str::FromStr for CameraSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<CameraSpec, String> {
        let (kind, arg) = match s.split_once(':') {
            Some((k, a)) => (k, Some(a)),
            None => (s, None),
        };
        match kind.to_ascii_lowercase().as_str() {
            "" | "auto" if arg.is_none() => Ok(CameraSpec::Auto),
            "freenect" | "kinect" => match arg {
                None => Ok(CameraSpec::Freenect(0)),
                Some(n) => n.parse().map(CameraSpec::Freenect).map_err(|_| {
                    format!("camera {s:?}: expected freenect:N with N a device index (0, 1, …)")
                }),
            },
            "openni2" | "openni" => Ok(CameraSpec::OpenNi2(
                arg.filter(|a| !a.is_empty()).map(str::to_owned),
            )),
            _ => Err(format!(
                "camera {s:?}: expected freenect[:N] (Kinect v1), openni2[:URI] (PrimeSense, Xtion, Astra) or auto"
            )),
        }
    }
}

impl std::fmt::Display for CameraSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CameraSpec::Auto => write!(f, "auto"),
            CameraSpec::Freenect(n) => write!(f, "freenect:{n}"),
            CameraSpec::OpenNi2(None) => write!(f, "openni2"),
            CameraSpec::OpenNi2(Some(uri)) => write!(f, "openni2:{uri}"),
        }
    }
}

/// A camera a library reports.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfo {
    /// How to ask for it with `--camera`.
    pub spec: CameraSpec,
    /// What it is.
    pub name: String,
}

/// What can go wrong with a camera. Every message says which camera or file.
#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    /// The vendor library is not installed (or not loadable).
    #[error(
        "{what}: {library} could not be loaded ({reason}); on Debian or Ubuntu: sudo apt-get install {package}"
    )]
    Library {
        /// The camera asked for.
        what: String,
        /// The library file looked for.
        library: String,
        /// The loader's message.
        reason: String,
        /// The Debian package that has it.
        package: String,
    },
    /// No camera of that kind is connected.
    #[error("{what}: {problem}")]
    NotFound {
        /// The camera asked for.
        what: String,
        /// What was found instead.
        problem: String,
    },
    /// The library reported a failure.
    #[error("{what}: {call} failed ({detail})")]
    Call {
        /// The camera.
        what: String,
        /// The library function.
        call: String,
        /// Its return code or message.
        detail: String,
    },
    /// A recording that cannot be played.
    #[error("{path}: {problem}")]
    Recording {
        /// The file or folder.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The camera stopped sending frames.
    #[error("{what}: {problem}")]
    Stopped {
        /// The camera.
        what: String,
        /// Why.
        problem: String,
    },
}

/// Opens the camera `spec` names.
pub fn open_camera(spec: &CameraSpec) -> Result<Box<dyn DepthCamera>, CameraError> {
    match spec {
        CameraSpec::Freenect(index) => Ok(Box::new(freenect::FreenectCamera::open(*index)?)),
        CameraSpec::OpenNi2(uri) => Ok(Box::new(openni2::OpenNi2Camera::open(uri.as_deref())?)),
        CameraSpec::Auto => {
            let found = list_cameras();
            let mut problems = Vec::new();
            for (library, result) in found {
                match result {
                    Ok(cameras) => {
                        if let Some(first) = cameras.first() {
                            return open_camera(&first.spec);
                        }
                        problems.push(format!("{library}: no camera connected"));
                    }
                    Err(e) => problems.push(e.to_string()),
                }
            }
            Err(CameraError::NotFound {
                what: "--camera".into(),
                problem: format!("no depth camera found: {}", problems.join("; ")),
            })
        }
    }
}

/// The cameras each library finds, or why it could not look.
pub fn list_cameras() -> Vec<(&'static str, Result<Vec<CameraInfo>, CameraError>)> {
    vec![
        ("libfreenect", freenect::list()),
        ("libOpenNI2", openni2::list()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_print() {
        assert_eq!(
            "freenect".parse::<CameraSpec>().unwrap(),
            CameraSpec::Freenect(0)
        );
        for (text, spec) in [
            ("auto", CameraSpec::Auto),
            ("freenect:0", CameraSpec::Freenect(0)),
            ("freenect:2", CameraSpec::Freenect(2)),
            ("openni2", CameraSpec::OpenNi2(None)),
            (
                "openni2:/tmp/a.oni",
                CameraSpec::OpenNi2(Some("/tmp/a.oni".into())),
            ),
        ] {
            assert_eq!(text.parse::<CameraSpec>().unwrap(), spec, "{text}");
            assert_eq!(spec.to_string(), text);
        }
        assert_eq!(
            "Kinect".parse::<CameraSpec>().unwrap(),
            CameraSpec::Freenect(0)
        );
    }

    #[test]
    fn bad_specs_say_what_is_expected() {
        for bad in ["freenect:x", "freenect:-1", "webcam", "auto:3"] {
            let e = bad.parse::<CameraSpec>().unwrap_err();
            assert!(e.contains(bad) && e.contains("expected"), "{bad}: {e}");
        }
    }
}
