//! Training: samples from annotated depth frames (augmented crops and their normalized joints).

pub mod augment;
