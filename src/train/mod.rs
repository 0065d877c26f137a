//! Training: samples from annotated depth frames (augmented crops and their normalized joints,
//! batched on a loader thread so data preparation overlaps the network's work).

pub mod augment;
pub mod dataset;
