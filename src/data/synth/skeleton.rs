//! The hand model: an adult right hand's proportions, forward kinematics, NYU's 36 joints and
//! the solids that are rendered.
//!
//! # Frames
//!
//! The *hand frame* has its origin at the wrist pivot (the head of the capitate), +X radial
//! (towards the thumb), +Y distal (along the middle finger), +Z dorsal (out of the back of the
//! hand). Fingers flex towards −Z. With the identity rotation and NYU's camera axes (x right,
//! y up, z away) this is a right hand showing its palm to the camera, fingers up and thumb on
//! the image's right, as a person facing the camera holds it; any proper rotation keeps it a
//! right hand. The *forearm frame* shares the origin and is the hand frame before wrist flexion
//! and deviation.
//!
//! # Joints (NYU order, see [`crate::data::JOINT_NAMES`])
//!
//! Finger F1..F4 (little, ring, middle, index), six points each, distal to proximal:
//! `KNU3_A` the fingertip (on the distal segment's axis, 40 % of the tip radius short of the
//! end of the solid, so inside the surface like every joint), `KNU3_B` the DIP joint,
//! `KNU2_A` 80 % of the way from the PIP to the DIP, `KNU2_B` the PIP, `KNU1_A` 80 % of the way
//! from the MCP to the PIP, `KNU1_B` the MCP. Thumb (TH) likewise with tip, IP, 80 % MCP→IP,
//! MCP, 80 % CMC→MCP, CMC. Palm: `PALM_1` the ulnar and `PALM_2` the radial side of the wrist
//! (on the distal ulna and radius, 15 mm either side of the axis, in the forearm frame);
//! `PALM_3` the palm centre (the centre of the palm's body ellipsoid, mid-thickness); `PALM_4`,
//! `PALM_5`, `PALM_6` on the index, middle and little metacarpal axes 20 mm proximal of their
//! knuckles. All joints are at the bone axis, inside the rendered surface. The generator's
//! second generation ([`Generation::Second`]) labels two of them as NYU's annotators did
//! instead: `PALM_3` [`NYU_PALM_SHIFT_MM`] distal of the palm body's centre, `TH_KNU3_B`
//! [`NYU_THUMB_MID_SHIFT_MM`] from the thumb's IP towards its tip.

use glam::{Mat3, Vec3};
use rand::Rng;

use super::pose::HandPose;
use super::render::Primitive;
use super::{Generation, gauss};
use crate::data::{Joints, Labels, NUM_JOINTS};

/// Joint-to-joint lengths of the mean hand in mm: proximal, middle, distal (DIP to the centre
/// of the tip ball), for little, ring, middle, index (adult anthropometry, about the 50th
/// percentile between men and women).
const FINGER_LENGTHS: [[f32; 3]; 4] = [
    [33.0, 19.0, 15.0],
    [42.0, 27.0, 17.0],
    [45.0, 28.0, 18.0],
    [40.0, 24.0, 17.0],
];
/// Finger radii in mm at the MCP, PIP, DIP and tip.
const FINGER_RADII: [[f32; 4]; 4] = [
    [8.2, 7.4, 6.6, 6.0],
    [9.2, 8.4, 7.6, 6.8],
    [9.7, 8.9, 8.0, 7.2],
    [9.4, 8.7, 7.8, 7.0],
];
/// Knuckle (MCP) centres in the hand frame: the knuckle row is arched (index and little more
/// palmar) and the little finger's knuckle sits well below the others.
const MCP: [[f32; 3]; 4] = [
    [-27.0, 77.0, -5.0],
    [-9.0, 86.0, -2.0],
    [10.0, 89.0, 0.0],
    [29.0, 85.0, -2.0],
];
/// Fan of the straight fingers in the palm plane (radians, + radial).
const SPLAY: [f32; 4] = [-0.17, -0.07, 0.0, 0.07];
/// Thumb: metacarpal (CMC→MCP), proximal, distal (IP to the centre of the tip ball), in mm.
const THUMB_LENGTHS: [f32; 3] = [44.0, 31.0, 21.0];
/// Thumb radii at the CMC, MCP, IP and tip.
const THUMB_RADII: [f32; 4] = [12.0, 10.2, 9.4, 8.4];
/// The thumb's CMC joint, inside the thenar eminence.
const CMC: [f32; 3] = [20.0, 16.0, -9.0];
/// The palm centre (`PALM_3`): the centre of the palm body.
const PALM_CENTRE: [f32; 3] = [0.0, 48.0, -2.0];
/// How far (mm, distally along the hand frame's Y, times the hand's scale) NYU's annotators put
/// `PALM_3` beyond the palm body's centre ([`Generation::Second`]): in NYU's test labels it lies
/// halfway from the wrists' middle to the middle finger's PIP in both subjects (0.50 of the way;
/// the palm body's centre is at 0.39 on the first generation's poses, and 16 mm puts the label
/// at 0.50 on the second's).
pub const NYU_PALM_SHIFT_MM: f32 = 16.0;
/// How far (mm, times the hand's scale) NYU's annotators put the thumb's `TH_KNU3_B` from its
/// interphalangeal joint towards the tip ([`Generation::Second`]): NYU's thumb tip to middle
/// point is 19.5 and 24.6 mm in its two subjects and middle to base 37.8 and 48.8, against 26.3
/// and 31.0 with the joint at the IP.
pub const NYU_THUMB_MID_SHIFT_MM: f32 = 6.0;

/// The mean hand's factor on every width over the constants above, which alone give a hand
/// breadth across the metacarpal heads of 75.6 mm, a woman's. Adult hand breadth (the widest
/// palm, at the distal ends of the metacarpals) has a median of 85 mm in British men and 75 mm
/// in women aged 19–65 (SD 5 and 4 mm; Pheasant & Haslegrave, *Bodyspace*, 3rd ed. 2006, as
/// tabulated in City University of Hong Kong's online anthropometry, dimension 29): 1.05 puts
/// the mean hand at 79 mm between the two, and with the global scale and the breadth factor
/// hands span 64–93 mm, about both sexes' 5th to 95th percentiles (70–95 mm). Elbow to
/// fingertip, about 185 mm of hand and 270 mm of forearm here, is the same source's 430 mm
/// (women) to 475 mm (men) median.
const MEAN_WIDTH: f32 = 1.05;

/// Which label the rasterizer gives hand pixels.
pub const LABEL_HAND: u8 = 1;
/// Which label the rasterizer gives forearm pixels.
pub const LABEL_FOREARM: u8 = 2;

/// One finger's fixed geometry in the hand frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FingerShape {
    /// The MCP joint centre.
    pub mcp: Vec3,
    /// Rest direction in the palm plane, radians towards radial.
    pub splay: f32,
    /// Proximal, middle and distal segment lengths (mm).
    pub lengths: [f32; 3],
    /// Radii at the MCP, PIP, DIP and the tip (mm).
    pub radii: [f32; 4],
}

/// The thumb's fixed geometry in the hand frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThumbShape {
    /// The CMC joint centre.
    pub cmc: Vec3,
    /// Rest frame of the metacarpal (columns: flexion axis, long axis, nail normal).
    pub frame: Mat3,
    /// Metacarpal, proximal and distal lengths (mm).
    pub lengths: [f32; 3],
    /// Radii at the CMC, MCP, IP and the tip (mm).
    pub radii: [f32; 4],
}

/// One person's hand: every length and radius, fixed across poses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HandShape {
    /// Global scale relative to the mean hand (0.9..1.1).
    pub scale: f32,
    /// Factor on widths (radii and the palm's breadth) over the constants, around 1.05 (the
    /// mean hand's, from anthropometry).
    pub width: f32,
    /// Little, ring, middle, index (NYU F1..F4).
    pub fingers: [FingerShape; 4],
    /// The thumb.
    pub thumb: ThumbShape,
}

impl HandShape {
    /// The mean adult right hand.
    pub fn mean() -> HandShape {
        HandShape::build(1.0, MEAN_WIDTH, |_| 1.0)
    }

    /// A random adult hand: global scale ±10 %, breadth ±6 %, each bone ±4 % (σ, clamped ±8 %).
    pub fn sample(rng: &mut impl Rng) -> HandShape {
        let scale = rng.random_range(0.9..1.1);
        let width = MEAN_WIDTH * rng.random_range(0.94..1.06);
        let jitter: Vec<f32> = (0..15)
            .map(|_| (1.0 + 0.04 * gauss(rng)).clamp(0.92, 1.08))
            .collect();
        HandShape::build(scale, width, |i| jitter[i])
    }

    /// `bone(i)` scales bone i (fingers 0..12 in order, then the thumb's three).
    fn build(scale: f32, width: f32, bone: impl Fn(usize) -> f32) -> HandShape {
        let radial = |p: [f32; 3]| Vec3::new(p[0] * width, p[1], p[2]) * scale;
        let fingers = std::array::from_fn(|f| FingerShape {
            mcp: radial(MCP[f]),
            splay: SPLAY[f],
            lengths: std::array::from_fn(|s| FINGER_LENGTHS[f][s] * scale * bone(3 * f + s)),
            radii: FINGER_RADII[f].map(|r| r * scale * width),
        });
        // The thumb's metacarpal leaves the CMC distally, radially and a little palmarly;
        // its phalanges curl ulnarly and palmarly (across the palm), so the frame's Z (the
        // side the nail faces) points radially and dorsally.
        let long = Vec3::new(0.62, 0.76, -0.18).normalize();
        let curl_away = Vec3::new(0.85, 0.0, 0.5);
        let nail = (curl_away - long * long.dot(curl_away)).normalize();
        let thumb = ThumbShape {
            cmc: radial(CMC),
            frame: Mat3::from_cols(long.cross(nail), long, nail),
            lengths: std::array::from_fn(|s| THUMB_LENGTHS[s] * scale * bone(12 + s)),
            radii: THUMB_RADII.map(|r| r * scale * width),
        };
        HandShape {
            scale,
            width,
            fingers,
            thumb,
        }
    }

    /// The palm centre (`PALM_3`) in the hand frame.
    pub fn palm_centre(&self) -> Vec3 {
        Vec3::from(PALM_CENTRE) * self.scale
    }
}

/// A rigid placement of the hand frame in the camera frame, plus the wrist angles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HandPlacement {
    /// Rotation of the hand frame into camera axes.
    pub rotation: Mat3,
    /// The wrist pivot in camera space (mm).
    pub origin: Vec3,
    /// Wrist flexion, radians (+ palmar); moves the forearm, not the hand.
    pub wrist_flex: f32,
    /// Wrist deviation, radians (+ radial).
    pub wrist_dev: f32,
}

impl HandPlacement {
    /// The hand frame in camera axes at `origin`, wrist straight: with NYU's axes a right hand
    /// showing its palm to the camera, fingers up.
    pub fn facing_camera(origin: Vec3) -> HandPlacement {
        HandPlacement {
            rotation: Mat3::IDENTITY,
            origin,
            wrist_flex: 0.0,
            wrist_dev: 0.0,
        }
    }

    /// Rotation of the forearm frame into camera axes.
    pub fn forearm_rotation(&self) -> Mat3 {
        self.rotation * wrist_rotation(self.wrist_flex, self.wrist_dev).transpose()
    }
}

/// The hand relative to the forearm: deviation in the palm plane, then flexion.
fn wrist_rotation(flex: f32, dev: f32) -> Mat3 {
    Mat3::from_rotation_z(-dev) * Mat3::from_rotation_x(-flex)
}

/// A hand in the camera frame: NYU's joints and the solids to render.
#[derive(Debug, Clone, PartialEq)]
pub struct PosedHand {
    /// The 36 joints in NYU order, camera space (mm).
    pub joints: Joints,
    /// Hand solids (palm, fingers, thumb).
    pub hand: Vec<Primitive>,
    /// Forearm solids.
    pub forearm: Vec<Primitive>,
}

/// Poses `shape` with `pose` and places it: forward kinematics from the palm outwards, the
/// joints labelled as `generation` has them.
pub fn pose_hand(
    shape: &HandShape,
    pose: &HandPose,
    at: &HandPlacement,
    generation: Generation,
) -> PosedHand {
    let r = at.rotation;
    let cam = |p: Vec3| r * p + at.origin;
    let mut joints = [Vec3::ZERO; NUM_JOINTS];
    let mut hand = Vec::with_capacity(32);

    // A chain of three segments from `base` with rotations `rots` (each segment along its
    // rotation's Y): joint positions base, 1, 2, tip, in the hand frame.
    let chain = |base: Vec3, rots: [Mat3; 3], lengths: [f32; 3]| {
        let mut p = [base; 4];
        for s in 0..3 {
            p[s + 1] = p[s] + rots[s] * Vec3::Y * lengths[s];
        }
        p
    };
    let mut emit = |slot: usize, p: [Vec3; 4], radii: [f32; 4], joints: &mut Joints| {
        let tip_dir = (p[3] - p[2]).normalize();
        let tip = p[3] + tip_dir * (0.6 * radii[3]);
        let six = [
            tip,
            p[2],
            p[1] + (p[2] - p[1]) * 0.8,
            p[1],
            p[0] + (p[1] - p[0]) * 0.8,
            p[0],
        ];
        for (k, q) in six.into_iter().enumerate() {
            joints[slot * 6 + k] = cam(q);
        }
        for s in 0..3 {
            hand.push(Primitive::RoundCone {
                a: cam(p[s]),
                b: cam(p[s + 1]),
                ra: radii[s],
                rb: radii[s + 1],
            });
        }
    };

    for (f, (finger, fp)) in shape.fingers.iter().zip(&pose.fingers).enumerate() {
        let r1 = Mat3::from_rotation_z(-(finger.splay + fp.mcp_abd))
            * Mat3::from_rotation_x(-fp.mcp_flex);
        let r2 = r1 * Mat3::from_rotation_x(-fp.pip);
        let r3 = r2 * Mat3::from_rotation_x(-fp.dip);
        let p = chain(finger.mcp, [r1, r2, r3], finger.lengths);
        emit(f, p, finger.radii, &mut joints);
    }
    let th = &shape.thumb;
    let tp = &pose.thumb;
    // CMC, two degrees of freedom: palmar abduction lifts the metacarpal out of the palm
    // plane (towards −Z), then flexion swings it about the palm normal towards the little
    // finger; together they give opposition.
    let long = th.frame.y_axis;
    let abd_axis = Vec3::Z.cross(long).normalize();
    let r1 =
        Mat3::from_rotation_z(tp.cmc_flex) * Mat3::from_axis_angle(abd_axis, tp.cmc_abd) * th.frame;
    let r2 = r1 * Mat3::from_rotation_x(-tp.mcp_flex);
    let r3 = r2 * Mat3::from_rotation_x(-tp.ip);
    let thumb = chain(th.cmc, [r1, r2, r3], th.lengths);
    emit(4, thumb, th.radii, &mut joints);

    palm_solids(shape, &cam, r, &mut hand);

    let s = shape.scale;
    let fr = at.forearm_rotation();
    let fcam = |p: Vec3| fr * p * s + at.origin;
    joints[30] = fcam(Vec3::new(-15.0 * shape.width, -5.0, 0.0));
    joints[31] = fcam(Vec3::new(15.0 * shape.width, -5.0, 0.0));
    let nyu = generation.labels() == Labels::Nyu;
    let palm_shift = if nyu { NYU_PALM_SHIFT_MM * s } else { 0.0 };
    joints[32] = cam(shape.palm_centre() + Vec3::Y * palm_shift);
    if nyu {
        let towards_tip = (joints[24] - joints[25]).normalize_or_zero();
        joints[25] += towards_tip * NYU_THUMB_MID_SHIFT_MM * s;
    }
    for (slot, f) in [(33, 3), (34, 2), (35, 0)] {
        let m = shape.fingers[f].mcp;
        let base = metacarpal_base(m, s);
        joints[slot] = cam(m + (base - m).normalize() * 20.0 * s);
    }
    // Forearm: radius and ulna side by side, so it is wider than thick, widening towards the
    // elbow; then the upper arm, heading back towards the body (away from the camera) so the
    // arm leaves the frame as in NYU instead of ending in a visible stump.
    let (sw, elbow_y) = (s * shape.width, -270.0);
    let mut forearm: Vec<Primitive> = [-1.0f32, 1.0]
        .map(|side| Primitive::RoundCone {
            a: fcam(Vec3::new(side * 10.0 * shape.width, -5.0, 0.0)),
            b: fcam(Vec3::new(side * 13.0 * shape.width, elbow_y, 0.0)),
            ra: 17.0 * sw,
            rb: 23.0 * sw,
        })
        .to_vec();
    let elbow = fcam(Vec3::new(0.0, elbow_y, 0.0));
    let back = ((fr * Vec3::NEG_Y) + Vec3::Z).normalize();
    forearm.push(Primitive::RoundCone {
        a: elbow,
        b: elbow + back * 300.0 * s,
        ra: 33.0 * sw,
        rb: 42.0 * sw,
    });
    PosedHand {
        joints,
        hand,
        forearm,
    }
}

/// The carpal end of the metacarpal whose knuckle is at `mcp`.
fn metacarpal_base(mcp: Vec3, scale: f32) -> Vec3 {
    Vec3::new(mcp.x * 0.5, 14.0 * scale, mcp.z * 0.5)
}

/// The palm: a flattened body ellipsoid, four metacarpals ending in the knuckles, the thenar
/// and hypothenar pads and the carpus, so that it is rounded at every edge and thicker at the
/// knuckles and the heel than in the middle, like a real palm.
fn palm_solids(shape: &HandShape, cam: &impl Fn(Vec3) -> Vec3, r: Mat3, out: &mut Vec<Primitive>) {
    let (s, w) = (shape.scale, shape.width);
    let at = |x: f32, y: f32, z: f32| cam(Vec3::new(x * w, y, z) * s);
    let ellipsoid = |centre: Vec3, local: Mat3, radii: Vec3| Primitive::Ellipsoid {
        centre,
        axes: r * local,
        radii: radii * s * Vec3::new(w, 1.0, 1.0),
    };
    out.push(ellipsoid(
        at(PALM_CENTRE[0], PALM_CENTRE[1], PALM_CENTRE[2]),
        Mat3::IDENTITY,
        Vec3::new(38.0, 40.0, 13.0),
    ));
    // Thenar pad along the thumb's metacarpal, hypothenar pad along the ulnar edge.
    out.push(ellipsoid(
        at(19.0, 32.0, -8.0),
        Mat3::from_rotation_z(-0.45),
        Vec3::new(15.0, 26.0, 12.5),
    ));
    out.push(ellipsoid(
        at(-23.0, 38.0, -5.0),
        Mat3::from_rotation_z(0.1),
        Vec3::new(13.0, 30.0, 11.0),
    ));
    out.push(ellipsoid(
        at(0.0, 10.0, -1.0),
        Mat3::IDENTITY,
        Vec3::new(27.0, 17.0, 16.5),
    ));
    for finger in &shape.fingers {
        out.push(Primitive::RoundCone {
            a: cam(metacarpal_base(finger.mcp, s)),
            b: cam(finger.mcp),
            ra: 10.0 * s * w,
            rb: finger.radii[0] + 1.0 * s,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_pose_is_a_right_hand_palm_to_camera() {
        let shape = HandShape::mean();
        let at = HandPlacement::facing_camera(Vec3::new(0.0, 0.0, 800.0));
        let h = pose_hand(&shape, &HandPose::rest(), &at, Generation::First);
        let j = &h.joints;
        // Thumb tip on the image's right of the little fingertip; fingers up.
        assert!(j[24].x > j[0].x + 60.0);
        assert!(j[12].y > j[32].y + 80.0);
        // The middle finger's straight chain is as long as its segments.
        let len = (j[12] - j[17]).length();
        let want: f32 = FINGER_LENGTHS[2].iter().sum::<f32>() + 0.6 * shape.fingers[2].radii[3];
        assert!((len - want).abs() < 1e-3, "{len} vs {want}");
        // PALM_1 ulnar (left of PALM_2 here), both below the palm centre.
        assert!(j[30].x < j[31].x && j[30].y < j[32].y - 40.0);
    }

    /// The mean hand's breadth across the metacarpal heads (the outer sides of the little and
    /// index metacarpals' distal balls) is between the median woman's and man's.
    #[test]
    fn the_mean_hand_is_as_broad_as_an_adult_hand() {
        let shape = HandShape::mean();
        let at = HandPlacement::facing_camera(Vec3::ZERO);
        let h = pose_hand(&shape, &HandPose::rest(), &at, Generation::First);
        let knuckle_ball = |mcp: Vec3| {
            h.hand.iter().find_map(|p| match *p {
                Primitive::RoundCone { b, rb, .. } if (b - mcp).length() < 1e-4 => Some((b, rb)),
                _ => None,
            })
        };
        let (little, rl) = knuckle_ball(shape.fingers[0].mcp).expect("the little metacarpal");
        let (index, ri) = knuckle_ball(shape.fingers[3].mcp).expect("the index metacarpal");
        let breadth = (index.x + ri) - (little.x - rl);
        assert!((78.0..81.0).contains(&breadth), "{breadth} mm");
    }
}
