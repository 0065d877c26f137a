//! What can go wrong reading data. Every variant names the file (and line, where there is one).

use std::path::{Path, PathBuf};

use super::depth::DepthError;
use super::intrinsics::IntrinsicsError;

/// An error reading or writing frames, annotations or centres.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file exists and overwriting was not asked for.
    #[error("{path}: already exists; refusing to overwrite it (pass --force to replace it)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// Not a PNG, or a damaged one.
    #[error("{path}: not a readable PNG ({source}); the file may be truncated or not an image")]
    Png {
        /// The file.
        path: PathBuf,
        /// What the decoder found.
        source: png::DecodingError,
    },
    /// A PNG that does not hold depth.
    #[error(
        "{path}: a {found} PNG; expected a 16-bit grayscale PNG (depth in mm) or an NYU 8-bit RGB PNG (depth = G·256 + B)"
    )]
    PngFormat {
        /// The file.
        path: PathBuf,
        /// Its bit depth and colour type.
        found: String,
    },
    /// An image of the wrong size.
    #[error("{path}: expected a {}×{} image, found {}×{}", expected.0, expected.1, found.0, found.1)]
    ImageSize {
        /// The file.
        path: PathBuf,
        /// Width, height expected.
        expected: (usize, usize),
        /// Width, height found.
        found: (usize, usize),
    },
    /// Values that cannot be depth.
    #[error("{path}: {source}")]
    Depth {
        /// The file.
        path: PathBuf,
        /// The problem.
        source: DepthError,
    },
    /// A damaged file, in a way a parser below did not name.
    #[error("{path}: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A text file line that does not parse.
    #[error("{path}:{line}: {problem}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected and found.
        problem: String,
    },
    /// A folder with nothing hourhand can read.
    #[error("{path}: {problem}")]
    Folder {
        /// The folder.
        path: PathBuf,
        /// What was expected.
        problem: String,
    },
    /// Camera intrinsics problem.
    #[error(transparent)]
    Intrinsics(#[from] IntrinsicsError),
    /// A MAT-file problem.
    #[error(transparent)]
    Mat(#[from] crate::data::mat::MatError),
    /// A results-format file problem (ground truth of a frame folder).
    #[error(transparent)]
    Results(#[from] crate::eval::ResultsError),
    /// No hand found in a frame.
    #[error("{frame}: no hand found: {problem}")]
    NoHand {
        /// The frame.
        frame: String,
        /// What the detector saw.
        problem: String,
    },
}

impl From<crate::files::WriteError> for DataError {
    fn from(e: crate::files::WriteError) -> DataError {
        match e {
            crate::files::WriteError::Exists { path } => DataError::Exists { path },
            crate::files::WriteError::Io { path, source } => DataError::Io { path, source },
        }
    }
}

impl DataError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> DataError {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}
