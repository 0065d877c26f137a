//! The files of a run folder: `last.safetensors` and `best.safetensors` (weights every command
//! loads), `checkpoint.safetensors` (weights + Adam's moments + the run's state, one file so a
//! resume never mixes epochs), `train.json` and `log.csv`. Every file is written atomically.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::options::TrainOptions;
use super::step::Moments;
use crate::files::write_atomic;
use crate::net::{Params, Storage, Tensor, Weights, WeightsError};

/// Metadata key of the run state in a checkpoint.
pub const STATE_KEY: &str = "hourhand.train";
const M_PREFIX: &str = "adam.m.";
const V_PREFIX: &str = "adam.v.";

/// Where a run stands after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    /// Best validation mean error (mm) so far, and the epoch (1-based) it came from.
    pub best: Option<(f64, usize)>,
    /// Seconds spent training so far (over resumes).
    pub seconds: f64,
    /// The run's settings.
    pub options: TrainOptions,
}

/// What a run folder's checkpoint holds.
pub struct Checkpoint {
    /// The weights after `state.epoch` epochs.
    pub weights: Weights,
    /// Adam's moments.
    pub moments: Moments,
    /// The run's state.
    pub state: RunState,
}

/// Paths of a run folder's files.
#[derive(Debug, Clone)]
pub struct RunFiles {
    /// The folder.
    pub dir: PathBuf,
}

impl RunFiles {
    /// The files of run folder `dir`.
    pub fn new(dir: &Path) -> RunFiles {
        RunFiles { dir: dir.into() }
    }
    /// Weights after the last epoch.
    pub fn last(&self) -> PathBuf {
        self.dir.join("last.safetensors")
    }
    /// Weights of the epoch with the lowest validation error.
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }
    /// Weights, moments and state, for `--resume`.
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join("checkpoint.safetensors")
    }
    /// The run's settings, readable.
    pub fn options(&self) -> PathBuf {
        self.dir.join("train.json")
    }
    /// One line per epoch.
    pub fn log(&self) -> PathBuf {
        self.dir.join("log.csv")
    }
    /// The files of value a finished epoch leaves: a new run refuses to replace them.
    /// (`train.json` and `log.csv` alone are what a run that failed before its first epoch
    /// leaves; they are replaced.)
    pub fn results(&self) -> [PathBuf; 3] {
        [self.last(), self.best(), self.checkpoint()]
    }
}

/// Writes the checkpoint atomically, replacing the previous one.
pub fn save_checkpoint(path: &Path, c: &Checkpoint) -> Result<(), WeightsError> {
    let mut extra = Params::new();
    for (prefix, moments) in [(M_PREFIX, &c.moments.m), (V_PREFIX, &c.moments.v)] {
        for (name, t) in moments {
            extra.insert(format!("{prefix}{name}"), t.clone());
        }
    }
    let state = serde_json::to_string(&c.state).expect("run state serializes");
    let bytes = c
        .weights
        .to_bytes_with(Storage::F32, &extra, &[(STATE_KEY, state)]);
    Ok(write_atomic(path, &bytes, true)?)
}

/// Why a checkpoint cannot be resumed from.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file is not readable weights.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// No run state in the file.
    #[error(
        "{0}: no `{STATE_KEY}` run state in the metadata; this is a weights file, not a training checkpoint (use --finetune to start from it)"
    )]
    NoState(PathBuf),
    /// The run state is not valid.
    #[error("{path}: the run state is not valid: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
    /// A trainable parameter has no moments, or they are mis-shaped.
    #[error("{path}: Adam moments for `{name}` are missing or mis-shaped")]
    Moments {
        /// The file.
        path: PathBuf,
        /// The parameter.
        name: String,
    },
}

/// Reads a checkpoint written by [`save_checkpoint`].
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
        path: path.into(),
        source,
    })?;
    let (weights, extra, metadata) = Weights::from_bytes_with(&bytes, path, Some("adam."))?;
    let json = metadata
        .get(STATE_KEY)
        .ok_or_else(|| CheckpointError::NoState(path.into()))?;
    let state: RunState = serde_json::from_str(json).map_err(|source| CheckpointError::State {
        path: path.into(),
        source,
    })?;
    let mut moments = Moments::zeros(&weights.tensors);
    for (prefix, target) in [(M_PREFIX, &mut moments.m), (V_PREFIX, &mut moments.v)] {
        for (name, t) in target.iter_mut() {
            match extra.get(&format!("{prefix}{name}")) {
                Some(found) if found.shape == t.shape => *t = Tensor::clone(found),
                _ => {
                    return Err(CheckpointError::Moments {
                        path: path.into(),
                        name: name.clone(),
                    });
                }
            }
        }
    }
    Ok(Checkpoint {
        weights,
        moments,
        state,
    })
}
