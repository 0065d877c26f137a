//! Where ground truth comes from: a results-format file, or an NYU dataset or split folder (the
//! kinect-1 joints of its `joint_data.mat`: `joint_uvd`, or `joint_xyz` for xyz evaluation).

use std::path::{Path, PathBuf};

use super::results::{self, Coords, Format, Frame, ResultsError};
use crate::data::DataError;
use crate::data::joints::{EVAL_SUBSET, NUM_JOINTS};
use crate::data::nyu::{JOINT_DATA, read_joints_f64, split_dir};

/// Why ground truth could not be loaded. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum GroundTruthError {
    /// The path does not exist.
    #[error(
        "{path}: no such file or folder (expected a ground-truth results file or an NYU folder)"
    )]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// A folder asked for a joint layout NYU annotations cannot give.
    #[error("{path}: an NYU folder has 14 or 36 joints per frame; {joints} were asked for")]
    Joints {
        /// The folder.
        path: PathBuf,
        /// Joints asked for.
        joints: usize,
    },
    /// The NYU folder could not be read.
    #[error(transparent)]
    Folder(#[from] DataError),
    /// The file is not a valid results file.
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// Loads ground truth from `path`: a results-format file in `format`, or an NYU dataset folder
/// (its `test` split) or split folder, giving the 14 evaluation joints or all 36 in `format`'s
/// coordinates.
pub fn load_ground_truth(path: &Path, format: Format) -> Result<Vec<Frame>, GroundTruthError> {
    if path.is_dir() {
        let pick: Vec<usize> = match format.joints {
            14 => EVAL_SUBSET.to_vec(),
            NUM_JOINTS => (0..NUM_JOINTS).collect(),
            joints => {
                return Err(GroundTruthError::Joints {
                    path: path.into(),
                    joints,
                });
            }
        };
        let mat = split_dir(path, None)?.join(JOINT_DATA);
        let variable = match format.coords {
            Coords::Uvd => "joint_uvd",
            Coords::Xyz => "joint_xyz",
        };
        let joints = read_joints_f64(&mat, variable, 1)?;
        Ok(joints
            .iter()
            .map(|j| pick.iter().map(|&i| j[i]).collect())
            .collect())
    } else if !path.exists() {
        Err(GroundTruthError::Missing { path: path.into() })
    } else {
        Ok(results::read(path, format)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_nyu_folders_and_missing_paths_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("hourhand-gt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = load_ground_truth(&dir, Format::NYU)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("not an NYU folder") && e.contains(&dir.display().to_string()),
            "{e}"
        );
        let missing = dir.join("hourhand-no-such-gt.txt");
        let e = load_ground_truth(&missing, Format::NYU)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hourhand-no-such-gt.txt: no such file"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
