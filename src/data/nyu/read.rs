//! Reading an NYU split folder. Only the annotations are read up front (the chosen kinect's, as
//! f32: 31 MB for the 72,757 training frames); images are read when a frame is loaded.

use std::path::{Path, PathBuf};

use glam::DVec3;

use super::{IMAGE_SIZE, JOINT_DATA, LABELS_FILE, frame_file};
use crate::data::crop::{NYU_CUBE, nyu_test_cube};
use crate::data::depth_png::read_depth_png;
use crate::data::error::DataError;
use crate::data::folder::parse_nyu_name;
use crate::data::intrinsics::Intrinsics;
use crate::data::joints::{Joints, Labels, NUM_JOINTS};
use crate::data::mat::{Dim, MatFile};
use crate::data::source::{Frame, GroundTruth, Source, file_name};

/// One kinect's frames of an NYU split folder.
#[derive(Debug)]
pub struct NyuSequence {
    dir: PathBuf,
    kinect: u32,
    frames: usize,
    joints_uvd: Option<Vec<Joints>>,
    /// Whether NYU's test protocol applies (the 250 mm cube for the second subject).
    test_protocol: bool,
    /// The joints' label convention ([`LABELS_FILE`]).
    labels: Labels,
}

impl NyuSequence {
    /// Opens `path`: a split folder, or a dataset folder holding `split` (`"test"` when `None`).
    pub fn open(path: &Path, split: Option<&str>, kinect: u32) -> Result<NyuSequence, DataError> {
        let dir = split_dir(path, split)?;
        if !(1..=3).contains(&kinect) {
            return Err(DataError::Folder {
                path: dir,
                problem: format!("kinect {kinect} does not exist; NYU has kinects 1, 2 and 3"),
            });
        }
        let mat = dir.join(JOINT_DATA);
        let (frames, joints_uvd) = if mat.exists() {
            let uvd = read_joint_uvd(&mat, kinect)?;
            (uvd.len(), Some(uvd))
        } else {
            (count_frames(&dir, kinect)?, None)
        };
        let first = dir.join(frame_file(kinect, 1));
        if !first.exists() {
            return Err(DataError::Folder {
                path: dir,
                problem: format!(
                    "no {}: expected {frames} depth frames depth_{kinect}_0000001.png … next to {JOINT_DATA}",
                    file_name(&first)
                ),
            });
        }
        let test_protocol = dir.file_name().is_some_and(|n| n == "test");
        let labels = read_labels(&dir)?;
        Ok(NyuSequence {
            dir,
            kinect,
            frames,
            joints_uvd,
            test_protocol,
            labels,
        })
    }

    /// The split folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The label convention a split folder's [`LABELS_FILE`] names; NYU's where it has none.
fn read_labels(dir: &Path) -> Result<Labels, DataError> {
    let path = dir.join(LABELS_FILE);
    if !path.exists() {
        return Ok(Labels::Nyu);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| DataError::io(&path, e))?;
    let bad = |problem: String| DataError::Folder {
        path: path.clone(),
        problem,
    };
    let example = r#"{"labels": "anatomical"}"#;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| bad(format!("not JSON ({e}); expected {example}")))?;
    let name = value
        .get("labels")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad(format!("no \"labels\" string; expected {example}")))?;
    Labels::from_name(name).ok_or_else(|| {
        bad(format!(
            "unknown label convention \"{name}\"; expected {}",
            Labels::expected()
        ))
    })
}

/// Whether `path` is an NYU dataset or split folder (one [`split_dir`] can open).
pub fn is_nyu_folder(path: &Path) -> bool {
    split_dir(path, None).is_ok()
}

/// The split folder of `path` (a split folder itself, or a dataset folder holding `split`,
/// `test` by default).
pub fn split_dir(path: &Path, split: Option<&str>) -> Result<PathBuf, DataError> {
    let is_split = |p: &Path| p.join(JOINT_DATA).exists() || p.join(frame_file(1, 1)).exists();
    if let Some(split) = split {
        let dir = path.join(split);
        if is_split(&dir) {
            return Ok(dir);
        }
        if is_split(path) && path.file_name().is_some_and(|n| n == split) {
            return Ok(path.into());
        }
        return Err(DataError::Folder {
            path: path.into(),
            problem: format!(
                "no NYU split `{split}` here (expected {}/{JOINT_DATA})",
                dir.display()
            ),
        });
    }
    if is_split(path) {
        return Ok(path.into());
    }
    for split in ["test", "train"] {
        if is_split(&path.join(split)) {
            return Ok(path.join(split));
        }
    }
    Err(DataError::Folder {
        path: path.into(),
        problem: format!(
            "not an NYU folder: expected {JOINT_DATA} and depth_1_0000001.png …, or test/ and train/ folders holding them"
        ),
    })
}

/// Frames in a split folder without annotations: the highest frame number of the kinect.
fn count_frames(dir: &Path, kinect: u32) -> Result<usize, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut last = 0;
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if let Some((k, n)) = parse_nyu_name(&entry.file_name().to_string_lossy())
            && k == kinect
        {
            last = last.max(n);
        }
    }
    Ok(last)
}

/// Reads one kinect's `joint_uvd` (K × N × 36 × 3, column-major) as f32 joints.
pub fn read_joint_uvd(path: &Path, kinect: u32) -> Result<Vec<Joints>, DataError> {
    let joints = read_joint_uvd_f64(path, kinect)?;
    Ok(joints.into_iter().map(|j| j.map(|p| p.as_vec3())).collect())
}

/// Reads one kinect's `joint_uvd` in full precision (what evaluation compares against).
pub fn read_joint_uvd_f64(path: &Path, kinect: u32) -> Result<Vec<[DVec3; NUM_JOINTS]>, DataError> {
    read_joints_f64(path, "joint_uvd", kinect)
}

/// Reads one kinect's joints from `variable` (`joint_uvd` or `joint_xyz`, K × N × 36 × 3).
pub fn read_joints_f64(
    path: &Path,
    variable: &str,
    kinect: u32,
) -> Result<Vec<[DVec3; NUM_JOINTS]>, DataError> {
    let file = MatFile::read_only(path, &[variable])?;
    let expected = [
        Dim::Any("kinects"),
        Dim::Any("frames"),
        Dim::Is(NUM_JOINTS),
        Dim::Is(3),
    ];
    let uvd = file.numeric_dims(variable, &expected)?;
    let (kinects, frames) = (uvd.dims[0], uvd.dims[1]);
    if kinect as usize > kinects {
        return Err(DataError::Corrupt {
            path: path.into(),
            problem: format!("{variable} has {kinects} kinect(s); kinect {kinect} was asked for"),
        });
    }
    let k = kinect as usize - 1;
    // Column-major: index = k + K·(n + N·(j + 36·c)).
    let at =
        |n: usize, j: usize, c: usize| uvd.data[k + kinects * (n + frames * (j + NUM_JOINTS * c))];
    let joints: Vec<[DVec3; NUM_JOINTS]> = (0..frames)
        .map(|n| std::array::from_fn(|j| DVec3::new(at(n, j, 0), at(n, j, 1), at(n, j, 2))))
        .collect();
    if let Some(n) = joints.iter().position(|f| f.iter().any(|p| !p.is_finite())) {
        return Err(DataError::Corrupt {
            path: path.into(),
            problem: format!(
                "{variable} of frame {} (kinect {kinect}) is not finite",
                n + 1
            ),
        });
    }
    Ok(joints)
}

impl Source for NyuSequence {
    fn describe(&self) -> String {
        format!(
            "NYU {}, kinect {}: {} frames{} in {}",
            self.dir
                .file_name()
                .map_or("split".into(), |n| n.to_string_lossy()),
            self.kinect,
            self.frames,
            if self.joints_uvd.is_some() {
                " with ground truth"
            } else {
                ""
            },
            self.dir.display()
        )
    }

    fn len(&self) -> usize {
        self.frames
    }

    fn labels(&self) -> Labels {
        self.labels
    }

    fn intrinsics(&self) -> Intrinsics {
        Intrinsics::NYU
    }

    fn frame_path(&self, index: usize) -> PathBuf {
        self.dir.join(frame_file(self.kinect, index + 1))
    }

    fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        self.joints_uvd
            .as_ref()
            .map(|j| GroundTruth::Full(j[index]))
    }

    fn cube(&self, index: usize) -> f32 {
        if self.test_protocol {
            nyu_test_cube(index + 1)
        } else {
            NYU_CUBE
        }
    }

    fn load(&self, index: usize) -> Result<Frame, DataError> {
        let path = self.frame_path(index);
        let (depth, _) = read_depth_png(&path, Some(IMAGE_SIZE))?;
        Ok(Frame {
            index,
            name: file_name(&path),
            path,
            depth,
            intrinsics: Intrinsics::NYU,
            ground_truth: self.ground_truth(index),
        })
    }
}
