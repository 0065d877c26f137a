//! A folder of depth frames from any depth camera: PNG files (16-bit grayscale millimetres, or
//! NYU's RGB packing), in natural name order.
//!
//! The camera comes from the caller (command-line flags), else from an `intrinsics.json` in the
//! folder, else — only for NYU-named frames (`depth_K_NNNNNNN.png`) — NYU's Kinect. Ground truth,
//! when given, is a results-format file with one line per frame. A folder of NYU-named frames
//! (NYU's files without its `joint_data.mat`, say a few test frames copied out) holds one
//! kinect's depth frames: its `rgb_*` and `synthdepth_*` files, and the other kinects', are not
//! frames.

use std::path::{Path, PathBuf};

use glam::Vec3;

use super::depth_png::read_depth_png;
use super::error::DataError;
use super::intrinsics::Intrinsics;
use super::source::{Frame, GroundTruth, Source, file_name, natural_cmp};

/// The file a folder's camera intrinsics are read from.
pub const INTRINSICS_FILE: &str = "intrinsics.json";

/// A folder of depth PNGs.
#[derive(Debug)]
pub struct FrameFolder {
    dir: PathBuf,
    files: Vec<PathBuf>,
    intrinsics: Intrinsics,
    intrinsics_from: String,
    ground_truth: Option<Vec<[Vec3; 14]>>,
}

impl FrameFolder {
    /// Lists the PNGs in `dir` (with `nyu_kinect`, only NYU's `depth_K_NNNNNNN.png` of that
    /// kinect). `intrinsics` overrides the folder's `intrinsics.json`; `ground_truth` is one uvd
    /// line per frame of the 14 evaluation joints.
    pub fn open(
        dir: &Path,
        nyu_kinect: Option<u32>,
        intrinsics: Option<Intrinsics>,
        ground_truth: Option<Vec<[Vec3; 14]>>,
        ground_truth_path: Option<&Path>,
    ) -> Result<FrameFolder, DataError> {
        let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| DataError::io(dir, e))?.path();
            let is_png = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"));
            let wanted = match nyu_kinect {
                Some(k) => parse_nyu_name(&file_name(&path)).is_some_and(|(kinect, _)| kinect == k),
                None => is_png,
            };
            if wanted && path.is_file() {
                files.push(path);
            }
        }
        if files.is_empty() {
            let problem = match nyu_kinect {
                Some(k) => format!("no depth frames of NYU's kinect {k} (depth_{k}_0000001.png …)"),
                None => "no depth frames: expected PNG files (16-bit grayscale in mm, or NYU's RGB packing)".into(),
            };
            return Err(DataError::Folder {
                path: dir.into(),
                problem,
            });
        }
        files.sort_by(|a, b| natural_cmp(&file_name(a), &file_name(b)));
        let json = dir.join(INTRINSICS_FILE);
        let (intrinsics, intrinsics_from) = match intrinsics {
            Some(k) => {
                k.validate("--fx/--fy/--cx/--cy")?;
                (k, "given on the command line".to_string())
            }
            None if json.exists() => (Intrinsics::load(&json)?, json.display().to_string()),
            None if files.iter().all(|f| is_nyu_name(&file_name(f))) => (
                Intrinsics::NYU,
                "NYU's Kinect (NYU-named frames)".to_string(),
            ),
            None => {
                return Err(DataError::Folder {
                    path: dir.into(),
                    problem: format!(
                        "no camera intrinsics: put an {INTRINSICS_FILE} ({{\"fx\": …, \"fy\": …, \"cx\": …, \"cy\": …}}, pixels) in the folder or pass --fx --fy --cx --cy"
                    ),
                });
            }
        };
        if let Some(gt) = &ground_truth
            && gt.len() != files.len()
        {
            let what =
                ground_truth_path.map_or("the ground truth".into(), |p| p.display().to_string());
            return Err(DataError::Folder {
                path: dir.into(),
                problem: format!(
                    "{} depth frames but {what} has {} lines; expected one line per frame",
                    files.len(),
                    gt.len()
                ),
            });
        }
        Ok(FrameFolder {
            dir: dir.into(),
            files,
            intrinsics,
            intrinsics_from,
            ground_truth,
        })
    }
}

/// Whether a file name is NYU's `depth_K_NNNNNNN.png`.
pub fn is_nyu_name(name: &str) -> bool {
    parse_nyu_name(name).is_some()
}

/// (kinect, frame) of an NYU file name `depth_K_NNNNNNN.png`.
pub fn parse_nyu_name(name: &str) -> Option<(u32, usize)> {
    let rest = name.strip_prefix("depth_")?.strip_suffix(".png")?;
    let (kinect, frame) = rest.split_once('_')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    if !all_digits(kinect) || frame.len() != 7 || !all_digits(frame) {
        return None;
    }
    Some((kinect.parse().ok()?, frame.parse().ok()?))
}

impl Source for FrameFolder {
    fn describe(&self) -> String {
        format!(
            "depth-frame folder {}: {} frames{}; camera {}",
            self.dir.display(),
            self.files.len(),
            if self.ground_truth.is_some() {
                " with ground truth"
            } else {
                ""
            },
            self.intrinsics_from
        )
    }

    fn len(&self) -> usize {
        self.files.len()
    }

    fn intrinsics(&self) -> Intrinsics {
        self.intrinsics
    }

    fn frame_path(&self, index: usize) -> PathBuf {
        self.files[index].clone()
    }

    fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        self.ground_truth
            .as_ref()
            .map(|g| GroundTruth::Subset(g[index]))
    }

    fn load(&self, index: usize) -> Result<Frame, DataError> {
        let path = &self.files[index];
        let (depth, _) = read_depth_png(path, None)?;
        Ok(Frame {
            index,
            name: file_name(path),
            path: path.clone(),
            depth,
            intrinsics: self.intrinsics,
            ground_truth: self.ground_truth(index),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::depth::DepthMap;
    use crate::data::depth_png::{DepthPacking, write_depth_png};

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("hourhand-folder-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_frames_in_natural_order_with_intrinsics_json() {
        let dir = temp_dir("order");
        for (i, name) in ["f10.png", "f2.png", "f1.png"].iter().enumerate() {
            let d = DepthMap::new(3, 2, vec![100.0 * (i + 1) as f32; 6]).unwrap();
            write_depth_png(
                &dir.join(name),
                &d,
                DepthPacking::Gray16,
                png::Compression::Fast,
                false,
            )
            .unwrap();
        }
        std::fs::write(dir.join("notes.txt"), "not a frame").unwrap();
        let e = FrameFolder::open(&dir, None, None, None, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no camera intrinsics") && e.contains(&dir.display().to_string()),
            "{e}"
        );
        std::fs::write(
            dir.join(INTRINSICS_FILE),
            r#"{"fx": 380, "fy": 381, "cx": 1, "cy": 1}"#,
        )
        .unwrap();
        let folder = FrameFolder::open(&dir, None, None, None, None).unwrap();
        assert_eq!(folder.len(), 3);
        assert_eq!(folder.intrinsics().fy, 381.0);
        let names: Vec<String> = (0..3).map(|i| folder.load(i).unwrap().name).collect();
        assert_eq!(names, ["f1.png", "f2.png", "f10.png"]);
        assert_eq!(folder.load(0).unwrap().depth.values()[0], 300.0);
        // A wrong number of ground-truth lines is refused.
        let gt = vec![[Vec3::ZERO; 14]; 2];
        let e =
            FrameFolder::open(&dir, None, None, Some(gt), Some(Path::new("gt.txt"))).unwrap_err();
        assert!(
            e.to_string()
                .contains("3 depth frames but gt.txt has 2 lines"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn empty_folders_and_bad_frames_are_named() {
        let dir = temp_dir("bad");
        let e = FrameFolder::open(&dir, None, None, None, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no depth frames"), "{e}");
        std::fs::write(dir.join("depth_1_0000001.png"), b"\x89PNG truncated").unwrap();
        let folder = FrameFolder::open(&dir, None, None, None, None).unwrap();
        assert_eq!(folder.intrinsics(), Intrinsics::NYU);
        let e = folder.load(0).unwrap_err().to_string();
        assert!(
            e.contains("depth_1_0000001.png") && e.contains("not a readable PNG"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn nyu_names() {
        assert_eq!(parse_nyu_name("depth_1_0000001.png"), Some((1, 1)));
        assert_eq!(parse_nyu_name("depth_3_0072757.png"), Some((3, 72757)));
        assert_eq!(parse_nyu_name("depth_1_001.png"), None);
        assert_eq!(parse_nyu_name("rgb_1_0000001.png"), None);
    }
}
