//! Training: losses, the optimizer, one step on either backend, and the loop around it.

pub mod adam;
pub mod loss;
pub mod step;
