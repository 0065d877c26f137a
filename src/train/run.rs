//! The training loop: epochs over the training set in a seeded order, batches loaded and
//! augmented on a background thread while the backend steps, validation in millimetres after
//! every epoch, and the run folder's files written atomically after every epoch.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::augment::Augment;
use super::checkpoint::{Checkpoint, RunFiles, RunState, save_checkpoint};
use super::dataset::{Loader, TrainSet, epoch_order};
use super::engine::Engine;
use super::error::TrainError;
use super::log::{EpochRecord, append_log};
use super::step::StepOptions;
use crate::data::{EVAL_SUBSET, PRIOR_JOINT};
use crate::net::training::{Dropout, pcg_hash};
use crate::net::{Network, Storage, Weights};
use crate::train::adam::AdamStep;

/// Hears about progress (the CLI draws a progress bar; tests stay quiet).
pub trait Observer {
    /// An epoch begins: its number (1-based), the total, its loss and step count.
    fn epoch_start(&mut self, _epoch: usize, _total: usize, _phase: &str, _steps: usize) {}
    /// A step finished: its loss and samples per second so far in this epoch.
    fn step(&mut self, _loss: f32, _samples_per_s: f64) {}
    /// An epoch ended (its files are written).
    fn epoch_end(&mut self, _record: &EpochRecord) {}
    /// Asked after every epoch: stop here (the run can be resumed from its checkpoint).
    fn stop(&mut self) -> bool {
        false
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl Observer for Quiet {}

/// Half of the nominal NYU cube: millimetres per normalized unit in the losses.
pub const LOSS_SCALE: f32 = crate::data::crop::NYU_CUBE / 2.0;

/// Trains from `state` (a fresh state has epoch 0) to the end of the schedule, writing the run
/// folder after every epoch. Returns the final state.
pub fn train(
    engine: &mut dyn Engine,
    config: &crate::net::NetConfig,
    train_set: Arc<TrainSet>,
    val_set: Option<Arc<TrainSet>>,
    dir: &Path,
    mut state: RunState,
    observer: &mut dyn Observer,
) -> Result<RunState, TrainError> {
    let files = RunFiles::new(dir);
    let opts = state.options.clone();
    let size = config.input_size as usize;
    let augment = Augment {
        rotation: opts.rotation,
        shift: opts.shift,
        scale: opts.scale,
    };
    let storage = if opts.half {
        Storage::F16
    } else {
        Storage::F32
    };
    let total = opts.total_epochs();
    let steps_per_epoch = train_set.len() / opts.batch;
    if steps_per_epoch == 0 {
        return Err(TrainError::TooFewFrames {
            path: opts.data.clone(),
            frames: train_set.len(),
            batch: opts.batch,
        });
    }
    while state.epoch < total {
        let epoch = state.epoch;
        let (_, phase) = opts.phase_at(epoch);
        let lr = opts.lr_at(epoch);
        observer.epoch_start(epoch + 1, total, phase.loss.name(), steps_per_epoch);
        let started = Instant::now();
        let order = epoch_order(train_set.len(), opts.seed, epoch);
        let loader = Loader::spawn(
            train_set.clone(),
            order,
            opts.batch,
            size,
            augment,
            opts.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            true,
        );
        let (mut loss_sum, mut samples) = (0.0f64, 0usize);
        for batch in loader {
            let batch = batch?;
            let n = batch.indices.len();
            let options = StepOptions {
                loss: phase.loss,
                scale: LOSS_SCALE,
                dropout: Dropout {
                    rate: opts.dropout,
                    seed: pcg_hash(opts.seed as u32 ^ pcg_hash(state.step as u32)),
                },
                adam: AdamStep {
                    lr,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                    weight_decay: opts.weight_decay,
                    t: state.step + 1,
                },
            };
            let loss = engine.step(&batch.inputs, &batch.targets, n, &options)?;
            if !loss.is_finite() {
                return Err(TrainError::NonFinite {
                    loss: phase.loss,
                    value: loss,
                    epoch: epoch + 1,
                    step: state.step + 1,
                });
            }
            state.step += 1;
            loss_sum += loss as f64 * n as f64;
            samples += n;
            observer.step(loss, samples as f64 / started.elapsed().as_secs_f64());
        }
        let train_seconds = started.elapsed().as_secs_f64();
        let params = engine.params()?;
        let weights = Weights {
            config: config.clone(),
            tensors: params,
            labels: train_set.labels(),
        };
        let val_mm = match &val_set {
            Some(v) => Some(validate(engine, &weights, v, opts.batch)?),
            None => None,
        };
        state.epoch += 1;
        state.seconds += started.elapsed().as_secs_f64();
        let improved = match (val_mm, state.best) {
            (Some(v), Some((best, _))) => v < best,
            (Some(_), None) => true,
            _ => false,
        };
        if improved {
            state.best = val_mm.map(|v| (v, state.epoch));
            weights.save(&files.best(), storage, true)?;
        }
        weights.save(&files.last(), storage, true)?;
        save_checkpoint(
            &files.checkpoint(),
            &Checkpoint {
                weights,
                moments: engine.moments()?,
                state: state.clone(),
            },
        )?;
        let record = EpochRecord {
            epoch: state.epoch,
            loss: phase.loss.name().to_string(),
            train_loss: loss_sum / samples.max(1) as f64,
            val_mm,
            lr,
            samples_per_s: samples as f64 / train_seconds,
            seconds: state.seconds,
            best: improved,
        };
        append_log(&files.log(), &record)?;
        observer.epoch_end(&record);
        if observer.stop() {
            break;
        }
    }
    Ok(state)
}

/// Mean error (mm) over NYU's 14 evaluation joints of the lowered `weights` on `set`, crops
/// centred on the annotated palm (the prior joint then has no error, as in `hourhand eval`
/// with ground-truth centres).
pub fn validate(
    engine: &mut dyn Engine,
    weights: &Weights,
    set: &Arc<TrainSet>,
    batch: usize,
) -> Result<f64, TrainError> {
    let net = Network::from_weights(weights);
    let size = weights.config.input_size as usize;
    let order: Vec<usize> = (0..set.len()).collect();
    let loader = Loader::spawn(set.clone(), order, batch, size, Augment::NONE, 0, false);
    let (mut sum, mut count) = (0.0f64, 0usize);
    for b in loader {
        let b = b?;
        let n = b.indices.len();
        let pred = engine.infer(&net, &b.inputs, n)?;
        let dims = pred.len() / n;
        for (i, &frame) in b.indices.iter().enumerate() {
            let half = set.cube(frame) as f64 / 2.0;
            let p = &pred[i * dims..(i + 1) * dims];
            let t = &b.targets[i * dims..(i + 1) * dims];
            for &j in EVAL_SUBSET.iter().filter(|&&j| j != PRIOR_JOINT) {
                let k = if j < PRIOR_JOINT { j } else { j - 1 };
                let d2: f64 = (0..3)
                    .map(|a| ((p[3 * k + a] - t[3 * k + a]) as f64).powi(2))
                    .sum();
                sum += d2.sqrt() * half;
            }
            count += EVAL_SUBSET.len();
        }
    }
    // A source always has frames (readers refuse empty folders).
    Ok(sum / count.max(1) as f64)
}
