//! Where ground truth comes from: a results-format file today; an NYU dataset folder (its
//! `test/joint_data.mat`) is the other source, and this is the one place it plugs in.

use std::path::{Path, PathBuf};

use super::results::{self, Format, Frame, ResultsError};

/// Why ground truth could not be loaded. Every variant names the path.
#[derive(Debug, thiserror::Error)]
pub enum GroundTruthError {
    /// The path does not exist.
    #[error("{path}: no such file or folder (expected a ground-truth results file)")]
    Missing {
        /// The path.
        path: PathBuf,
    },
    /// A dataset folder was given; reading `joint_data.mat` is not implemented yet.
    #[error(
        "{path}: is a folder; reading ground truth from an NYU dataset folder is not supported \
         yet: pass a results-format file such as nyu_test_groundtruth_label.txt"
    )]
    FolderNotSupported {
        /// The folder.
        path: PathBuf,
    },
    /// The file is not a valid results file.
    #[error(transparent)]
    Results(#[from] ResultsError),
}

/// Loads ground truth from `path`: a results-format file in `format`, or (not yet) an NYU
/// dataset folder.
pub fn load_ground_truth(path: &Path, format: Format) -> Result<Vec<Frame>, GroundTruthError> {
    if path.is_dir() {
        Err(GroundTruthError::FolderNotSupported { path: path.into() })
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
    fn folders_and_missing_paths_are_clear_errors() {
        let dir = std::env::temp_dir();
        let e = load_ground_truth(&dir, Format::NYU)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("is a folder") && e.contains("not supported yet"),
            "{e}"
        );
        let missing = dir.join("hourhand-no-such-gt.txt");
        let e = load_ground_truth(&missing, Format::NYU)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hourhand-no-such-gt.txt: no such file"), "{e}");
    }
}
