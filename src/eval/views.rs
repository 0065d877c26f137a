//! The mean error over the frames of each view: those showing the camera the hand's palm, an
//! edge or its back ([`View`], from the ground truth's wrist and palm points).
//!
//! Why: a training set that rarely shows a hand edge-on gives a model that cannot read one, and
//! the overall mean hides it when such frames are few (the generator's second generation never
//! drew one; NYU's test subjects show an edge in one frame of seven). Set beside the overall
//! mean, the views say where a model fails and whether a method's gain is everywhere.

use glam::Vec3;
use serde::Serialize;

use super::metrics::frame_errors;
use super::proportions::View;
use super::results::{Coords, Frame};
use crate::data::Intrinsics;
use crate::data::joints::{EVAL_SUBSET, NUM_JOINTS};

/// The mean error over the frames of one view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ViewMean {
    /// Which side of the hand the camera sees.
    pub view: View,
    /// Frames showing it.
    pub frames: usize,
    /// Their mean joint error (mm); `None` when no frame shows it.
    pub mean: Option<f64>,
}

/// The view of each ground-truth frame; `None` when its joints are neither NYU's 14 evaluation
/// joints nor all 36 (no wrist and palm points to tell the view by).
pub fn views(gt: &[Frame], coords: Coords, k: &Intrinsics) -> Option<Vec<View>> {
    let pick: Vec<usize> = match gt.first()?.len() {
        14 => (0..14).collect(),
        NUM_JOINTS => EVAL_SUBSET.to_vec(),
        _ => return None,
    };
    gt.iter()
        .map(|frame| {
            let hand = pick
                .iter()
                .map(|&j| {
                    let p = *frame.get(j)?;
                    Some(match coords {
                        Coords::Uvd => k.uvd_to_xyz_f64(p),
                        Coords::Xyz => p,
                    })
                    .map(|p| p.as_vec3())
                })
                .collect::<Option<Vec<Vec3>>>()?;
            Some(View::of(&hand))
        })
        .collect()
}

/// The mean error of `pred` over the frames of each view of `gt` ([`View::ALL`]'s order);
/// `None` where [`views`] is. The frames must pair up (the caller checks the counts).
pub fn by_view(
    gt: &[Frame],
    pred: &[Frame],
    coords: Coords,
    k: &Intrinsics,
) -> Option<Vec<ViewMean>> {
    let views = views(gt, coords, k)?;
    Some(
        View::ALL
            .iter()
            .map(|&view| {
                let (mut sum, mut joints, mut frames) = (0.0, 0usize, 0usize);
                for ((g, p), _) in gt.iter().zip(pred).zip(&views).filter(|(_, v)| **v == view) {
                    let errors = frame_errors(g, p, coords, k);
                    sum += errors.iter().sum::<f64>();
                    joints += errors.len();
                    frames += 1;
                }
                ViewMean {
                    view,
                    frames,
                    mean: (joints > 0).then(|| sum / joints as f64),
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::proportions::flat;
    use glam::{DVec3, Mat3};

    /// [`flat`]'s right hand 800 mm away, turned `yaw` about its long axis (0: the palm towards
    /// the camera), as 14 evaluation joints in xyz.
    fn hand(yaw: f32) -> Frame {
        let m = Mat3::from_rotation_y(yaw.to_radians());
        flat()
            .iter()
            .map(|&p| (m * p + Vec3::Z * 800.0).as_dvec3())
            .collect()
    }

    #[test]
    fn frames_are_grouped_by_the_side_the_camera_sees() {
        let k = Intrinsics::NYU_EVAL;
        let gt = vec![hand(10.0), hand(95.0), hand(170.0), hand(-20.0)];
        // Each prediction is off by a known amount on every joint.
        let off = [1.0, 4.0, 8.0, 3.0];
        let pred: Vec<Frame> = gt
            .iter()
            .zip(off)
            .map(|(f, d)| f.iter().map(|p| *p + DVec3::X * d).collect())
            .collect();
        let got = by_view(&gt, &pred, Coords::Xyz, &k).unwrap();
        let want = [
            (View::Palm, 2, 2.0),
            (View::Edge, 1, 4.0),
            (View::Back, 1, 8.0),
        ];
        for (g, (view, frames, mean)) in got.iter().zip(want) {
            assert_eq!((g.view, g.frames), (view, frames));
            assert!((g.mean.unwrap() - mean).abs() < 1e-9, "{g:?}");
        }
        // The same frames as u v d give the same views; all 36 joints too.
        let uvd: Vec<Frame> = gt
            .iter()
            .map(|f| f.iter().map(|&p| k.xyz_to_uvd_f64(p)).collect())
            .collect();
        assert_eq!(views(&uvd, Coords::Uvd, &k), views(&gt, Coords::Xyz, &k));
        let full: Vec<Frame> = gt
            .iter()
            .map(|f| {
                let mut all = vec![DVec3::ZERO; NUM_JOINTS];
                for (i, &j) in EVAL_SUBSET.iter().enumerate() {
                    all[j] = f[i];
                }
                all
            })
            .collect();
        assert_eq!(views(&full, Coords::Xyz, &k), views(&gt, Coords::Xyz, &k));
        // No view shown: no mean. Another layout: no views at all.
        let palms = by_view(&gt[..1], &pred[..1], Coords::Xyz, &k).unwrap();
        assert_eq!((palms[1].frames, palms[1].mean), (0, None));
        let short: Vec<Frame> = gt.iter().map(|f| f[..5].to_vec()).collect();
        assert_eq!(views(&short, Coords::Xyz, &k), None);
    }
}
