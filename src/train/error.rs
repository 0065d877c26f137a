//! What can stop a training run. Every variant names the file or the step concerned.

use std::path::PathBuf;

use super::loss::Loss;
use crate::data::DataError;
use crate::gpu::GpuError;
use crate::net::WeightsError;
use crate::run::InputError;

/// Why training stopped.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A training or validation frame could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// Weights or a checkpoint could not be written.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The GPU backend failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A batch does not fit the network.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The log could not be written.
    #[error("{path}: cannot write the training log: {source}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The loss diverged.
    #[error(
        "the {loss} loss became {value} at epoch {epoch}, step {step}; the run folder keeps the \
         last good epoch (resume it with a lower --lr)"
    )]
    NonFinite {
        /// The loss trained.
        loss: Loss,
        /// Its value.
        value: f32,
        /// Epoch (1-based).
        epoch: usize,
        /// Step (1-based).
        step: u64,
    },
    /// Fewer training frames than one batch.
    #[error("{path}: {frames} training frames, fewer than one batch of {batch}")]
    TooFewFrames {
        /// The training data.
        path: PathBuf,
        /// Its frames.
        frames: usize,
        /// The batch size.
        batch: usize,
    },
}
