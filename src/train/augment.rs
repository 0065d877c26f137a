//! DeepPrior++-style augmentation of one training sample: an in-plane rotation about the crop
//! centre, a 3D shift of the centre and a scale of the cube.
//!
//! The network only ever sees a crop, so augmenting the crop is enough: rotating the crop image
//! and the joints together teaches orientations the dataset lacks, shifting the centre teaches
//! the network to cope with an imperfect location prior (refined or detected centres at test
//! time), and scaling the cube teaches hand sizes and the 300/250 mm cube change. Image and
//! joints always move together, so the target stays exact for the augmented image.

use glam::Vec3;
use rand::Rng;

use crate::data::crop::{Crop, CropError, OUTPUTS};
use crate::data::depth::DepthLookup;
use crate::data::synth::gauss;
use crate::data::{Intrinsics, Joints, PRIOR_JOINT};

/// How strongly to augment: the distributions [`Augment::draw`] samples a [`Jitter`] from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Largest in-plane rotation, degrees; the angle is uniform in [−rotation, rotation].
    pub rotation: f32,
    /// σ of the normal shift of the crop centre, mm per axis, clamped at ±3σ.
    pub shift: f32,
    /// σ of the normal cube scale factor around 1, clamped to [1 − 3σ, 1 + 3σ].
    pub scale: f32,
}

impl Augment {
    /// No augmentation (validation): every draw gives [`Jitter::NONE`].
    pub const NONE: Augment = Augment {
        rotation: 0.0,
        shift: 0.0,
        scale: 0.0,
    };

    /// One random jitter. Always consumes the same number of draws from `rng`, whatever the
    /// strengths, so a zero strength gives exactly the identity (no rounding) and the stream
    /// of draws does not depend on the settings.
    pub fn draw(&self, rng: &mut impl Rng) -> Jitter {
        let u: f32 = rng.random();
        let angle = (2.0 * u - 1.0) * self.rotation.to_radians();
        let clamp = |g: f32| g.clamp(-3.0, 3.0);
        let shift = Vec3::new(clamp(gauss(rng)), clamp(gauss(rng)), clamp(gauss(rng))) * self.shift;
        let scale = 1.0 + clamp(gauss(rng)) * self.scale;
        Jitter {
            // (2u − 1)·0 may be −0: keep the identity bit-exact.
            angle: if self.rotation == 0.0 { 0.0 } else { angle },
            shift: if self.shift == 0.0 { Vec3::ZERO } else { shift },
            scale: if self.scale == 0.0 { 1.0 } else { scale },
        }
    }
}

impl Default for Augment {
    /// Rotation ±180°: a hand can face any way in the image plane, and NYU's training poses
    /// cover few of them (DeepPrior++ rotates uniformly over the full circle). Shift σ 10 mm:
    /// about the error of the centres used at test time (refined centres; our detector lands
    /// about 24 mm from `PALM_3` on average), so the network does not rely on a perfect prior.
    /// Scale σ 0.1: adult hands differ by about ±10% in size, and the test protocol switches
    /// between 300 and 250 mm cubes (a factor 0.83, within 2σ).
    fn default() -> Augment {
        Augment {
            rotation: 180.0,
            shift: 10.0,
            scale: 0.1,
        }
    }
}

/// One drawn augmentation of one sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter {
    /// In-plane rotation, radians; positive turns the crop counter-clockwise as displayed
    /// (u right, v down), which is counter-clockwise in camera x-y too (y up).
    pub angle: f32,
    /// Added to the crop centre (the prior joint), camera space mm.
    pub shift: Vec3,
    /// Multiplies the cube side.
    pub scale: f32,
}

impl Jitter {
    /// The identity: [`make_sample`] then gives exactly the plain crop.
    pub const NONE: Jitter = Jitter {
        angle: 0.0,
        shift: Vec3::ZERO,
        scale: 1.0,
    };
}

/// Makes one training sample from a [`DepthMap`](crate::data::DepthMap) (or the training set's
/// cache): the crop around `joints[PRIOR_JOINT] + jitter.shift` with a cube of
/// `cube × jitter.scale` mm, turned by `jitter.angle` about the centre's projection, written
/// to `input` (`size × size`, normalized like [`Crop::input_into`]), and the 35 other joints,
/// rotated the same way in the image (each keeps its depth), normalized like
/// [`Crop::normalize_joints`] into `target` (105 values). The prior joint is not in the
/// target, so a shift shows up as an offset of every target joint. `joints` are camera-space
/// mm. With [`Jitter::NONE`] the result equals the plain crop bit for bit.
#[allow(clippy::too_many_arguments)] // the sample's inputs, each needed; no natural grouping
pub fn make_sample(
    depth: &impl DepthLookup,
    intrinsics: &Intrinsics,
    joints: &Joints,
    cube: f32,
    size: usize,
    jitter: &Jitter,
    input: &mut [f32],
    target: &mut [f32],
) -> Result<(), CropError> {
    assert_eq!(
        input.len(),
        size * size,
        "input must hold size × size values"
    );
    assert_eq!(target.len(), OUTPUTS, "target must hold {OUTPUTS} values");
    let center = joints[PRIOR_JOINT] + jitter.shift;
    let crop = Crop::new(center, cube * jitter.scale, size, intrinsics)?.rotated(jitter.angle);
    crop.input_into(depth, input);
    target.copy_from_slice(&crop.normalize_joints(joints));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::DepthMap;
    use crate::data::NUM_JOINTS;
    use glam::Vec2;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    const K: Intrinsics = Intrinsics::NYU;
    const PALM: Vec3 = Vec3::new(20.0, -15.0, 650.0);
    /// Joints with discs: (joint, offset from the palm in mm).
    const MARKED: [(usize, Vec3); 3] = [
        (0, Vec3::new(70.0, 45.0, -20.0)),
        (12, Vec3::new(-55.0, 60.0, 10.0)),
        (24, Vec3::new(40.0, -75.0, -40.0)),
    ];

    /// Joints at the palm except the marked ones.
    fn joints() -> Joints {
        let mut j = [PALM; NUM_JOINTS];
        for (k, offset) in MARKED {
            j[k] = PALM + offset;
        }
        j
    }

    /// A wall at 2000 mm with a disc of radius `r` px at each marked joint's projection, at
    /// that joint's depth, and a few holes.
    fn scene(r: f32) -> DepthMap {
        let (w, h) = (640, 480);
        let mut mm = vec![2000.0; w * h];
        for (k, _) in MARKED {
            let p = K.xyz_to_uvd(joints()[k]);
            for (i, d) in mm.iter_mut().enumerate() {
                let (u, v) = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
                if (u - p.x).hypot(v - p.y) <= r {
                    *d = p.z;
                }
            }
        }
        for i in (0..w * h).step_by(997) {
            mm[i] = 0.0;
        }
        DepthMap::new(w, h, mm).unwrap()
    }

    fn jitter(degrees: f32, shift: Vec3, scale: f32) -> Jitter {
        let angle = degrees.to_radians();
        Jitter {
            angle,
            shift,
            scale,
        }
    }

    /// The sample of [`joints`] in `depth` with a 300 mm cube.
    fn sample(depth: &DepthMap, size: usize, jitter: &Jitter) -> (Vec<f32>, Vec<f32>) {
        let mut io = (vec![0.0; size * size], vec![0.0; OUTPUTS]);
        let j = joints();
        make_sample(depth, &K, &j, 300.0, size, jitter, &mut io.0, &mut io.1).unwrap();
        io
    }

    /// Target slot of joint `j` (the prior is skipped).
    fn slot(j: usize) -> usize {
        if j < PRIOR_JOINT { j } else { j - 1 }
    }

    fn target_of(target: &[f32], j: usize) -> Vec3 {
        Vec3::from_slice(&target[3 * slot(j)..3 * slot(j) + 3])
    }

    #[test]
    fn no_jitter_is_the_plain_crop_bit_for_bit() {
        let depth = scene(6.0);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..5 {
            let jitter = Augment::NONE.draw(&mut rng);
            assert_eq!(jitter, Jitter::NONE);
            assert!(jitter.angle.is_sign_positive() && jitter.shift.x.is_sign_positive());
        }
        for size in [1, 31, 96] {
            let (input, target) = sample(&depth, size, &Jitter::NONE);
            let crop = Crop::new(PALM, 300.0, size, &K).unwrap();
            assert_eq!(input, crop.input(&depth), "size {size}");
            assert_eq!(target, crop.normalize_joints(&joints()));
        }
    }

    /// Maps a target joint back to (column, row) of the rotated input.
    fn input_pixel(t: Vec3, jitter: &Jitter, size: usize) -> (f32, f32) {
        let crop = Crop::new(PALM + jitter.shift, 300.0 * jitter.scale, size, &K).unwrap();
        let xyz = t * crop.cube / 2.0 + crop.center;
        let (p, c) = (K.xyz_to_uvd(xyz), K.xyz_to_uvd(crop.center));
        let [u0, v0, u1, v1] = crop.window;
        let n = size as f32;
        let col = (p.x - c.x) / ((u1 - u0) / n) + n / 2.0;
        let row = (p.y - c.y) / ((v1 - v0) / n) + n / 2.0;
        (col, row)
    }

    #[test]
    fn image_and_joints_rotate_together() {
        let depth = scene(8.0);
        let size = 128;
        let jitters = [
            jitter(37.0, Vec3::new(6.0, -9.0, 12.0), 1.1),
            jitter(-143.0, Vec3::new(-4.0, 3.0, -8.0), 0.85),
        ];
        for jitter in &jitters {
            let (input, target) = sample(&depth, size, jitter);
            let half_z = 300.0 * jitter.scale / 2.0;
            for (k, _) in MARKED {
                let (col, row) = input_pixel(target_of(&target, k), jitter, size);
                let value = input[row as usize * size + col as usize];
                // Each disc has its joint's depth, so landing on another disc fails too.
                let expected = (joints()[k].z - (PALM.z + jitter.shift.z)) / half_z;
                assert!(
                    (value - expected).abs() < 1e-4,
                    "joint {k} at input ({col:.1}, {row:.1}) reads {value}, its disc is {expected}"
                );
            }
        }
    }

    /// Where the unrotated target `b` of marked joint `k` goes when the crop turns `degrees`
    /// counter-clockwise (y up). The image turns about the centre's projection, not about the
    /// camera ray through the centre, so the part of the offset due to perspective — a joint
    /// `dz` nearer than the centre sits at `centre.xy·dz/z` from that ray — does not turn; the
    /// rest does. (Up to fx ≠ fy: 0.16%.)
    fn turned(b: Vec3, k: usize, degrees: f32) -> Vec3 {
        let (s, c) = degrees.to_radians().sin_cos();
        let fixed = PALM.truncate() * (joints()[k].z - PALM.z) / PALM.z / 150.0;
        let r = b.truncate() - fixed;
        (fixed + Vec2::new(r.x * c - r.y * s, r.x * s + r.y * c)).extend(b.z)
    }

    #[test]
    fn positive_angles_turn_counter_clockwise_and_never_mirror() {
        let depth = scene(8.0);
        let size = 128;
        let (_, plain) = sample(&depth, size, &Jitter::NONE);
        let quarter = jitter(90.0, Vec3::ZERO, 1.0);
        let (input, target) = sample(&depth, size, &quarter);
        // Joint 0 is right of and above the palm; a quarter turn counter-clockwise puts it left
        // of and above: (x, y) → (−y, x), y up.
        let (before, after) = (target_of(&plain, 0), target_of(&target, 0));
        let expected = turned(before, 0, 90.0);
        assert!(expected.x < 0.0 && expected.y > 0.0 && before.x > 0.0 && before.y > 0.0);
        assert!(
            (after - expected).length() < 2e-3,
            "{before} → {after}, not {expected}"
        );
        // In the input its disc is now above-left of the centre (rows grow downwards).
        let (col, row) = input_pixel(after, &quarter, size);
        assert!(col < 64.0 && row < 64.0, "({col}, {row})");
        assert!(input[row as usize * size + col as usize] < 0.0);
        // Any angle: the targets' (x, y) turn by that angle.
        for degrees in [37.0f32, -100.0, 170.0] {
            let (_, target) = sample(&depth, size, &jitter(degrees, Vec3::ZERO, 1.0));
            for (k, _) in MARKED {
                let (b, a) = (target_of(&plain, k), target_of(&target, k));
                let expected = turned(b, k, degrees);
                assert!(
                    (a - expected).length() < 3e-3,
                    "{degrees}°, joint {k}: {a} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn shift_and_scale_move_and_scale_the_target() {
        let depth = scene(8.0);
        let (_, plain) = sample(&depth, 64, &Jitter::NONE);
        let shift = Vec3::new(10.0, -20.0, 30.0);
        // The centre moves by `shift`: every target moves by −shift/(cube/2).
        let (_, target) = sample(&depth, 64, &jitter(0.0, shift, 1.0));
        for (a, b) in target.chunks(3).zip(plain.chunks(3)) {
            let moved = Vec3::from_slice(a) - Vec3::from_slice(b);
            assert!((moved + shift / 150.0).length() < 1e-5, "{moved}");
        }
        let (_, target) = sample(&depth, 64, &jitter(0.0, Vec3::ZERO, 1.25));
        for (a, b) in target.iter().zip(&plain) {
            assert!((a * 1.25 - b).abs() < 1e-5, "{a} vs {b}");
        }
        // The image follows: on a flat surface at 700 mm, a centre 30 mm deeper (650 + 30) in a
        // cube 1.25 times larger reads (700 − 680)/(150·1.25).
        let flat = DepthMap::new(640, 480, vec![700.0; 640 * 480]).unwrap();
        let (input, _) = sample(&flat, 16, &jitter(0.0, shift, 1.25));
        let expected = 20.0 / 187.5;
        assert!(
            input.iter().all(|v| (v - expected).abs() < 1e-6),
            "{input:?}"
        );
    }

    #[test]
    fn draws_stay_within_their_bounds_with_the_asked_spread() {
        let augment = Augment::default();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let jitters: Vec<Jitter> = (0..20_000).map(|_| augment.draw(&mut rng)).collect();
        let n = jitters.len() as f32;
        let pi = std::f32::consts::PI;
        assert!(jitters.iter().all(|j| j.angle.abs() <= pi));
        assert!(jitters.iter().all(|j| j.shift.abs().max_element() <= 30.0));
        assert!(jitters.iter().all(|j| (0.7..=1.3).contains(&j.scale)));
        let sd = |f: &dyn Fn(&Jitter) -> f32| {
            let mean = jitters.iter().map(f).sum::<f32>() / n;
            (jitters.iter().map(|j| (f(j) - mean).powi(2)).sum::<f32>() / n).sqrt()
        };
        // Uniform on [−π, π]: σ = π/√3; normal (barely clamped): σ as asked.
        assert!((sd(&|j| j.angle) - std::f32::consts::PI / 3f32.sqrt()).abs() < 0.05);
        assert!((sd(&|j| j.shift.y) - 10.0).abs() < 0.3);
        assert!((sd(&|j| j.scale) - 0.1).abs() < 0.003);
        assert!(jitters.iter().any(|j| j.angle < -3.0) && jitters.iter().any(|j| j.angle > 3.0));
    }
}
