//! Training: losses, the optimizer, and the loop that drives either backend.

pub mod adam;
pub mod loss;
