//! Where a set of labels puts the hand's points and how open its hands are, on the 14 NYU
//! evaluation joints in millimetres (results-file order): what compares the synthetic hands'
//! labels with NYU's own annotations (`examples/nyu_proportions.rs`, `tests/synth_vs_nyu.rs`).
//!
//! Why: a network learns the labels' conventions along with the hands. Where a training set
//! puts a label elsewhere than NYU's annotators did, or holds its hands otherwise than NYU's
//! subjects, a model trained on it is off on NYU's frames by that much, and no validation on
//! the training set's own kind of frames shows it.

use glam::Vec3;

use crate::data::Intrinsics;
use crate::data::crop::NYU_SECOND_SUBJECT_FIRST_FRAME;
use crate::data::joints::eval_subset;
use crate::data::synth::{Generation, SynthOptions, joints_uvd};
use crate::eval::Frame;

/// Places in a 14-joint results line (the order of [`crate::data::EVAL_SUBSET`]).
pub mod at {
    /// The thumb's tip.
    pub const THUMB_TIP: usize = 8;
    /// The thumb's middle point (`TH_KNU3_B`).
    pub const THUMB_MID: usize = 9;
    /// The thumb's base (`TH_KNU2_B`).
    pub const THUMB_BASE: usize = 10;
    /// The ulnar wrist point (`PALM_1`).
    pub const WRIST_1: usize = 11;
    /// The radial wrist point (`PALM_2`).
    pub const WRIST_2: usize = 12;
    /// The palm point (`PALM_3`).
    pub const PALM: usize = 13;
    /// The middle finger's middle point (`F3_KNU2_B`, its PIP).
    pub const MIDDLE_MID: usize = 5;
    /// The index finger's middle point (`F4_KNU2_B`, its PIP).
    pub const INDEX_MID: usize = 7;
}

/// Each finger's name, tip and middle point: little, ring, middle, index, then the thumb.
pub const FINGERS: [(&str, usize, usize); 5] = [
    ("little", 0, 1),
    ("ring", 2, 3),
    ("middle", 4, 5),
    ("index", 6, 7),
    ("thumb", at::THUMB_TIP, at::THUMB_MID),
];

/// NYU's test labels (a results file's frames, `u v d`) as its two subjects' hands in
/// millimetres: frames before [`NYU_SECOND_SUBJECT_FIRST_FRAME`], and from it.
pub fn nyu_subjects(frames: &[Frame]) -> [Vec<Vec<Vec3>>; 2] {
    let k = Intrinsics::NYU_EVAL;
    let hand = |f: &Frame| -> Vec<Vec3> { f.iter().map(|j| k.uvd_to_xyz(j.as_vec3())).collect() };
    let split = (NYU_SECOND_SUBJECT_FIRST_FRAME - 1).min(frames.len());
    [
        frames[..split].iter().map(hand).collect(),
        frames[split..].iter().map(hand).collect(),
    ]
}

/// The first `frames` hands of synthetic sequence `seed` of `generation`, in millimetres
/// (joints only: nothing is rendered).
pub fn synthetic_hands(generation: Generation, seed: u64, frames: u64) -> Vec<Vec<Vec3>> {
    let options = SynthOptions {
        generation,
        ..SynthOptions::default()
    };
    (0..frames)
        .map(|i| {
            eval_subset(&joints_uvd(seed, i, &options))
                .map(|j| options.intrinsics.uvd_to_xyz(j))
                .to_vec()
        })
        .collect()
}

/// The distance between points `a` and `b` of `hand`.
pub fn distance(hand: &[Vec3], a: usize, b: usize) -> f32 {
    (hand[a] - hand[b]).length()
}

/// Halfway between the two wrist points.
pub fn wrists_middle(hand: &[Vec3]) -> Vec3 {
    (hand[at::WRIST_1] + hand[at::WRIST_2]) * 0.5
}

/// Where the palm point lies along the line from the wrists' middle (0) to the middle finger's
/// middle point (1), projected onto it. NYU's annotators put it at 0.50 in both test subjects.
pub fn palm_along_hand(hand: &[Vec3]) -> f32 {
    let wrist = wrists_middle(hand);
    let axis = hand[at::MIDDLE_MID] - wrist;
    (hand[at::PALM] - wrist).dot(axis) / axis.length_squared()
}

/// How open the finger whose tip is point `tip` is: its tip's distance from the wrists' middle
/// over the index finger's middle point's (about 1.3 for a straight finger, 0.5 in a fist),
/// which no hand size or rotation changes.
pub fn openness(hand: &[Vec3], tip: usize) -> f32 {
    let wrist = wrists_middle(hand);
    (hand[tip] - wrist).length() / (hand[at::INDEX_MID] - wrist).length()
}

/// The wrists' middle → palm point direction: the hand's long axis, unit length.
fn long_axis(hand: &[Vec3]) -> Vec3 {
    (hand[at::PALM] - wrists_middle(hand)).normalize_or_zero()
}

/// Which side of the hand the camera sees: the cosine between the back of the hand's outward
/// normal and the line of sight through the palm point; 1 when the palm faces the camera, −1
/// the back, 0 edge-on. The normal is across the wrist points (ulnar to radial) and the long
/// axis, which for a right hand points out of its back (the fingers curl the other way in
/// NYU's labels as in the generator's).
pub fn palm_facing(hand: &[Vec3]) -> f32 {
    let across = hand[at::WRIST_2] - hand[at::WRIST_1];
    let back = across.cross(long_axis(hand)).normalize_or_zero();
    back.dot(hand[at::PALM].normalize_or_zero())
}

/// Which side of the hand the camera sees, from [`palm_facing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// The palm (facing above 0.3).
    Palm,
    /// An edge (facing within ±0.3: the palm's plane within about 17° of the line of sight).
    Edge,
    /// The back (facing below −0.3).
    Back,
}

impl View {
    /// Every view, palm first.
    pub const ALL: [View; 3] = [View::Palm, View::Edge, View::Back];

    /// The view of `hand` (14 evaluation joints, mm).
    pub fn of(hand: &[Vec3]) -> View {
        match palm_facing(hand) {
            c if c > 0.3 => View::Palm,
            c if c < -0.3 => View::Back,
            _ => View::Edge,
        }
    }

    /// For people: "palm", "edge" or "back" towards the camera.
    pub fn name(self) -> &'static str {
        match self {
            View::Palm => "palm",
            View::Edge => "edge",
            View::Back => "back",
        }
    }
}

/// The shares of `hands` whose palm, edge and back face the camera ([`View::of`]).
pub fn facing_shares(hands: &[Vec<Vec3>]) -> [f32; 3] {
    View::ALL.map(|view| {
        let n = hands.iter().filter(|h| View::of(h) == view).count();
        n as f32 / hands.len().max(1) as f32
    })
}

/// How far (degrees) the hand's long axis leans towards the camera: 0 in the image plane,
/// 90 pointing at the camera, negative leaning away.
pub fn lean(hand: &[Vec3]) -> f32 {
    (-long_axis(hand).z).clamp(-1.0, 1.0).asin().to_degrees()
}

/// The hand's roll in the image: the angle (degrees, anticlockwise as the camera sees it, in
/// (−180, 180]) from straight up to its long axis projected on the image plane.
pub fn roll(hand: &[Vec3]) -> f32 {
    let a = long_axis(hand);
    (-a.x).atan2(a.y).to_degrees()
}

/// The `ps` quantiles (nearest rank) of `values`; NaN for none.
pub fn quantiles(values: impl IntoIterator<Item = f32>, ps: &[f32]) -> Vec<f32> {
    let mut values: Vec<f32> = values.into_iter().collect();
    values.sort_by(f32::total_cmp);
    ps.iter()
        .map(|&p| {
            if values.is_empty() {
                return f32::NAN;
            }
            let rank = ((values.len() - 1) as f32 * p.clamp(0.0, 1.0)).round() as usize;
            values[rank]
        })
        .collect()
}

/// The median of `values`; NaN for none.
pub fn median(values: impl IntoIterator<Item = f32>) -> f32 {
    quantiles(values, &[0.5])[0]
}

/// A flat right hand in the plane z = 0, its palm towards a camera on the −z side: wrists
/// at y = 0, palm at y = 60, the middle and index middle points at y = 120, tips at y = 160; the
/// palm halfway along the hand, 5 mm off its line. A fixture for this module's tests and
/// [`super::views`]'.
#[cfg(test)]
pub(crate) fn flat() -> Vec<Vec3> {
    let mut h = vec![Vec3::ZERO; 14];
    for (f, x) in [(0, -30.0), (2, -10.0), (4, 10.0), (6, 30.0)] {
        h[f] = Vec3::new(x, 160.0, 0.0);
        h[f + 1] = Vec3::new(x, 120.0, 0.0);
    }
    h[at::THUMB_TIP] = Vec3::new(80.0, 90.0, 0.0);
    h[at::THUMB_MID] = Vec3::new(70.0, 70.0, 0.0);
    h[at::THUMB_BASE] = Vec3::new(50.0, 40.0, 0.0);
    h[at::WRIST_1] = Vec3::new(-15.0, 0.0, 0.0);
    h[at::WRIST_2] = Vec3::new(15.0, 0.0, 0.0);
    h[at::PALM] = Vec3::new(5.0, 60.0, 5.0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_of_a_known_hand() {
        let h = flat();
        assert_eq!(wrists_middle(&h), Vec3::ZERO);
        assert!((palm_along_hand(&h) - 0.5).abs() < 1e-6);
        let index = (30.0f32 * 30.0 + 120.0 * 120.0).sqrt();
        let middle = (10.0f32 * 10.0 + 160.0 * 160.0).sqrt();
        assert!((openness(&h, 4) - middle / index).abs() < 1e-6);
        assert_eq!(distance(&h, at::WRIST_1, at::WRIST_2), 30.0);
        // Rotated, moved and scaled, the ratios stay.
        let m = glam::Mat3::from_rotation_y(0.7) * glam::Mat3::from_rotation_x(-0.4) * 1.3;
        let moved: Vec<Vec3> = h
            .iter()
            .map(|&p| m * p + Vec3::new(5.0, -40.0, 800.0))
            .collect();
        assert!((palm_along_hand(&moved) - 0.5).abs() < 1e-5);
        assert!((openness(&moved, 4) - openness(&h, 4)).abs() < 1e-5);
    }

    #[test]
    fn which_side_the_camera_sees_and_how_the_hand_is_turned() {
        let turned = |m: glam::Mat3| -> Vec<Vec3> {
            flat()
                .iter()
                .map(|&p| m * p + Vec3::new(0.0, 0.0, 800.0))
                .collect()
        };
        // The flat right hand, thumb on the image's right, fingers up: its palm faces the camera.
        let front = turned(glam::Mat3::IDENTITY);
        assert!(palm_facing(&front) > 0.98, "{}", palm_facing(&front));
        let back = turned(glam::Mat3::from_rotation_y(std::f32::consts::PI));
        assert!(palm_facing(&back) < -0.98, "{}", palm_facing(&back));
        let edge = turned(glam::Mat3::from_rotation_y(std::f32::consts::FRAC_PI_2));
        assert!(palm_facing(&edge).abs() < 0.1, "{}", palm_facing(&edge));
        let hands = vec![front.clone(), back, edge.clone(), edge];
        assert_eq!(facing_shares(&hands), [0.25, 0.5, 0.25]);
        // The palm point is 5 mm right of and 5 mm behind the wrists' middle → 60 mm up the
        // hand: a clockwise roll and a lean away of atan(5/60) each.
        let tilt = (5.0f32 / 60.0).atan().to_degrees();
        assert!((roll(&front) + tilt).abs() < 1e-3, "{}", roll(&front));
        assert!((lean(&front) + (5.0 / 60.4f32).asin().to_degrees()).abs() < 0.05);
        // Fingers tilted 30° towards the camera, then rolled 40° anticlockwise.
        let m = glam::Mat3::from_rotation_z(40f32.to_radians())
            * glam::Mat3::from_rotation_x(-30f32.to_radians());
        let mut h = flat();
        h[at::PALM] = Vec3::new(0.0, 60.0, 0.0);
        let h: Vec<Vec3> = h.iter().map(|&p| m * p + Vec3::Z * 800.0).collect();
        assert!((lean(&h) - 30.0).abs() < 1e-3, "{}", lean(&h));
        assert!((roll(&h) - 40.0).abs() < 1e-3, "{}", roll(&h));
    }

    #[test]
    fn quantiles_by_nearest_rank() {
        let v = [5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(
            quantiles(v, &[0.0, 0.5, 1.0, 0.1]),
            vec![1.0, 3.0, 5.0, 1.0]
        );
        assert_eq!(median([7.0]), 7.0);
        assert!(median([]).is_nan());
    }
}
