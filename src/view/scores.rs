//! Errors as the field reports them: per joint in millimetres over the 14 NYU evaluation joints,
//! per frame (mean and worst), and over the frames of the sequence seen so far (mean, per joint,
//! success-rate curve), for our prediction and each loaded method alike.

use std::collections::BTreeMap;

use glam::{DVec3, Vec3};

use crate::data::intrinsics::Intrinsics;
use crate::eval::metrics::{Accumulator, Report, frame_errors};
use crate::eval::results::Coords;

/// One frame's joint errors (mm), 14 evaluation joints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameScore {
    /// Per joint, in evaluation order.
    pub errors: [f64; 14],
}

impl FrameScore {
    /// Scores predicted against annotated evaluation joints, both (u, v, d), in camera space.
    pub fn new(gt_uvd: &[Vec3; 14], pred_uvd: &[Vec3; 14], k: &Intrinsics) -> FrameScore {
        let gt: Vec<DVec3> = gt_uvd.iter().map(|p| p.as_dvec3()).collect();
        let pred: Vec<DVec3> = pred_uvd.iter().map(|p| p.as_dvec3()).collect();
        let e = frame_errors(&gt, &pred, Coords::Uvd, k);
        FrameScore {
            errors: std::array::from_fn(|j| e[j]),
        }
    }

    /// The mean joint error.
    pub fn mean(&self) -> f64 {
        self.errors.iter().sum::<f64>() / 14.0
    }

    /// The worst joint and its error.
    pub fn worst(&self) -> (usize, f64) {
        self.errors
            .iter()
            .copied()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |a, b| if b.1 > a.1 { b } else { a })
    }
}

/// The scores of the frames seen so far, each frame counted once however often it is shown.
#[derive(Debug, Clone, Default)]
pub struct SequenceScores {
    frames: BTreeMap<usize, FrameScore>,
    report: Option<Report>,
    stale: bool,
}

impl SequenceScores {
    /// Records frame `index`'s score (replacing an earlier one, e.g. after a weights change).
    pub fn insert(&mut self, index: usize, score: FrameScore) {
        if self.frames.insert(index, score) != Some(score) {
            self.stale = true;
        }
    }

    /// Frame `index`'s score, if seen.
    pub fn get(&self, index: usize) -> Option<&FrameScore> {
        self.frames.get(&index)
    }

    /// The frames scored, ascending.
    pub fn indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.frames.keys().copied()
    }

    /// Frames scored so far.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Whether no frame is scored yet.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Forgets every frame (new weights, new sequence).
    pub fn clear(&mut self) {
        *self = SequenceScores::default();
    }

    /// The metrics over the frames seen so far; recomputed only after a change.
    pub fn report(&mut self) -> Option<&Report> {
        if self.stale || (self.report.is_none() && !self.frames.is_empty()) {
            let mut acc = Accumulator::new(14, &[]);
            for score in self.frames.values() {
                acc.add(&score.errors)
                    .expect("a frame score has 14 joint errors");
            }
            self.report = acc.report();
            self.stale = false;
        }
        self.report.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joints(offset: f32) -> [Vec3; 14] {
        std::array::from_fn(|j| Vec3::new(300.0 + 10.0 * j as f32 + offset, 240.0, 600.0))
    }

    #[test]
    fn frame_score_is_the_camera_space_distance() {
        let k = Intrinsics::NYU;
        let gt = joints(0.0);
        let mut pred = gt;
        pred[3].z += 12.0;
        let s = FrameScore::new(&gt, &pred, &k);
        // Moving the depth of a joint also moves its x and y (they scale with depth).
        let a = k.uvd_to_xyz(gt[3]);
        let b = k.uvd_to_xyz(pred[3]);
        assert!((s.errors[3] - f64::from(a.distance(b))).abs() < 1e-3);
        assert_eq!(s.worst().0, 3);
        assert!((s.mean() - s.errors[3] / 14.0).abs() < 1e-9);
    }

    #[test]
    fn a_frame_seen_twice_counts_once() {
        let mut seq = SequenceScores::default();
        let one = FrameScore { errors: [10.0; 14] };
        let two = FrameScore { errors: [30.0; 14] };
        seq.insert(4, one);
        seq.insert(9, two);
        seq.insert(4, one);
        assert_eq!(seq.len(), 2);
        let r = seq.report().unwrap();
        assert_eq!(r.frames, 2);
        assert!((r.mean - 20.0).abs() < 1e-9);
        // Half the frames have every joint within 10 mm.
        assert!((r.success_at(10.0) - 0.5).abs() < 1e-9);
        seq.insert(9, one);
        assert!((seq.report().unwrap().mean - 10.0).abs() < 1e-9);
        seq.clear();
        assert!(seq.report().is_none());
    }
}
