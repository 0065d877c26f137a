//! Training: losses, the optimizer, one step on either backend, data with augmentation, and
//! the loop that writes a run folder.

pub mod adam;
pub mod augment;
pub mod checkpoint;
pub mod dataset;
pub mod engine;
pub mod error;
pub mod log;
pub mod loss;
pub mod options;
pub mod run;
pub mod step;
