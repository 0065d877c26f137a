//! The desktop viewer: depth frames with the predicted skeleton over the ground truth, in 2D and
//! in a 3D orbit view, for NYU sequences and depth-frame folders.

pub mod scene3d;
