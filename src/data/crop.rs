//! The hand crop: what the network sees, and the exact way back from its outputs to joints.
//!
//! A cube of `cube` millimetres centred on the hand (DESIGN §2) is projected to a square-ish
//! window of the image at the centre's depth; the window is resampled (nearest pixel, so depth
//! edges stay sharp and no depth is invented between the hand and the background) to the
//! network's `size × size` input. Depth becomes `(d − z_c)/(cube_z/2)` clipped to [−1, 1]; holes
//! and pixels outside the image are +1, like the far background. Joints are normalized in 3D,
//! `(xyz − centre)/(cube/2)`, so the inverse is exact and independent of the window.
//!
//! A crop may also be turned in the image plane about its centre's projection
//! ([`Crop::rotated`]): training turns crops to teach orientations (DeepPrior++'s augmentation),
//! and the estimator averages the network over a few turned crops of one frame
//! ([`crate::estimator::Estimator::set_rotations`]). The image and the joints turn together:
//! each joint turns in (u, v) about the same point and keeps its depth, so
//! [`Crop::denormalize`] undoes [`Crop::normalize_joints`] exactly at any angle.

use glam::{Vec2, Vec3};

use super::depth::{DepthLookup, DepthMap};
use super::intrinsics::Intrinsics;
use super::joints::{Joints, NUM_JOINTS, PRIOR_JOINT};

/// The cube NYU evaluators use (mm).
pub const NYU_CUBE: f32 = 300.0;
/// The smaller cube DeepPrior++ and AWR use for NYU's second test subject (frames 2441–8252).
pub const NYU_SECOND_SUBJECT_CUBE: f32 = 250.0;
/// The first frame (1-based) of NYU's second test subject.
pub const NYU_SECOND_SUBJECT_FIRST_FRAME: usize = 2441;

/// Network outputs per frame: the 35 joints other than the prior, × 3.
pub const OUTPUTS: usize = (NUM_JOINTS - 1) * 3;

/// A crop that cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CropError {
    /// The centre is behind the camera or not a number.
    #[error("the crop centre {0} mm is not in front of the camera (z must be > 0)")]
    Center(Vec3),
    /// A cube side or the input size is not positive.
    #[error(
        "the crop cube must have positive sides and the input a positive size, found cube {cube} mm, size {size}"
    )]
    Size {
        /// The cube (mm).
        cube: Vec3,
        /// The input side (pixels).
        size: usize,
    },
}

/// Where the network looks in one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    /// The cube's centre, camera space (mm, y up).
    pub center: Vec3,
    /// The cube's sides (mm).
    pub cube: Vec3,
    /// The network input's side (pixels).
    pub size: usize,
    /// The cube's projection: (u0, v0, u1, v1) in image pixels (u1, v1 exclusive), before any
    /// turn.
    pub window: [f32; 4],
    /// In-plane turn, radians, about the centre's projection: positive turns the network's view
    /// counter-clockwise as displayed (u right, v down), which is counter-clockwise in camera
    /// x-y too (y up). 0 for a plain crop.
    pub angle: f32,
    /// The camera the window was projected with, to turn joints in its image.
    pub intrinsics: Intrinsics,
}

impl Crop {
    /// The crop of a cube with equal sides `cube` mm around `center`, seen by `intrinsics`.
    pub fn new(
        center: Vec3,
        cube: f32,
        size: usize,
        intrinsics: &Intrinsics,
    ) -> Result<Crop, CropError> {
        Crop::with_cube(center, Vec3::splat(cube), size, intrinsics)
    }

    /// The crop of a cube with sides `cube` (x, y, z) mm.
    pub fn with_cube(
        center: Vec3,
        cube: Vec3,
        size: usize,
        intrinsics: &Intrinsics,
    ) -> Result<Crop, CropError> {
        if !center.is_finite() || center.z <= 0.0 {
            return Err(CropError::Center(center));
        }
        if !cube.is_finite() || cube.min_element() <= 0.0 || size == 0 {
            return Err(CropError::Size { cube, size });
        }
        let c = intrinsics.xyz_to_uvd(center);
        let half_u = (cube.x / 2.0) * intrinsics.fx as f32 / center.z;
        let half_v = (cube.y / 2.0) * intrinsics.fy as f32 / center.z;
        let window = [c.x - half_u, c.y - half_v, c.x + half_u, c.y + half_v];
        Ok(Crop {
            center,
            cube,
            size,
            window,
            angle: 0.0,
            intrinsics: *intrinsics,
        })
    }

    /// The same crop turned by `angle` radians (counter-clockwise as displayed) about its
    /// centre's projection.
    pub fn rotated(self, angle: f32) -> Crop {
        Crop { angle, ..self }
    }

    /// The network input: `size × size` normalized depth, row-major.
    pub fn input(&self, depth: &DepthMap) -> Vec<f32> {
        let mut out = vec![1.0; self.size * self.size];
        self.input_into(depth, &mut out);
        out
    }

    /// Writes the network input into `out` (`size × size`), e.g. a slot of a batch buffer:
    /// each input pixel takes the depth pixel under its centre (turned back by the crop's
    /// angle, when it has one).
    pub fn input_into(&self, depth: &impl DepthLookup, out: &mut [f32]) {
        let [u0, v0, u1, v1] = self.window;
        let n = self.size;
        let (du, dv) = ((u1 - u0) / n as f32, (v1 - v0) / n as f32);
        let (center_z, half_z) = (self.center.z, self.cube.z / 2.0);
        let normalize = |d: Option<f32>| match d {
            Some(d) if d > 0.0 => ((d - center_z) / half_z).clamp(-1.0, 1.0),
            _ => 1.0,
        };
        let rows = out.chunks_exact_mut(n).take(n).enumerate();
        if self.angle == 0.0 {
            for (i, row) in rows {
                let v = (v0 + (i as f32 + 0.5) * dv).floor() as i64;
                for (j, value) in row.iter_mut().enumerate() {
                    let u = (u0 + (j as f32 + 0.5) * du).floor() as i64;
                    *value = normalize(depth.at(u, v));
                }
            }
            return;
        }
        let c = self.pivot();
        let (sin, cos) = self.angle.sin_cos();
        let half = n as f32 / 2.0;
        for (i, row) in rows {
            let y = (i as f32 + 0.5 - half) * dv;
            for (j, value) in row.iter_mut().enumerate() {
                let x = (j as f32 + 0.5 - half) * du;
                // The inverse of the turn `turn` gives the joints.
                let u = (c.x + x * cos - y * sin).floor() as i64;
                let v = (c.y + x * sin + y * cos).floor() as i64;
                *value = normalize(depth.at(u, v));
            }
        }
    }

    /// The network's training target for 36 joints (mm): the 35 non-prior joints turned with
    /// the crop and normalized, flattened x, y, z per joint.
    pub fn normalize_joints(&self, xyz: &Joints) -> [f32; OUTPUTS] {
        let mut out = [0.0; OUTPUTS];
        let half = self.cube / 2.0;
        let others = (0..NUM_JOINTS).filter(|&j| j != PRIOR_JOINT);
        for (k, j) in others.enumerate() {
            let n = (self.turn(xyz[j], self.angle) - self.center) / half;
            out[3 * k..3 * k + 3].copy_from_slice(&n.to_array());
        }
        out
    }

    /// The inverse of [`normalize_joints`](Self::normalize_joints): 36 joints in mm from the
    /// network's 35 × 3 outputs, turned back into the camera's frame, the prior joint
    /// re-inserted at the crop centre.
    pub fn denormalize(&self, out: &[f32; OUTPUTS]) -> Joints {
        let half = self.cube / 2.0;
        let mut joints = [self.center; NUM_JOINTS];
        let others = (0..NUM_JOINTS).filter(|&j| j != PRIOR_JOINT);
        for (k, j) in others.enumerate() {
            let p = Vec3::from_slice(&out[3 * k..3 * k + 3]) * half + self.center;
            joints[j] = self.turn(p, -self.angle);
        }
        joints
    }

    /// The centre's projection (u, v): the point the crop turns about.
    fn pivot(&self) -> Vec2 {
        self.intrinsics.xyz_to_uvd(self.center).truncate()
    }

    /// `p` (camera mm) turned by `angle` counter-clockwise as displayed about the pivot, in the
    /// image, keeping its depth; exactly `p` when `angle` is 0.
    fn turn(&self, p: Vec3, angle: f32) -> Vec3 {
        if angle == 0.0 {
            return p;
        }
        let k = &self.intrinsics;
        let (c, (sin, cos)) = (self.pivot(), angle.sin_cos());
        let uvd = k.xyz_to_uvd(p);
        let d = uvd.truncate() - c;
        // Counter-clockwise on screen with v down.
        let r = c + Vec2::new(d.x * cos + d.y * sin, -d.x * sin + d.y * cos);
        k.uvd_to_xyz(r.extend(uvd.z))
    }
}

/// The cube NYU's protocol uses for a 1-based test frame number.
pub fn nyu_test_cube(frame: usize) -> f32 {
    if frame >= NYU_SECOND_SUBJECT_FIRST_FRAME {
        NYU_SECOND_SUBJECT_CUBE
    } else {
        NYU_CUBE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joints() -> Joints {
        std::array::from_fn(|j| Vec3::new(j as f32 * 3.0 - 50.0, 20.0 - j as f32, 700.0 + j as f32))
    }

    #[test]
    fn joints_round_trip_and_the_prior_is_the_centre() {
        let k = Intrinsics::NYU;
        let xyz = joints();
        let crop = Crop::new(xyz[PRIOR_JOINT], 300.0, 128, &k).unwrap();
        let n = crop.normalize_joints(&xyz);
        assert!(n.iter().all(|v| v.abs() <= 1.0));
        let back = crop.denormalize(&n);
        for j in 0..NUM_JOINTS {
            assert!(
                (back[j] - xyz[j]).length() < 1e-3,
                "joint {j}: {} vs {}",
                back[j],
                xyz[j]
            );
        }
        // With another centre the prior becomes that centre; the others still come back.
        let crop = Crop::with_cube(
            Vec3::new(5.0, -3.0, 690.0),
            Vec3::new(300.0, 280.0, 250.0),
            96,
            &k,
        )
        .unwrap();
        let back = crop.denormalize(&crop.normalize_joints(&xyz));
        assert_eq!(back[PRIOR_JOINT], crop.center);
        assert!((back[0] - xyz[0]).length() < 1e-3);
    }

    #[test]
    fn turned_crops_round_trip_and_turn_about_the_centre() {
        let k = Intrinsics::NYU;
        let xyz = joints();
        let plain = Crop::new(xyz[PRIOR_JOINT] + Vec3::new(4.0, -7.0, 3.0), 290.0, 37, &k).unwrap();
        // A zero turn is the plain crop, bit for bit.
        assert_eq!(
            plain.rotated(0.0).normalize_joints(&xyz),
            plain.normalize_joints(&xyz)
        );
        for degrees in [15.0f32, -45.0, 90.0, 173.0] {
            let crop = plain.rotated(degrees.to_radians());
            let n = crop.normalize_joints(&xyz);
            let back = crop.denormalize(&n);
            assert_eq!(back[PRIOR_JOINT], crop.center);
            for j in (0..NUM_JOINTS).filter(|&j| j != PRIOR_JOINT) {
                assert!(
                    (back[j] - xyz[j]).length() < 2e-3,
                    "{degrees}°, joint {j}: {} vs {}",
                    back[j],
                    xyz[j]
                );
            }
            // In the image each joint keeps its distance from the centre's projection and its
            // depth, and turns by the angle (counter-clockwise as displayed: v down).
            let c = k.xyz_to_uvd(crop.center);
            for j in [0, 17, 35] {
                let (a, b) = (k.xyz_to_uvd(xyz[j]), k.xyz_to_uvd(crop.denormalize(&n)[j]));
                let p = k.xyz_to_uvd(plain.denormalize(&n)[j]);
                let (before, after) = ((a - c).truncate(), (p - c).truncate());
                assert!((before.length() - after.length()).abs() < 1e-2);
                assert!((p.z - a.z).abs() < 1e-3 && (b.z - a.z).abs() < 1e-3);
                let turned = (-before.perp_dot(after))
                    .atan2(before.dot(after))
                    .to_degrees();
                let off = (turned - degrees + 540.0).rem_euclid(360.0) - 180.0;
                assert!(
                    off.abs() < 0.05,
                    "joint {j} turned {turned}°, not {degrees}°"
                );
            }
        }
    }

    #[test]
    fn turned_input_is_the_depth_turned() {
        // A wall at 1000 mm with a 60 mm square post at (60, 0) nearer the camera: turned a
        // quarter counter-clockwise, the crop sees it above the centre instead of to the right.
        let k = Intrinsics::NYU;
        let (w, h) = (640usize, 480usize);
        let center = Vec3::new(0.0, 0.0, 1000.0);
        let post = k.xyz_to_uvd(Vec3::new(60.0, 0.0, 1000.0));
        let mm: Vec<f32> = (0..w * h)
            .map(|i| {
                let (u, v) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
                let inside = (u - post.x).abs() < 18.0 && (v - post.y).abs() < 18.0;
                if inside { 940.0 } else { 1000.0 }
            })
            .collect();
        let depth = DepthMap::new(w, h, mm).unwrap();
        let size = 33;
        let plain = Crop::new(center, 300.0, size, &k).unwrap();
        let at = |input: &[f32], row: usize, col: usize| input[row * size + col];
        let (mid, off) = (size / 2, size / 2 + 6);
        let input = plain.input(&depth);
        assert!(at(&input, mid, off) < -0.3 && at(&input, mid, mid) == 0.0);
        let turned = plain.rotated(90f32.to_radians()).input(&depth);
        // Right of the centre → above it (rows grow downwards).
        assert!(at(&turned, size - 1 - off, mid) < -0.3, "{turned:?}");
        assert_eq!(at(&turned, mid, off), 0.0);
        assert_eq!(at(&turned, mid, mid), 0.0);
    }

    #[test]
    fn window_is_the_projected_cube() {
        let k = Intrinsics::NYU;
        let (fx, fy) = (k.fx as f32, k.fy as f32);
        let crop = Crop::new(Vec3::new(0.0, 0.0, fx), 300.0, 128, &k).unwrap();
        // At z = fx, 150 mm projects to 150 px (u) and 150·fy/fx px (v).
        let [u0, v0, u1, v1] = crop.window;
        assert!(
            (u0 - 170.0).abs() < 1e-3 && (u1 - 470.0).abs() < 1e-3,
            "{:?}",
            crop.window
        );
        let half_v = 150.0 * fy / fx;
        assert!((v0 - (240.0 - half_v)).abs() < 1e-3 && (v1 - (240.0 + half_v)).abs() < 1e-3);
    }

    #[test]
    fn input_normalizes_clips_and_fills_holes() {
        let k = Intrinsics {
            fx: 100.0,
            fy: 100.0,
            cx: 5.0,
            cy: 5.0,
        };
        // 10×10 image: a step in depth; one hole.
        let mut mm: Vec<f32> = (0..100)
            .map(|i| if i % 10 < 5 { 950.0 } else { 2000.0 })
            .collect();
        mm[0] = 0.0;
        let depth = DepthMap::new(10, 10, mm).unwrap();
        // Centre at 1000 mm, cube 200 mm → the window is the whole 10×10 image (20 px wide).
        let crop = Crop::new(Vec3::new(0.0, 0.0, 1000.0), 200.0, 20, &k).unwrap();
        assert_eq!(crop.window, [-5.0, -5.0, 15.0, 15.0]);
        let input = crop.input(&depth);
        // Output pixel (row 5, col 5) samples image pixel (0, 0) = hole → +1.
        assert_eq!(input[5 * 20 + 5], 1.0);
        // (row 6, col 6) samples (1, 1) = 950 mm → (950 − 1000)/100 = −0.5.
        assert_eq!(input[6 * 20 + 6], -0.5);
        // (row 6, col 12) samples u 7 = 2000 mm → clipped to +1; (0, 0) is outside → +1.
        assert_eq!(input[6 * 20 + 12], 1.0);
        assert_eq!(input[0], 1.0);
    }

    #[test]
    fn bad_centres_and_sizes_are_refused() {
        let k = Intrinsics::NYU;
        assert!(Crop::new(Vec3::new(0.0, 0.0, -5.0), 300.0, 128, &k).is_err());
        assert!(Crop::new(Vec3::new(f32::NAN, 0.0, 500.0), 300.0, 128, &k).is_err());
        assert!(Crop::new(Vec3::new(0.0, 0.0, 500.0), 0.0, 128, &k).is_err());
        assert!(Crop::new(Vec3::new(0.0, 0.0, 500.0), 300.0, 0, &k).is_err());
        assert_eq!(nyu_test_cube(2440), 300.0);
        assert_eq!(nyu_test_cube(2441), 250.0);
    }
}
