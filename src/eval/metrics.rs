//! The field's hand-pose metrics (DESIGN §2).
//!
//! The error of a joint is the Euclidean distance in millimetres between prediction and ground
//! truth after both are taken to camera space (uvd → xyz with the evaluation intrinsics). From
//! those: the mean over all frames and joints, the mean of each joint, the mean over frame
//! ranges (NYU's two test subjects), and the success rate — the fraction of frames whose
//! *largest* joint error is within a threshold — for every whole millimetre from 0 to 80.
//!
//! Everything is built on an incremental [`Accumulator`]: the batch [`evaluate`] feeds it every
//! frame, and a viewer can feed it one frame at a time and show the report so far. All sums are
//! f64: 115,528 joint errors summed in f32 would lose the third decimal the published figures
//! are quoted to.

use std::ops::RangeInclusive;

use glam::DVec3;
use serde::Serialize;

use super::results::{Coords, Frame};
use crate::data::Intrinsics;

/// Largest success-rate threshold, in millimetres (the curve is t = 0, 1, …, 80).
pub const SUCCESS_MAX_MM: usize = 80;

/// NYU's test subjects: frames 1–2440 are one person, 2441–8252 another. As split points:
/// the 0-based index of the first frame of every subject after the first.
pub const NYU_SUBJECT_SPLITS: [usize; 1] = [2440];

/// Frames in NYU's test set.
pub const NYU_TEST_FRAMES: usize = 8252;

/// The split points [`evaluate`] uses when given none: NYU's subjects for a file of exactly
/// [`NYU_TEST_FRAMES`] frames, none otherwise (any other count is not the NYU test set).
pub fn default_splits(frames: usize) -> Vec<usize> {
    if frames == NYU_TEST_FRAMES {
        NYU_SUBJECT_SPLITS.to_vec()
    } else {
        Vec::new()
    }
}

/// Why predictions could not be scored against the ground truth.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// Different numbers of frames.
    #[error("{pred} predicted frames for {gt} ground-truth frames")]
    FrameCount {
        /// Ground-truth frames.
        gt: usize,
        /// Predicted frames.
        pred: usize,
    },
    /// A frame whose joint count is not the evaluation's.
    #[error("frame {frame} (1-based) has {found} joints; expected {expected}")]
    JointCount {
        /// 1-based frame number.
        frame: usize,
        /// Joints expected.
        expected: usize,
        /// Joints found.
        found: usize,
    },
    /// Nothing to score.
    #[error("no frames to evaluate")]
    NoFrames,
}

/// The mean error over a range of frames.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subset {
    /// First frame, 1-based (as NYU numbers its files).
    pub first: usize,
    /// Last frame, 1-based, inclusive.
    pub last: usize,
    /// Mean joint error over these frames, millimetres.
    pub mean: f64,
}

impl Subset {
    /// The frames as a 1-based inclusive range.
    pub fn range(&self) -> RangeInclusive<usize> {
        self.first..=self.last
    }
}

/// The metrics of one set of predictions. Serializes to the JSON `hourhand eval --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Frames scored.
    pub frames: usize,
    /// Joints per frame.
    pub joints: usize,
    /// Mean joint error over all frames and joints, millimetres.
    pub mean: f64,
    /// Mean error of each joint over all frames, millimetres, in file joint order.
    pub per_joint: Vec<f64>,
    /// Mean error over each frame range between split points (empty without split points).
    pub subsets: Vec<Subset>,
    /// Fraction of frames whose largest joint error is ≤ t mm, for t = 0, 1, …, 80.
    pub success_curve: Vec<f64>,
    /// Mean over frames of each frame's largest joint error, millimetres.
    pub worst_joint_mean: f64,
    /// Median of all joint errors (every frame, every joint), millimetres.
    pub median: f64,
    /// Every frame's largest joint error, ascending: answers [`Report::success_at`] exactly for
    /// any threshold. Not serialized (8,252 numbers nobody reads).
    #[serde(skip)]
    sorted_max: Vec<f64>,
}

impl Report {
    /// Fraction of frames whose largest joint error is ≤ `t` millimetres, for any `t`.
    pub fn success_at(&self, t: f64) -> f64 {
        self.sorted_max.partition_point(|&e| e <= t) as f64 / self.frames as f64
    }
}

/// The errors of one frame: the distance in millimetres between each ground-truth joint and
/// its prediction, after uvd → xyz with `k` when the coordinates are uvd. Joints are paired in
/// order; the caller checks the counts match ([`Accumulator::add`] does).
pub fn frame_errors(gt: &[DVec3], pred: &[DVec3], coords: Coords, k: &Intrinsics) -> Vec<f64> {
    gt.iter()
        .zip(pred)
        .map(|(&g, &p)| match coords {
            Coords::Uvd => k.uvd_to_xyz_f64(g).distance(k.uvd_to_xyz_f64(p)),
            Coords::Xyz => g.distance(p),
        })
        .collect()
}

/// Running sums of the metrics, one frame at a time.
#[derive(Debug, Clone)]
pub struct Accumulator {
    joints: usize,
    splits: Vec<usize>,
    sum: f64,
    per_joint_sum: Vec<f64>,
    /// Sum of the joint errors of each frame: subset means are sums over ranges of these.
    frame_sums: Vec<f64>,
    /// Largest joint error of each frame.
    frame_max: Vec<f64>,
    /// Every joint error, for the median.
    errors: Vec<f64>,
}

impl Accumulator {
    /// An empty accumulator for frames of `joints` joints; `splits` are the 0-based indices of
    /// the frames that start a new subset (e.g. [`NYU_SUBJECT_SPLITS`]), ascending.
    pub fn new(joints: usize, splits: &[usize]) -> Self {
        let mut splits: Vec<usize> = splits.iter().copied().filter(|&s| s > 0).collect();
        splits.sort_unstable();
        splits.dedup();
        Self {
            joints,
            splits,
            sum: 0.0,
            per_joint_sum: vec![0.0; joints],
            frame_sums: Vec::new(),
            frame_max: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// Frames added so far.
    pub fn frames(&self) -> usize {
        self.frame_sums.len()
    }

    /// Adds one frame's joint errors (millimetres, one per joint, see [`frame_errors`]).
    pub fn add(&mut self, errors: &[f64]) -> Result<(), MetricsError> {
        if errors.len() != self.joints {
            return Err(MetricsError::JointCount {
                frame: self.frames() + 1,
                expected: self.joints,
                found: errors.len(),
            });
        }
        let frame_sum: f64 = errors.iter().sum();
        self.sum += frame_sum;
        for (s, e) in self.per_joint_sum.iter_mut().zip(errors) {
            *s += e;
        }
        self.frame_sums.push(frame_sum);
        self.frame_max
            .push(errors.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        self.errors.extend_from_slice(errors);
        Ok(())
    }

    /// Scores one frame of ground truth and predictions and adds it.
    pub fn add_frame(
        &mut self,
        gt: &[DVec3],
        pred: &[DVec3],
        coords: Coords,
        k: &Intrinsics,
    ) -> Result<(), MetricsError> {
        for found in [gt.len(), pred.len()] {
            if found != self.joints {
                return Err(MetricsError::JointCount {
                    frame: self.frames() + 1,
                    expected: self.joints,
                    found,
                });
            }
        }
        self.add(&frame_errors(gt, pred, coords, k))
    }

    /// The metrics of the frames added so far; `None` before the first frame. Subsets cover
    /// the split ranges reached so far, the last one up to the latest frame.
    pub fn report(&self) -> Option<Report> {
        let frames = self.frames();
        if frames == 0 {
            return None;
        }
        let n = (frames * self.joints) as f64;
        let mut sorted_max = self.frame_max.clone();
        sorted_max.sort_unstable_by(f64::total_cmp);

        let mut subsets = Vec::new();
        if !self.splits.is_empty() {
            let bounds = std::iter::once(0)
                .chain(self.splits.iter().copied().filter(|&s| s < frames))
                .chain(std::iter::once(frames))
                .collect::<Vec<_>>();
            for w in bounds.windows(2) {
                let sum: f64 = self.frame_sums[w[0]..w[1]].iter().sum();
                subsets.push(Subset {
                    first: w[0] + 1,
                    last: w[1],
                    mean: sum / ((w[1] - w[0]) * self.joints) as f64,
                });
            }
        }

        let mut report = Report {
            frames,
            joints: self.joints,
            mean: self.sum / n,
            per_joint: self
                .per_joint_sum
                .iter()
                .map(|s| s / frames as f64)
                .collect(),
            subsets,
            success_curve: Vec::new(),
            worst_joint_mean: self.frame_max.iter().sum::<f64>() / frames as f64,
            median: median(&self.errors),
            sorted_max,
        };
        report.success_curve = (0..=SUCCESS_MAX_MM)
            .map(|t| report.success_at(t as f64))
            .collect();
        Some(report)
    }
}

/// The median of a non-empty list (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    let mid = v.len() / 2;
    let (below, &mut upper, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    if values.len() % 2 == 1 {
        upper
    } else {
        let lower = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// Scores predictions against ground truth, frame by frame in order. `splits` are the subset
/// split points; `None` uses [`default_splits`] (NYU's subjects for 8,252 frames).
pub fn evaluate(
    gt: &[Frame],
    pred: &[Frame],
    coords: Coords,
    k: &Intrinsics,
    splits: Option<&[usize]>,
) -> Result<Report, MetricsError> {
    if gt.len() != pred.len() {
        return Err(MetricsError::FrameCount {
            gt: gt.len(),
            pred: pred.len(),
        });
    }
    let joints = gt.first().ok_or(MetricsError::NoFrames)?.len();
    let splits = splits.map_or_else(|| default_splits(gt.len()), <[usize]>::to_vec);
    let mut acc = Accumulator::new(joints, &splits);
    for (g, p) in gt.iter().zip(pred) {
        acc.add_frame(g, p, coords, k)?;
    }
    Ok(acc.report().expect("at least one frame was added"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: Intrinsics = Intrinsics::NYU_EVAL;

    /// A uvd frame whose xyz joints are `xyz` (so tests can reason in millimetres).
    fn uvd(xyz: &[DVec3]) -> Frame {
        xyz.iter().map(|&p| K.xyz_to_uvd_f64(p)).collect()
    }

    #[test]
    fn an_offset_of_3_4_0_mm_is_a_5_mm_error() {
        let gt = [
            DVec3::new(10.0, -20.0, 700.0),
            DVec3::new(-35.0, 5.0, 812.5),
        ];
        let pred: Vec<DVec3> = gt.iter().map(|&p| p + DVec3::new(3.0, 4.0, 0.0)).collect();
        let e = frame_errors(&uvd(&gt), &uvd(&pred), Coords::Uvd, &K);
        for e in e {
            assert!((e - 5.0).abs() < 1e-9, "{e}");
        }
        // A pure depth error is the same in uvd and xyz when u, v sit on the principal point.
        let g = DVec3::new(320.0, 240.0, 500.0);
        let e = frame_errors(&[g], &[g + DVec3::new(0.0, 0.0, 12.0)], Coords::Uvd, &K);
        assert!((e[0] - 12.0).abs() < 1e-12);
        let e = frame_errors(
            &[DVec3::ZERO],
            &[DVec3::new(1.0, 2.0, 2.0)],
            Coords::Xyz,
            &K,
        );
        assert_eq!(e, vec![3.0]);
    }

    #[test]
    fn hand_computed_report() {
        // Three frames of two joints with errors chosen by hand:
        //   frame 1: 5, 1   (max 5)
        //   frame 2: 10, 30 (max 30)
        //   frame 3: 0, 2   (max 2)
        let mut acc = Accumulator::new(2, &[1]);
        assert!(acc.report().is_none());
        for e in [[5.0, 1.0], [10.0, 30.0], [0.0, 2.0]] {
            acc.add(&e).unwrap();
        }
        let r = acc.report().unwrap();
        assert_eq!(r.frames, 3);
        assert!((r.mean - 48.0 / 6.0).abs() < 1e-12);
        assert_eq!(r.per_joint, vec![5.0, 11.0]);
        assert!((r.worst_joint_mean - 37.0 / 3.0).abs() < 1e-12);
        // Errors sorted: 0 1 2 5 10 30 → median (2 + 5) / 2.
        assert_eq!(r.median, 3.5);
        assert_eq!(
            r.subsets,
            vec![
                Subset {
                    first: 1,
                    last: 1,
                    mean: 3.0
                },
                Subset {
                    first: 2,
                    last: 3,
                    mean: 10.5
                },
            ]
        );
        // The curve steps to 1/3 at 2 mm, 2/3 at 5 mm and 1 at 30 mm, thresholds inclusive.
        let c = &r.success_curve;
        assert_eq!(c.len(), 81);
        assert_eq!((c[0], c[1]), (0.0, 0.0));
        assert_eq!((c[2], c[4]), (1.0 / 3.0, 1.0 / 3.0));
        assert_eq!((c[5], c[29]), (2.0 / 3.0, 2.0 / 3.0));
        assert_eq!((c[30], c[80]), (1.0, 1.0));
        assert_eq!(r.success_at(4.999), 1.0 / 3.0);
        assert_eq!(r.success_at(29.5), 2.0 / 3.0);

        assert!(matches!(
            acc.add(&[1.0]),
            Err(MetricsError::JointCount {
                frame: 4,
                expected: 2,
                found: 1
            })
        ));
    }

    #[test]
    fn subsets_grow_with_the_frames_seen() {
        let mut acc = Accumulator::new(1, &[2, 4]);
        acc.add(&[1.0]).unwrap();
        let r = acc.report().unwrap();
        assert_eq!(
            r.subsets,
            vec![Subset {
                first: 1,
                last: 1,
                mean: 1.0
            }]
        );
        for e in [3.0, 5.0] {
            acc.add(&[e]).unwrap();
        }
        let r = acc.report().unwrap();
        assert_eq!(
            r.subsets,
            vec![
                Subset {
                    first: 1,
                    last: 2,
                    mean: 2.0
                },
                Subset {
                    first: 3,
                    last: 3,
                    mean: 5.0
                },
            ]
        );
        assert_eq!(r.subsets[1].range(), 3..=3);
    }

    #[test]
    fn batch_evaluation_checks_counts_and_defaults_to_nyu_subjects() {
        let frame = |dz: f64| uvd(&[DVec3::new(0.0, 0.0, 600.0 + dz)]);
        let gt = vec![frame(0.0); 3];
        let pred = vec![frame(0.0), frame(4.0), frame(-8.0)];
        let r = evaluate(&gt, &pred, Coords::Uvd, &K, None).unwrap();
        assert!((r.mean - 4.0).abs() < 1e-9);
        assert!(r.subsets.is_empty(), "3 frames are not the NYU test set");
        let r = evaluate(&gt, &pred, Coords::Uvd, &K, Some(&[2])).unwrap();
        assert!((r.subsets[1].mean - 8.0).abs() < 1e-9);

        let gt = vec![frame(0.0); NYU_TEST_FRAMES];
        let r = evaluate(&gt, &gt, Coords::Uvd, &K, None).unwrap();
        assert_eq!(r.subsets.len(), 2);
        assert_eq!((r.subsets[1].first, r.subsets[1].last), (2441, 8252));
        assert_eq!(r.success_at(0.0), 1.0);

        assert_eq!(
            evaluate(&gt[..2], &gt[..1], Coords::Uvd, &K, None).unwrap_err(),
            MetricsError::FrameCount { gt: 2, pred: 1 }
        );
        assert_eq!(
            evaluate(&[], &[], Coords::Uvd, &K, None).unwrap_err(),
            MetricsError::NoFrames
        );
        let two = vec![uvd(&[DVec3::new(0.0, 0.0, 600.0); 2])];
        assert!(matches!(
            evaluate(&gt[..1], &two, Coords::Uvd, &K, None),
            Err(MetricsError::JointCount {
                frame: 1,
                expected: 1,
                found: 2
            })
        ));
    }
}
