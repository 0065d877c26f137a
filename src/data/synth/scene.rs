//! Where the hand is, and what is behind it.
//!
//! # Global pose
//!
//! As in NYU, a person faces the camera and holds the right hand up in front of the body,
//! fingers mostly up. The first two generations turn the palm (65 %) or the back (35 %)
//! towards the camera; around that, the hand rolls about the view axis (75 %: normal, mean 10°
//! anticlockwise, σ 35°, within ±120°; 25 %: uniform ±150°) and tilts about the horizontal and
//! vertical image axes (each 70 %: normal σ 20°, 30 %: uniform, within ±50°), so it is never
//! seen edge-on. NYU's subjects turn theirs otherwise (`examples/nyu_proportions.rs`, on its
//! 8,252 test labels): the palm towards the camera in 0.72–0.73 of the frames, an edge in
//! 0.11–0.15, the back in 0.14–0.16; the fingers leaning 20–22° (median) towards the camera and
//! rolled 7–13° clockwise. The third generation draws that (`View::nyu`), and
//! `tests/synth_vs_nyu.rs` holds it there. In every generation the wrist flexes (σ 20°,
//! −60..70°) and deviates (σ 8°, −30..20° radial); the forearm must not point towards the
//! camera (it comes from the body, behind the hand). The palm centre is 550–1100 mm away
//! (NYU's test PALM_3 depths: 5 % at 729 mm, 95 % at 1059 mm, max 1107 mm) and anywhere in the
//! image that keeps every joint 30 px from the border.
//!
//! # Background
//!
//! What real recordings have behind a hand: in 85 % of the frames a wall 1500–2500 mm away (on
//! the optical axis), tilted up to ±30° about each image axis, and otherwise nothing within the
//! sensor's range; half the frames a torso (an ellipsoid) off to one side and below; a quarter
//! a table top below the hand (a horizontal slab 600–1500 mm deep: its front face, and its top
//! where the camera looks down on it); a fifth one to three clutter solids. Everything is at least 250 mm
//! behind the hand's farthest joint, so the hand (with its forearm) is always the closest
//! object.

use glam::{Mat3, Vec3};
use rand::Rng;

use super::gauss;
use super::pose::HandPose;
use super::render::Primitive;
use super::skeleton::{HandPlacement, HandShape, PosedHand, pose_hand};
use super::{Generation, SynthOptions};

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

/// How the hand is turned before the camera: `Rz(roll) · Rx(pitch) · Ry(yaw) · facing` takes the
/// hand frame (fingers up, palm towards the camera) into camera axes.
struct View {
    facing: Mat3,
    roll: f32,
    pitch: f32,
    yaw: f32,
}

impl View {
    /// The first two generations' views: the palm (65 %) or the back towards the camera, the
    /// hand upright with a slight anticlockwise roll, turned at most 50° about either image axis.
    fn upright(rng: &mut impl Rng) -> View {
        let facing = if rng.random_bool(0.65) {
            Mat3::IDENTITY
        } else {
            Mat3::from_rotation_y(std::f32::consts::PI)
        };
        let roll = mixed_angle(rng, 0.75, 10.0, 35.0, 120.0, 150.0);
        let pitch = mixed_angle(rng, 0.7, 0.0, 20.0, 50.0, 50.0);
        let yaw = mixed_angle(rng, 0.7, 0.0, 20.0, 50.0, 50.0);
        View {
            facing,
            roll,
            pitch,
            yaw,
        }
    }

    /// The third generation's: NYU's subjects' views (module docs). The turn about the hand's
    /// long axis puts the palm (70 %, give or take 15°), the back (15 %, 25°) or either edge
    /// (15 %, 15°) towards the camera; the fingers lean 20° towards the camera (σ 20°, a third of
    /// the frames anywhere from 70° towards to 30° away) and roll 10° clockwise (σ 30°, a
    /// quarter of the frames anywhere within ±150°).
    fn nyu(rng: &mut impl Rng) -> View {
        let side = rng.random::<f64>();
        let (centre, sigma) = if side < 0.70 {
            (0.0, 15.0)
        } else if side < 0.85 {
            (180.0, 25.0)
        } else if rng.random_bool(0.5) {
            (90.0, 15.0)
        } else {
            (-90.0, 15.0)
        };
        let yaw = (centre + sigma * gauss(rng)).to_radians();
        let roll = mixed_angle(rng, 0.75, -10.0, 30.0, 120.0, 150.0);
        let pitch = if rng.random_bool(0.7) {
            (-20.0 + 20.0 * gauss(rng)).clamp(-75.0, 45.0)
        } else {
            rng.random_range(-70.0..30.0)
        };
        View {
            facing: Mat3::IDENTITY,
            roll,
            pitch: pitch.to_radians(),
            yaw,
        }
    }
}

/// Samples the orientation, wrist and position, and poses the hand there.
pub fn place_hand(
    rng: &mut impl Rng,
    shape: &HandShape,
    pose: &HandPose,
    options: &SynthOptions,
) -> PosedHand {
    let View {
        facing,
        roll,
        mut pitch,
        yaw,
    } = match options.generation {
        Generation::First | Generation::Second => View::upright(rng),
        Generation::Third => View::nyu(rng),
    };
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
    let local = pose_hand(shape, pose, &at, options.generation);
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
    pose_hand(shape, pose, &at, options.generation)
}

/// A plane behind everything else.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wall {
    /// Unit normal, pointing away from the camera.
    pub normal: Vec3,
    /// Distance along the optical axis (mm).
    pub distance: f32,
}

/// A table top: the horizontal plane `y = top` from its front edge at depth `near` to `far`,
/// with a front face `THICKNESS_MM` thick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Table {
    /// Height of the top in camera space (mm, negative: below the camera).
    pub top: f32,
    /// Depth of the front edge (mm).
    pub near: f32,
    /// Depth of the back edge (mm).
    pub far: f32,
}

/// The table top's thickness, seen at its front edge (mm).
const THICKNESS_MM: f32 = 40.0;

/// Everything behind the hand.
#[derive(Debug, Clone, PartialEq)]
pub struct Background {
    /// The wall, if one is within range.
    pub wall: Option<Wall>,
    /// A table below the hand.
    pub table: Option<Table>,
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
        let behind = hand_far + 250.0;
        let wall = rng.random_bool(0.85).then(|| {
            let (tx, ty) = (
                rng.random_range(-30.0f32..30.0),
                rng.random_range(-30.0f32..30.0),
            );
            let normal = Mat3::from_rotation_x(tx.to_radians())
                * Mat3::from_rotation_y(ty.to_radians())
                * Vec3::Z;
            let mut distance = rng.random_range(1500.0..2500.0);
            // A tilted wall comes nearer towards one side of the image; its nearest visible
            // point is at a corner (depth along a line of pixels is monotone), so push it back
            // until that corner is behind the hand too.
            let k = &options.intrinsics;
            let (w, h) = (options.width as f32 - 1.0, options.height as f32 - 1.0);
            let nearest = [(0.0, 0.0), (w, 0.0), (0.0, h), (w, h)]
                .into_iter()
                .map(|(u, v)| {
                    let d = k.uvd_to_xyz(Vec3::new(u, v, 1.0));
                    distance * normal.z / normal.dot(d)
                })
                .fold(f32::MAX, f32::min);
            if nearest < behind {
                distance *= behind / nearest;
            }
            Wall { normal, distance }
        });
        let table = rng.random_bool(0.25).then(|| {
            let near = behind + rng.random_range(0.0..300.0);
            Table {
                top: palm.y - rng.random_range(120.0..350.0),
                near,
                far: near + rng.random_range(600.0..1500.0),
            }
        });
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
            wall,
            table,
            solids,
        }
    }

    /// Fills `zbuf` with the wall and the table (∞ where a ray meets neither); the solids are
    /// rasterized after.
    pub fn draw_planes(
        &self,
        k: &crate::data::Intrinsics,
        width: usize,
        height: usize,
        zbuf: &mut [f32],
    ) {
        for v in 0..height {
            let y = (k.cy - v as f64) / k.fy;
            for u in 0..width {
                let x = (u as f64 - k.cx) / k.fx;
                // The ray through the pixel is z·(x, y, 1).
                let mut z = f64::INFINITY;
                if let Some(wall) = &self.wall {
                    // The wall passes through (0, 0, distance): n·p = distance·n.z.
                    let n = wall.normal.as_dvec3();
                    let nd = n.x * x + n.y * y + n.z;
                    if nd > 1e-9 {
                        z = wall.distance as f64 * n.z / nd;
                    }
                }
                if let Some(t) = &self.table {
                    let (top, near, far) = (t.top as f64, t.near as f64, t.far as f64);
                    // The top, where the ray comes down onto it; the front face below the edge.
                    if top < 0.0 && y < 0.0 {
                        let on_top = top / y;
                        if (near..=far).contains(&on_top) {
                            z = z.min(on_top);
                        }
                    }
                    let at_edge = near * y;
                    if (top - THICKNESS_MM as f64..=top).contains(&at_edge) {
                        z = z.min(near);
                    }
                }
                zbuf[v * width + u] = z as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Intrinsics;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// How often each background part occurs, and that every one stays 250 mm behind the hand.
    #[test]
    fn backgrounds_vary_and_stay_behind_the_hand() {
        let options = SynthOptions::default();
        let (w, h) = (options.width, options.height);
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let (mut walls, mut tables) = (0, 0);
        let n = 400;
        for i in 0..n {
            let palm = Vec3::new(-100.0 + i as f32, 50.0 - i as f32 * 0.5, 800.0);
            let far = 880.0;
            let b = Background::sample(&mut rng, palm, far, &options);
            walls += b.wall.is_some() as usize;
            tables += b.table.is_some() as usize;
            if i % 20 == 0 {
                let mut z = vec![0.0; w * h];
                b.draw_planes(&options.intrinsics, w, h, &mut z);
                assert!(z.iter().all(|&d| d >= far + 250.0 - 1e-2), "frame {i}");
            }
        }
        let (walls, tables) = (walls as f64 / n as f64, tables as f64 / n as f64);
        assert!((0.78..0.92).contains(&walls), "walls in {walls} of frames");
        assert!(
            (0.18..0.32).contains(&tables),
            "tables in {tables} of frames"
        );
    }

    /// A table alone: its top where a ray comes down onto it between the edges, its front face
    /// below the front edge, nothing above the horizon.
    #[test]
    fn a_table_is_a_top_and_a_front_face() {
        let k = Intrinsics::NYU;
        let (w, h) = (640, 480);
        let table = Table {
            top: -300.0,
            near: 1200.0,
            far: 2000.0,
        };
        let b = Background {
            wall: None,
            table: Some(table),
            solids: Vec::new(),
        };
        let mut z = vec![0.0; w * h];
        b.draw_planes(&k, w, h, &mut z);
        for v in 0..h {
            let y = (k.cy - v as f64) / k.fy;
            let d = z[v * w + 320];
            if y >= 0.0 {
                assert_eq!(d, f32::INFINITY, "row {v} above the horizon");
                continue;
            }
            let on_top = -300.0 / y;
            let want = if (1200.0..=2000.0).contains(&on_top) {
                on_top as f32
            } else if (-340.0..=-300.0).contains(&(1200.0 * y)) {
                1200.0
            } else {
                f32::INFINITY
            };
            assert!(
                (d - want).abs() < 1e-2 || d == want,
                "row {v}: {d} vs {want}"
            );
        }
        // The front face shows: rows just below the edge's row are at the edge's depth.
        assert!(z.iter().filter(|&&d| d == 1200.0).count() > 640 * 10);
    }
}
