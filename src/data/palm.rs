//! The palm centre (`PALM_3`) from the other joints of the palm: where a crop should be centred,
//! once a first estimate of the hand is known.
//!
//! The network predicts 35 joints relative to the crop's centre and takes that centre to be
//! `PALM_3`; a detected centre misses it (by 25 mm on average on synthetic frames), and the
//! whole prediction suffers. The joints it predicts say where the palm really is, so the
//! estimator can re-centre the crop on them and run again (see
//! [`crate::estimator::Estimator::estimate_refined`]).
//!
//! `PALM_3` is written as a fixed affine combination of ten joints that move with the palm: the
//! four finger knuckles (MCP), the thumb's CMC, `PALM_4`..`PALM_6` on the metacarpals and the two
//! wrist points `PALM_1`, `PALM_2`. The weights sum to 1, so the combination follows any
//! rotation, translation and uniform scaling of the hand exactly; they are the smallest (least
//! squares) weights that give `PALM_3` on the mean hand of the synthetic model
//! ([`crate::data::synth::HandShape::mean`]) at rest, labelled in the model's convention
//! ([`Labels`]: NYU's `PALM_3` lies 16 mm distal of the anatomical one), which spreads the error of ten noisy
//! predictions evenly instead of trusting a few: each weight is between 0.06 and 0.17. On 200
//! random synthetic hands of other shapes, poses and wrist angles the combination lands 0.8 mm
//! from `PALM_3` on average and 1.5 mm at worst (the wrist points move a little with wrist
//! flexion); see the tests.

use std::sync::OnceLock;

use glam::{DMat4, DVec3, DVec4, Vec3};

use super::joints::{Joints, Labels, PRIOR_JOINT};
use super::synth::skeleton::{HandPlacement, pose_hand};
use super::synth::{Generation, HandPose, HandShape};

/// The joints that move with the palm: F1..F4 `KNU1_B` (the MCPs), `TH_KNU1_B` (the thumb's
/// CMC), `PALM_1`, `PALM_2` (wrist), `PALM_4`..`PALM_6` (metacarpals).
pub const PALM_JOINTS: [usize; 10] = [5, 11, 17, 23, 29, 30, 31, 33, 34, 35];

/// The weights of [`PALM_JOINTS`] whose sum is `PALM_3` in the `labels` convention, computed
/// once from the mean hand labelled so (the generator's generation of that convention).
pub fn palm_centre_weights(labels: Labels) -> &'static [f64; PALM_JOINTS.len()] {
    static NYU: OnceLock<[f64; PALM_JOINTS.len()]> = OnceLock::new();
    static ANATOMICAL: OnceLock<[f64; PALM_JOINTS.len()]> = OnceLock::new();
    let cell = match labels {
        Labels::Nyu => &NYU,
        Labels::Anatomical => &ANATOMICAL,
    };
    cell.get_or_init(|| {
        let at = HandPlacement::facing_camera(Vec3::ZERO);
        let generation = Generation::labelled(labels);
        let hand = pose_hand(&HandShape::mean(), &HandPose::rest(), &at, generation);
        affine_weights(&hand.joints)
    })
}

/// The smallest weights `w` (sum 1) with `Σ w_k · joints[PALM_JOINTS[k]] = joints[PALM_3]`:
/// `w = Mᵀ (M Mᵀ)⁻¹ b` with `M`'s columns the joints as `(x, y, z, 1)` and `b = (PALM_3, 1)`.
fn affine_weights(joints: &Joints) -> [f64; PALM_JOINTS.len()] {
    let column = |j: usize| joints[j].as_dvec3().extend(1.0);
    let gram = PALM_JOINTS.iter().fold(DMat4::ZERO, |g, &j| {
        let c = column(j);
        g + DMat4::from_cols(c * c.x, c * c.y, c * c.z, c * c.w)
    });
    let y: DVec4 = gram.inverse() * column(PRIOR_JOINT);
    PALM_JOINTS.map(|j| column(j).dot(y))
}

/// The palm centre (`PALM_3`) that the other palm joints of `joints` imply, in the `labels`
/// convention.
pub fn palm_centre(joints: &Joints, labels: Labels) -> Vec3 {
    PALM_JOINTS
        .iter()
        .zip(palm_centre_weights(labels))
        .fold(DVec3::ZERO, |sum, (&j, &w)| sum + joints[j].as_dvec3() * w)
        .as_vec3()
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Mat3;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Each convention and the generator's generation that labels hands so.
    fn conventions() -> [(Labels, Generation); 2] {
        Labels::ALL.map(|l| (l, Generation::labelled(l)))
    }

    #[test]
    fn the_weights_sum_to_one_and_are_spread() {
        for (labels, _) in conventions() {
            let w = palm_centre_weights(labels);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{w:?}");
            // No joint dominates: a noisy prediction of one moves the centre by at most a
            // fifth of its error.
            assert!(
                w.iter().all(|w| (-0.05..0.2).contains(w)),
                "{labels:?}: {w:?}"
            );
        }
    }

    /// A rotated, scaled and moved mean hand: exact, whatever the placement, in each
    /// convention, and the two conventions' centres 16 mm apart on it.
    #[test]
    fn follows_rotation_translation_and_scale() {
        let at = HandPlacement::facing_camera(Vec3::ZERO);
        let r = Mat3::from_euler(glam::EulerRot::XYZ, 0.7, -1.9, 2.4);
        let mut centres = Vec::new();
        for (labels, generation) in conventions() {
            let rest = pose_hand(&HandShape::mean(), &HandPose::rest(), &at, generation).joints;
            let moved = rest.map(|p| r * p * 1.08 + Vec3::new(-120.0, 35.0, 640.0));
            let c = palm_centre(&moved, labels);
            assert!(
                (c - moved[PRIOR_JOINT]).length() < 1e-3,
                "{labels:?}: {c} vs {}",
                moved[PRIOR_JOINT]
            );
            centres.push(c);
        }
        let apart = (centres[0] - centres[1]).length();
        assert!((apart - 16.0 * 1.08).abs() < 0.1, "{apart} mm");
    }

    /// Random hand shapes in random poses and placements (the training generator's): 0.8 mm
    /// from `PALM_3` on average, 1.5 at worst, though the weights came from one hand at rest.
    #[test]
    fn lands_near_palm_3_on_other_hands_and_poses() {
        for (labels, generation) in conventions() {
            let mut rng = StdRng::seed_from_u64(5);
            let mut worst = 0.0f32;
            let mut total = 0.0f32;
            for _ in 0..200 {
                let shape = HandShape::sample(&mut rng);
                let pose = HandPose::sample(&mut rng, generation);
                let at = HandPlacement {
                    rotation: Mat3::from_euler(
                        glam::EulerRot::XYZ,
                        rng.random_range(-3.0..3.0),
                        rng.random_range(-3.0..3.0),
                        rng.random_range(-3.0..3.0),
                    ),
                    origin: Vec3::new(0.0, 0.0, 700.0),
                    wrist_flex: rng.random_range(-1.0..1.0),
                    wrist_dev: rng.random_range(-0.4..0.4),
                };
                let joints = pose_hand(&shape, &pose, &at, generation).joints;
                let e = (palm_centre(&joints, labels) - joints[PRIOR_JOINT]).length();
                worst = worst.max(e);
                total += e;
            }
            assert!(total / 200.0 < 1.0, "{labels:?}: mean {} mm", total / 200.0);
            assert!(worst < 2.5, "{labels:?}: worst {worst} mm");
        }
    }

    /// The centre of a hand whose palm joints are all off by the same amount moves by exactly
    /// that amount (weights summing to 1), and an error in one joint moves it by a fraction.
    #[test]
    fn errors_pass_through_by_the_weights() {
        for (labels, _) in conventions() {
            let mut joints = [Vec3::new(10.0, -20.0, 700.0); 36];
            let base = palm_centre(&joints, labels);
            assert!((base - joints[0]).length() < 1e-3, "{base}");
            for j in &mut joints {
                *j += Vec3::new(3.0, 0.0, -4.0);
            }
            let shifted = base + Vec3::new(3.0, 0.0, -4.0);
            assert!((palm_centre(&joints, labels) - shifted).length() < 1e-3);
            // Joints outside PALM_JOINTS (fingertips, PALM_3 itself) do not count.
            joints[0] += Vec3::splat(500.0);
            joints[PRIOR_JOINT] += Vec3::splat(500.0);
            assert!((palm_centre(&joints, labels) - shifted).length() < 1e-3);
            // One palm joint 10 mm off moves the centre by its weight's share of that.
            for (k, &j) in PALM_JOINTS.iter().enumerate() {
                let mut one = joints;
                one[j].x += 10.0;
                let moved = palm_centre(&one, labels) - shifted;
                let expect = 10.0 * palm_centre_weights(labels)[k] as f32;
                assert!(
                    (moved.x - expect).abs() < 1e-3 && moved.x < 2.0,
                    "{j}: {moved}"
                );
            }
        }
    }
}
