//! The 3D orbit view: the hand's depth as a point cloud with skeletons, drawn by its own wgpu
//! pipelines into its own colour and depth targets and composited into egui.
