//! A training run's settings: the loss schedule, the optimizer's, augmentation, and where the
//! data is. Stored as `train.json` in the run folder and inside every checkpoint, so a run can
//! be resumed and its weights traced back to how they were made.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::loss::Loss;
use crate::net::NetConfig;

/// A stretch of training with one loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phase {
    /// The loss minimized.
    pub loss: Loss,
    /// Epochs (passes over the training set).
    pub epochs: usize,
}

/// Everything that defines a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Training data: an NYU dataset or split folder (real or `hourhand synth`).
    pub data: PathBuf,
    /// Validation data, scored in mm after every epoch.
    pub val: Option<PathBuf>,
    /// The split of an NYU dataset folder to train on (`train` unless given).
    pub split: Option<String>,
    /// Loss phases, in order (e.g. MSE, then max-out smooth L1).
    pub phases: Vec<Phase>,
    /// Samples per step.
    pub batch: usize,
    /// Learning rate of the first epoch.
    pub lr: f32,
    /// Factor applied to the learning rate after every epoch (exponential decay).
    pub lr_decay: f32,
    /// AdamW's decoupled weight decay (convolution and fully connected weights only).
    pub weight_decay: f32,
    /// Dropout rate after the local and the first global fully connected layers.
    pub dropout: f32,
    /// Seed of the epoch order, augmentation and dropout masks (and of fresh weights).
    pub seed: u64,
    /// Augmentation: largest in-plane rotation (degrees).
    pub rotation: f32,
    /// Augmentation: σ of the crop-centre shift (mm).
    pub shift: f32,
    /// Augmentation: σ of the cube's scale factor.
    pub scale: f32,
    /// Store weights as f16 (half the size) instead of f32.
    pub half: bool,
    /// The architecture.
    pub config: NetConfig,
    /// Weights the run started from (`--finetune`), if not fresh ones.
    pub finetune: Option<PathBuf>,
}

impl TrainOptions {
    /// Epochs over all phases.
    pub fn total_epochs(&self) -> usize {
        self.phases.iter().map(|p| p.epochs).sum()
    }

    /// The phase that epoch `epoch` (0-based) belongs to, with its index.
    pub fn phase_at(&self, epoch: usize) -> (usize, Phase) {
        let mut start = 0;
        for (i, p) in self.phases.iter().enumerate() {
            if epoch < start + p.epochs {
                return (i, *p);
            }
            start += p.epochs;
        }
        let last = self.phases.len() - 1;
        (last, self.phases[last])
    }

    /// The learning rate of epoch `epoch`: `lr · lr_decay^epoch`, continuing across phases.
    pub fn lr_at(&self, epoch: usize) -> f32 {
        (self.lr as f64 * (self.lr_decay as f64).powi(epoch as i32)) as f32
    }

    /// What is wrong with the settings, if anything.
    pub fn check(&self) -> Result<(), String> {
        if self.phases.is_empty() || self.phases.iter().any(|p| p.epochs == 0) {
            return Err("every loss phase needs at least one epoch".into());
        }
        if self.batch < 2 {
            return Err(format!(
                "--batch must be at least 2 (batch norm normalizes by the batch), found {}",
                self.batch
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!("--lr must be positive, found {}", self.lr));
        }
        if !(self.lr_decay > 0.0 && self.lr_decay <= 1.0) {
            return Err(format!(
                "--lr-decay must be in (0, 1], found {}",
                self.lr_decay
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "--dropout must be in [0, 1), found {}",
                self.dropout
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(format!(
                "--weight-decay must be ≥ 0, found {}",
                self.weight_decay
            ));
        }
        if !(self.rotation >= 0.0 && self.shift >= 0.0 && self.scale >= 0.0 && self.scale < 0.3) {
            return Err(format!(
                "augmentation must be non-negative (scale below 0.3): rotation {}, shift {}, scale {}",
                self.rotation, self.shift, self.scale
            ));
        }
        self.config.validate().map_err(|e| e.to_string())?;
        if self.config.outputs() as usize != crate::data::crop::OUTPUTS {
            return Err(format!(
                "the net config predicts {} joints, but NYU-format data trains 35 (36 minus the \
                 palm the crop is centred on); set `joints` to 35",
                self.config.joints
            ));
        }
        Ok(())
    }
}
