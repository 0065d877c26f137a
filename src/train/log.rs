//! `log.csv`: one line per epoch, appended (a resumed run continues the same file).

use std::io::Write;
use std::path::Path;

use super::error::TrainError;

/// What one epoch did.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochRecord {
    /// Epochs completed (1-based).
    pub epoch: usize,
    /// The loss trained.
    pub loss: String,
    /// Mean training loss over the epoch's samples.
    pub train_loss: f64,
    /// Validation mean error (mm), when there is a validation set.
    pub val_mm: Option<f64>,
    /// Learning rate used.
    pub lr: f32,
    /// Training throughput (loading included).
    pub samples_per_s: f64,
    /// Seconds since the run began (over resumes).
    pub seconds: f64,
    /// Whether this epoch became `best.safetensors`.
    pub best: bool,
}

/// The header line of `log.csv`.
pub const HEADER: &str = "epoch,loss,train_loss,val_mean_mm,lr,samples_per_s,seconds,best";

/// Appends `record`, writing the header first if the file is new.
pub fn append_log(path: &Path, r: &EpochRecord) -> Result<(), TrainError> {
    let err = |source| TrainError::Log {
        path: path.into(),
        source,
    };
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    let mut line = String::new();
    if new {
        line.push_str(HEADER);
        line.push('\n');
    }
    line.push_str(&format!(
        "{},{},{:.6},{},{:.3e},{:.2},{:.1},{}\n",
        r.epoch,
        r.loss,
        r.train_loss,
        r.val_mm.map_or(String::new(), |v| format!("{v:.3}")),
        r.lr,
        r.samples_per_s,
        r.seconds,
        r.best as u8
    ));
    f.write_all(line.as_bytes()).map_err(err)
}
