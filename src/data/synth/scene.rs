//! Where the hand is, and what is behind it.
//!
//! # Global pose
//!
//! As in NYU, a person faces the camera and holds the right hand up in front of the body: the
//! palm (65 %) or the back (35 %) towards the camera, fingers mostly up. Around that, the hand
//! rolls about the view axis (75 %: normal, mean 10°, σ 35°, within ±120°; 25 %: uniform
//! ±150°) and tilts about the horizontal and vertical image axes (each 70 %: normal σ 20°,
//! 30 %: uniform, within ±50°). The wrist flexes (σ 20°, −60..70°) and deviates (σ 8°,
//! −30..20° radial); the forearm must not point towards the camera (it comes from the body,
//! behind the hand). The palm centre is 550–1100 mm away (NYU's test PALM_3 depths: 5 % at
//! 729 mm, 95 % at 1059 mm, max 1107 mm) and anywhere in the image that keeps every joint
//! 30 px from the border.
//!
//! # Background
//!
//! A wall 1500–2500 mm away (on the optical axis), tilted up to ±30° about each image axis;
//! half the frames a torso (an ellipsoid) at least 250 mm behind the hand's farthest joint, off
//! to one side and below; a fifth of the frames one to three clutter solids, also at least
//! 250 mm behind the hand, so the hand (with its forearm) is always the closest object.

use glam::{Mat3, Vec3};
use rand::Rng;

use super::SynthOptions;
use super::gauss;
use super::pose::HandPose;
use super::render::Primitive;
use super::skeleton::{HandPlacement, HandShape, PosedHand, pose_hand};

/// Joints keep this many pixels from the image border.
const MARGIN_PX: f32 = 30.0;

fn mixed_angle(
    rng: &mut impl Rng,
    p_normal: f64,
    mean: f32,
    sigma: f32,
    bound: f32,
    wide: f32,
) -> f32 {
    let deg = if rng.random_bool(p_normal) {
        (mean + sigma * gauss(rng)).clamp(-bound, bound)
    } else {
        rng.random_range(-wide..wide)
    };
    deg.to_radians()
}

/// Samples the orientation, wrist and position, and poses the hand there.
pub fn place_hand(
    rng: &mut impl Rng,
    shape: &HandShape,
    pose: &HandPose,
    options: &SynthOptions,
) -> PosedHand {
    let facing = if rng.random_bool(0.65) {
        Mat3::IDENTITY
    } else {
        Mat3::from_rotation_y(std::f32::consts::PI)
    };
    let roll = mixed_angle(rng, 0.75, 10.0, 35.0, 120.0, 150.0);
    let mut pitch = mixed_angle(rng, 0.7, 0.0, 20.0, 50.0, 50.0);
    let yaw = mixed_angle(rng, 0.7, 0.0, 20.0, 50.0, 50.0);
    let mut at = HandPlacement {
        rotation: Mat3::IDENTITY,
        origin: Vec3::ZERO,
        wrist_flex: 0.0,
        wrist_dev: 0.0,
    };
    for attempt in 0..24 {
        if attempt == 12 {
            // No wrist angle brings the forearm away from the camera: tilt the other way.
            pitch = -pitch;
        }
        at.rotation = Mat3::from_rotation_z(roll)
            * Mat3::from_rotation_x(pitch)
            * Mat3::from_rotation_y(yaw)
            * facing;
        at.wrist_flex = (20.0 * gauss(rng)).clamp(-60.0, 70.0).to_radians();
        at.wrist_dev = (8.0 * gauss(rng)).clamp(-30.0, 20.0).to_radians();
        if (at.forearm_rotation() * Vec3::NEG_Y).z > -0.1 {
            break;
        }
    }

    // Joints relative to the palm centre, to fit the hand in the image before placing it.
    let local = pose_hand(shape, pose, &at);
    let centre = local.joints[crate::data::PRIOR_JOINT];
    let z = rng.random_range(550.0f32..1100.0);
    let k = &options.intrinsics;
    let (w, h) = (options.width as f32, options.height as f32);
    let fits = |c: Vec3| {
        local.joints.iter().all(|j| {
            let p = *j - centre + c;
            let uvd = k.xyz_to_uvd(p);
            p.z > 100.0
                && (MARGIN_PX..w - MARGIN_PX).contains(&uvd.x)
                && (MARGIN_PX..h - MARGIN_PX).contains(&uvd.y)
        })
    };
    let mut target = k.uvd_to_xyz(Vec3::new(w / 2.0, h / 2.0, z));
    for attempt in 0..24 {
        // Shrink the range towards the centre as attempts fail, so small images still work.
        let reach = 1.0 - attempt as f32 / 24.0;
        let u = w / 2.0 + (rng.random::<f32>() - 0.5) * w * reach;
        let v = h / 2.0 + (rng.random::<f32>() - 0.5) * h * reach;
        let c = k.uvd_to_xyz(Vec3::new(u, v, z));
        if fits(c) {
            target = c;
            break;
        }
    }
    at.origin = target - centre;
    pose_hand(shape, pose, &at)
}

/// Everything behind the hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    /// Unit normal of the wall, pointing away from the camera.
    pub wall_normal: Vec3,
    /// The wall's distance along the optical axis (mm).
    pub wall_distance: f32,
    /// Torso and clutter solids.
    pub solids: Vec<Primitive>,
}

impl Background {
    /// A random background for a hand whose farthest joint is `hand_far` mm away and whose
    /// palm centre is at `palm`, seen by the camera of `options`.
    pub fn sample(
        rng: &mut impl Rng,
        palm: Vec3,
        hand_far: f32,
        options: &SynthOptions,
    ) -> Background {
        let (tx, ty) = (
            rng.random_range(-30.0f32..30.0),
            rng.random_range(-30.0f32..30.0),
        );
        let wall_normal = Mat3::from_rotation_x(tx.to_radians())
            * Mat3::from_rotation_y(ty.to_radians())
            * Vec3::Z;
        let behind = hand_far + 250.0;
        let mut wall_distance = rng.random_range(1500.0..2500.0);
        // A tilted wall comes nearer towards one side of the image; its nearest visible point
        // is at a corner (depth along a line of pixels is monotone), so push it back until
        // that corner is behind the hand too.
        let k = &options.intrinsics;
        let (w, h) = (options.width as f32 - 1.0, options.height as f32 - 1.0);
        let nearest = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
            .into_iter()
            .map(|(u, v)| {
                let d = k.uvd_to_xyz(Vec3::new(u, v, 1.0));
                wall_distance * wall_normal.z / wall_normal.dot(d)
            })
            .fold(f32::MAX, f32::min);
        if nearest < behind {
            wall_distance *= behind / nearest;
        }
        let mut solids = Vec::new();
        if rng.random_bool(0.5) {
            let radii = Vec3::new(
                rng.random_range(150.0..200.0),
                rng.random_range(220.0..300.0),
                rng.random_range(90.0..130.0),
            );
            let side = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            solids.push(Primitive::Ellipsoid {
                centre: Vec3::new(
                    palm.x + side * rng.random_range(50.0..300.0),
                    palm.y - rng.random_range(100.0..400.0),
                    behind + radii.z + rng.random_range(0.0..300.0),
                ),
                axes: Mat3::from_rotation_z(rng.random_range(-0.3..0.3)),
                radii,
            });
        }
        if rng.random_bool(0.2) {
            for _ in 0..rng.random_range(1..=3) {
                let size = rng.random_range(40.0f32..200.0);
                let z = behind + size + rng.random_range(0.0..800.0);
                // Somewhere in (or near) the view at that depth.
                let at = Vec3::new(
                    rng.random_range(-0.6..0.6) * z,
                    rng.random_range(-0.45..0.45) * z,
                    z,
                );
                solids.push(match rng.random_range(0..3) {
                    0 => Primitive::Sphere {
                        centre: at,
                        radius: size,
                    },
                    1 => Primitive::RoundCone {
                        a: at,
                        b: at
                            + Vec3::new(
                                rng.random_range(-300.0..300.0),
                                rng.random_range(-300.0..300.0),
                                rng.random_range(0.0..200.0),
                            ),
                        ra: size * 0.5,
                        rb: size * rng.random_range(0.2..0.6),
                    },
                    _ => Primitive::Ellipsoid {
                        centre: at,
                        axes: Mat3::from_rotation_z(rng.random_range(-1.5..1.5))
                            * Mat3::from_rotation_x(rng.random_range(-1.0..1.0)),
                        radii: Vec3::new(
                            size,
                            size * rng.random_range(0.3..1.0),
                            size * rng.random_range(0.2..0.6),
                        ),
                    },
                });
            }
        }
        Background {
            wall_normal,
            wall_distance,
            solids,
        }
    }

    /// Fills `zbuf` with the wall (∞ where the ray does not meet it).
    pub fn draw_wall(
        &self,
        k: &crate::data::Intrinsics,
        width: usize,
        height: usize,
        zbuf: &mut [f32],
    ) {
        let n = self.wall_normal.as_dvec3();
        // The wall passes through (0, 0, distance): n·p = distance·n.z; a ray t·d with d.z = 1
        // meets it at z = t.
        let rhs = self.wall_distance as f64 * n.z;
        for v in 0..height {
            let y = (k.cy - v as f64) / k.fy;
            for u in 0..width {
                let x = (u as f64 - k.cx) / k.fx;
                let nd = n.x * x + n.y * y + n.z;
                zbuf[v * width + u] = if nd > 1e-9 {
                    (rhs / nd) as f32
                } else {
                    f32::INFINITY
                };
            }
        }
    }
}
