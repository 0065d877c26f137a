//! hourhand: 3D hand pose from a single depth image with the local regression based hourglass
//! network (Li and Wang), every layer a WGSL compute shader on wgpu, with a plain-Rust CPU
//! reference.
//!
//! - [`net`]: the network defined once — config, op program, weights, inference lowering.
//! - [`cpu`]: the reference backend.
//! - [`gpu`]: the WGSL backend (the product).
//! - [`data`]: depth frames, NYU and frame folders, crops, detection, synthetic hands.
//! - [`eval`]: the field's metrics and the community results format.
//! - [`train`]: training data (augmented crops, batches on a loader thread).
//! - [`view`]: the desktop viewer (egui/eframe; the 3D view on its own wgpu pipelines).
//! - [`camera`]: depth cameras and their recordings (libfreenect, OpenNI2, fakenect dumps).
//! - [`bundled`]: the weights compiled into the binary and the sample shipped beside it.

#![warn(missing_docs)]

pub mod bundled;
pub mod camera;
pub mod cpu;
pub mod data;
pub mod estimator;
pub mod eval;
pub mod files;
pub mod gpu;
pub mod net;
pub mod onnx;
pub mod run;
pub mod train;
pub mod view;
