//! What a training step means on every backend, defined once: dropout's masks, batch norm's
//! running-average momentum, the losses' names, Adam's hyper-parameters, a step's options and
//! which parameters it trains. `cpu`, `gpu` and `train` all read these; `cpu` and `gpu` never
//! import each other, and `gpu` does not import `train` (which drives both).

/// Momentum of the running averages (PyTorch's default): `r ← (1 − m)·r + m·batch`.
pub const BN_MOMENTUM: f32 = 0.1;

mod adam;
mod dropout;
mod loss;
mod step;

pub use adam::AdamStep;
pub use dropout::{Dropout, dropout_keep, dropout_threshold, pcg_hash};
pub use loss::Loss;
pub use step::{Moments, StepOptions, is_decayed, is_trainable};
