//! Atomic file writes shared by the results writer and the plots.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why [`write_atomically`] did not write.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The file exists and overwriting was not asked for.
    Exists,
    /// Creating, writing or renaming failed.
    Io(std::io::Error),
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so an interrupted
/// write never leaves a half-written file where a good one was; refuses to replace an existing
/// file unless `overwrite` is set.
pub(crate) fn write_atomically(
    path: &Path,
    bytes: &[u8],
    overwrite: bool,
) -> Result<(), WriteError> {
    if !overwrite && path.exists() {
        return Err(WriteError::Exists);
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // Leave no stray temporary behind; the original error is the one worth reporting.
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(WriteError::Io)
}
