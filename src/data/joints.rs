//! NYU's 36 hand joints: names, the evaluation subset and the location prior.
//!
//! NYU orders the fingers F1..F4 (little, ring, middle, index), then TH (thumb); each has six
//! points from the tip down to the knuckle (`KNU3_A`, `KNU3_B`, `KNU2_A`, `KNU2_B`, `KNU1_A`,
//! `KNU1_B`), then six palm points `PALM_1`..`PALM_6`. Published NYU results use 14 of them.

use glam::Vec3;

/// How many joints NYU annotates.
pub const NUM_JOINTS: usize = 36;

/// The joint the crop is centred on (`PALM_3`); the network predicts the other 35.
pub const PRIOR_JOINT: usize = 32;

/// The 14 joints every published NYU result is scored on, in the results-file order.
pub const EVAL_SUBSET: [usize; 14] = [0, 3, 6, 9, 12, 15, 18, 21, 24, 25, 27, 30, 31, 32];

/// The names NYU's `joint_data.mat` gives the 36 joints, in order.
pub const JOINT_NAMES: [&str; NUM_JOINTS] = [
    "F1_KNU3_A",
    "F1_KNU3_B",
    "F1_KNU2_A",
    "F1_KNU2_B",
    "F1_KNU1_A",
    "F1_KNU1_B", //
    "F2_KNU3_A",
    "F2_KNU3_B",
    "F2_KNU2_A",
    "F2_KNU2_B",
    "F2_KNU1_A",
    "F2_KNU1_B", //
    "F3_KNU3_A",
    "F3_KNU3_B",
    "F3_KNU2_A",
    "F3_KNU2_B",
    "F3_KNU1_A",
    "F3_KNU1_B", //
    "F4_KNU3_A",
    "F4_KNU3_B",
    "F4_KNU2_A",
    "F4_KNU2_B",
    "F4_KNU1_A",
    "F4_KNU1_B", //
    "TH_KNU3_A",
    "TH_KNU3_B",
    "TH_KNU2_A",
    "TH_KNU2_B",
    "TH_KNU1_A",
    "TH_KNU1_B", //
    "PALM_1",
    "PALM_2",
    "PALM_3",
    "PALM_4",
    "PALM_5",
    "PALM_6",
];

/// Readable names of the 14 evaluation joints, in [`EVAL_SUBSET`] order (for tables and plots).
pub const EVAL_JOINT_LABELS: [&str; 14] = [
    "little tip",
    "little mid",
    "ring tip",
    "ring mid",
    "middle tip",
    "middle mid",
    "index tip",
    "index mid",
    "thumb tip",
    "thumb mid",
    "thumb base",
    "wrist 1",
    "wrist 2",
    "palm",
];

/// The bones of the skeleton drawn over a frame, as pairs of joint indices (all 36 joints):
/// each finger's chain from the tip to its knuckle, the knuckle to the palm centre, and the wrist.
pub const BONES: [(usize, usize); 35] = {
    let mut bones = [(0, 0); 35];
    let mut n = 0;
    let mut finger = 0;
    while finger < 5 {
        let base = finger * 6;
        let mut k = 0;
        while k < 5 {
            bones[n] = (base + k, base + k + 1);
            n += 1;
            k += 1;
        }
        bones[n] = (base + 5, PRIOR_JOINT);
        n += 1;
        finger += 1;
    }
    // PALM_1, PALM_2 (wrist) and PALM_4..PALM_6 to the palm centre PALM_3.
    bones[n] = (30, PRIOR_JOINT);
    bones[n + 1] = (31, PRIOR_JOINT);
    bones[n + 2] = (33, PRIOR_JOINT);
    bones[n + 3] = (34, PRIOR_JOINT);
    bones[n + 4] = (35, PRIOR_JOINT);
    bones
};

/// The bones between the 14 evaluation joints (indices into [`EVAL_SUBSET`]), for drawing
/// results files that only have those: tip–mid of each finger, mid to the palm, thumb chain,
/// wrist to the palm.
pub const EVAL_BONES: [(usize, usize); 13] = [
    (0, 1),
    (1, 13),
    (2, 3),
    (3, 13),
    (4, 5),
    (5, 13),
    (6, 7),
    (7, 13),
    (8, 9),
    (9, 10),
    (10, 13),
    (11, 13),
    (12, 13),
];

/// The 36 joints of one hand, in millimetres (camera space, y up) or (u, v, d).
pub type Joints = [Vec3; NUM_JOINTS];

/// Where a set of labels puts the joints annotators place by convention rather than at a joint
/// of the skeleton: `PALM_3`, the crop's centre, and the thumb's `TH_KNU3_B`. A model predicts
/// its training labels' convention, and re-centring a crop on the palm its joints imply
/// ([`crate::data::palm`]) must use the same one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Labels {
    /// NYU's annotators' (and the synthetic generator's second generation): `PALM_3` halfway
    /// from the wrists to the middle finger's PIP, `TH_KNU3_B` 6 mm from the thumb's IP towards
    /// its tip. Real data, and any source that does not say otherwise.
    #[default]
    Nyu,
    /// The synthetic generator's first generation: `PALM_3` the centre of the palm's body (0.39
    /// of the way from the wrists to the middle finger's PIP), `TH_KNU3_B` the thumb's IP.
    /// Every model trained before 2026-12-05, the one bundled until then among them.
    Anatomical,
}

impl Labels {
    /// Every convention.
    pub const ALL: [Labels; 2] = [Labels::Nyu, Labels::Anatomical];

    /// Its name in a weights file's metadata and in `synth.json`.
    pub fn name(self) -> &'static str {
        match self {
            Labels::Nyu => "nyu",
            Labels::Anatomical => "anatomical",
        }
    }

    /// What it means, for the user.
    pub fn describe(self) -> &'static str {
        match self {
            Labels::Nyu => "NYU's convention: PALM_3 halfway from the wrists to the middle PIP",
            Labels::Anatomical => {
                "the synthetic generator's first generation: PALM_3 the palm body's centre, 16 mm nearer the wrist than NYU's"
            }
        }
    }

    /// The convention called `name`.
    pub fn from_name(name: &str) -> Option<Labels> {
        Labels::ALL.into_iter().find(|l| l.name() == name)
    }

    /// The names a file may give, for error messages: `"nyu" or "anatomical"`.
    pub fn expected() -> String {
        let names: Vec<String> = Labels::ALL.map(|l| format!("\"{}\"", l.name())).into();
        names.join(" or ")
    }
}

/// The 14 evaluation joints of a full set, in [`EVAL_SUBSET`] order.
pub fn eval_subset(joints: &Joints) -> [Vec3; 14] {
    EVAL_SUBSET.map(|j| joints[j])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_conventions_by_name() {
        for l in Labels::ALL {
            assert_eq!(Labels::from_name(l.name()), Some(l));
        }
        assert_eq!(Labels::expected(), "\"nyu\" or \"anatomical\"");
        assert_eq!(Labels::from_name("NYU"), None);
    }

    #[test]
    fn subset_and_prior_agree_with_the_names() {
        assert_eq!(JOINT_NAMES[PRIOR_JOINT], "PALM_3");
        let names: Vec<&str> = EVAL_SUBSET.iter().map(|&j| JOINT_NAMES[j]).collect();
        assert_eq!(names[0], "F1_KNU3_A");
        assert_eq!(names[8], "TH_KNU3_A");
        assert_eq!(names[13], "PALM_3");
    }

    #[test]
    fn every_joint_is_on_the_skeleton() {
        let mut seen = [false; NUM_JOINTS];
        for (a, b) in BONES {
            assert_ne!(a, b);
            seen[a] = true;
            seen[b] = true;
        }
        assert!(seen.iter().all(|&s| s), "{seen:?}");
        let mut seen = [false; 14];
        for (a, b) in EVAL_BONES {
            seen[a] = true;
            seen[b] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
