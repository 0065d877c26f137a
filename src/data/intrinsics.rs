//! Pinhole camera intrinsics and the uvd ↔ xyz conversion NYU results are scored with.
//!
//! Convention (DESIGN §2): x = (u − cx)·d/fx, y = (cy − v)·d/fy, z = d, millimetres, y up;
//! u, v in pixels (u right, v down), d in millimetres.

use std::path::{Path, PathBuf};

use glam::{DVec3, Vec3};
use serde::{Deserialize, Serialize};

/// Focal lengths and principal point of a depth camera, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intrinsics {
    /// Focal length along u.
    pub fx: f64,
    /// Focal length along v.
    pub fy: f64,
    /// Principal point, u.
    pub cx: f64,
    /// Principal point, v.
    pub cy: f64,
}

/// Why an `intrinsics.json` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IntrinsicsError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not the expected JSON.
    #[error(
        "{path}: expected a JSON object {{\"fx\": …, \"fy\": …, \"cx\": …, \"cy\": …}} (pixels): {source}"
    )]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde found.
        source: serde_json::Error,
    },
    /// A value is not usable (non-positive focal length, non-finite value).
    #[error("{what}: {problem}")]
    Invalid {
        /// Where the values came from.
        what: String,
        /// What is wrong.
        problem: String,
    },
}

impl Intrinsics {
    /// NYU's Kinect as the dataset documents it.
    pub const NYU: Intrinsics = Intrinsics {
        fx: 588.036865,
        fy: 587.075073,
        cx: 320.0,
        cy: 240.0,
    };

    /// NYU's Kinect with the rounded focal lengths most evaluators use (the shared results
    /// files and their published figures).
    pub const NYU_EVAL: Intrinsics = Intrinsics {
        fx: 588.03,
        fy: 587.07,
        cx: 320.0,
        cy: 240.0,
    };

    /// Checks the values are finite and the focal lengths positive; `what` names the source.
    pub fn validate(&self, what: &str) -> Result<(), IntrinsicsError> {
        let values = [
            ("fx", self.fx),
            ("fy", self.fy),
            ("cx", self.cx),
            ("cy", self.cy),
        ];
        for (name, v) in values {
            if !v.is_finite() {
                return Err(IntrinsicsError::Invalid {
                    what: what.into(),
                    problem: format!("{name} is {v}; expected a finite number of pixels"),
                });
            }
        }
        if self.fx <= 0.0 || self.fy <= 0.0 {
            return Err(IntrinsicsError::Invalid {
                what: what.into(),
                problem: format!(
                    "focal lengths must be positive pixels, found fx = {}, fy = {}",
                    self.fx, self.fy
                ),
            });
        }
        Ok(())
    }

    /// Reads `{"fx", "fy", "cx", "cy"}` from a JSON file and validates it.
    pub fn load(path: &Path) -> Result<Intrinsics, IntrinsicsError> {
        let text = std::fs::read_to_string(path).map_err(|source| IntrinsicsError::Io {
            path: path.into(),
            source,
        })?;
        let k: Intrinsics =
            serde_json::from_str(&text).map_err(|source| IntrinsicsError::Json {
                path: path.into(),
                source,
            })?;
        k.validate(&path.display().to_string())?;
        Ok(k)
    }

    /// (u, v, d) → (x, y, z) in millimetres, in f64 (what evaluation uses).
    pub fn uvd_to_xyz_f64(&self, uvd: DVec3) -> DVec3 {
        DVec3::new(
            (uvd.x - self.cx) * uvd.z / self.fx,
            (self.cy - uvd.y) * uvd.z / self.fy,
            uvd.z,
        )
    }

    /// (x, y, z) → (u, v, d), in f64.
    pub fn xyz_to_uvd_f64(&self, xyz: DVec3) -> DVec3 {
        DVec3::new(
            self.cx + xyz.x * self.fx / xyz.z,
            self.cy - xyz.y * self.fy / xyz.z,
            xyz.z,
        )
    }

    /// (u, v, d) → (x, y, z) in millimetres.
    pub fn uvd_to_xyz(&self, uvd: Vec3) -> Vec3 {
        self.uvd_to_xyz_f64(uvd.as_dvec3()).as_vec3()
    }

    /// (x, y, z) → (u, v, d).
    pub fn xyz_to_uvd(&self, xyz: Vec3) -> Vec3 {
        self.xyz_to_uvd_f64(xyz.as_dvec3()).as_vec3()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvd_xyz_round_trip_and_axes() {
        let k = Intrinsics::NYU;
        let uvd = DVec3::new(400.5, 100.25, 812.0);
        let xyz = k.uvd_to_xyz_f64(uvd);
        assert!(xyz.x > 0.0, "u right of centre is +x");
        assert!(xyz.y > 0.0, "v above centre is +y (y up)");
        assert_eq!(xyz.z, 812.0);
        assert!((k.xyz_to_uvd_f64(xyz) - uvd).length() < 1e-9);
        let c = k.uvd_to_xyz(Vec3::new(320.0, 240.0, 500.0));
        assert_eq!(c, Vec3::new(0.0, 0.0, 500.0));
    }

    #[test]
    fn bad_intrinsics_files_are_named() {
        let dir = std::env::temp_dir().join(format!("hourhand-intr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            ("{\"fx\": 1.0}", "missing field"),
            (
                "{\"fx\": 500, \"fy\": -1, \"cx\": 1, \"cy\": 2}",
                "positive",
            ),
            (
                "{\"fx\": 500, \"fy\": 500, \"cx\": 1, \"cy\": 2, \"k1\": 0}",
                "unknown field",
            ),
            ("not json", "expected a JSON object"),
        ];
        for (i, (text, expect)) in cases.iter().enumerate() {
            let path = dir.join(format!("intrinsics{i}.json"));
            std::fs::write(&path, text).unwrap();
            let err = Intrinsics::load(&path).unwrap_err().to_string();
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains(expect), "{err}");
        }
        let good = dir.join("good.json");
        std::fs::write(
            &good,
            "{\"fx\": 600, \"fy\": 601, \"cx\": 319.5, \"cy\": 239.5}",
        )
        .unwrap();
        assert_eq!(Intrinsics::load(&good).unwrap().fy, 601.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
