//! Finding the hand in a frame without annotation: the closest object, its far end from where
//! the arm leaves the image, refined by a centre of mass (after DeepPrior++'s detector, without
//! its learned refinement).
//!
//! The hand is assumed to be the object nearest the camera, as in NYU and in most demos. But the
//! forearm is often just as near, and a plain centre of mass of the near pixels lands on the
//! wrist or the arm. So: the nearest depth is taken robustly (a few stray close readings do not
//! count); the closest object is the connected surface (no depth jump over
//! [`DetectOptions::max_step`]) grown from it; where that object touches the image border is
//! where the arm leaves the picture, and the hand is the object's far end from there along the
//! surface (geodesic distance, in mm). The centre is the centre of mass of the points within
//! [`DetectOptions::hand_length`] of that end, moved to the centre of mass of the object's points
//! within [`DetectOptions::radius`] of it until it settles, then pushed back by
//! [`DetectOptions::surface_offset`] since the visible surface lies in front of the palm's centre.
//! An object that does not touch the border (no arm in view) is all hand.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use glam::{DVec3, Vec3};

use super::depth::DepthMap;
use super::intrinsics::Intrinsics;

/// How the detector looks for the hand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    /// Readings at or beyond this depth (mm) are background.
    pub far: f32,
    /// The closest object is looked for within this depth (mm) behind the nearest reading.
    pub band: f32,
    /// Fewer object pixels than this means there is no hand.
    pub min_pixels: usize,
    /// Largest depth step (mm) between neighbouring pixels of one object.
    pub max_step: f32,
    /// How far back from the object's far end the hand reaches, along the surface (mm).
    pub hand_length: f32,
    /// Radius of the centre-of-mass refinement (mm).
    pub radius: f32,
    /// Refinement steps at most.
    pub iterations: usize,
    /// How far behind the visible surface's centre of mass the hand's centre is (mm).
    pub surface_offset: f32,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            far: 1500.0,
            band: 200.0,
            min_pixels: 100,
            max_step: 30.0,
            hand_length: 120.0,
            radius: 80.0,
            iterations: 10,
            surface_offset: 10.0,
        }
    }
}

/// Why no hand was found (the caller adds the frame's name).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NoHand(pub String);

/// How many too-small objects in front of the hand are set aside before giving up.
const MAX_FRAGMENTS: usize = 16;

/// The hand's centre (camera space, mm) in a depth frame.
pub fn detect_hand(
    depth: &DepthMap,
    k: &Intrinsics,
    options: &DetectOptions,
) -> Result<Vec3, NoHand> {
    let far = options.far;
    let values = depth.values();
    let valid = values.iter().filter(|&&d| d > 0.0 && d < far).count();
    if valid < options.min_pixels {
        return Err(NoHand(format!(
            "only {valid} pixels closer than {far} mm (at least {} needed); is the hand in view and nearer than {far} mm?",
            options.min_pixels
        )));
    }
    // The nearest surface may be a fragment too small to be a hand (a fingertip cut off from the
    // hand by its own depth jump, a blob of noise): set it aside and look behind it.
    let mut set_aside = vec![false; values.len()];
    // Readings nearer than `far` not yet set aside (an object may also hold readings between
    // `far` and `far + band`, which `valid` never counted).
    let mut remaining = valid;
    let mut fragments = Vec::new();
    let object = loop {
        let near = robust_nearest(depth, &set_aside, far, (options.min_pixels / 4).max(8));
        let object = closest_object(depth, &set_aside, k, near, options);
        if object.pixels.len() >= options.min_pixels {
            break object;
        }
        fragments.push(format!("{} pixels at {near} mm", object.pixels.len()));
        remaining -= object.pixels.iter().filter(|&&i| values[i] < far).count();
        if fragments.len() == MAX_FRAGMENTS || remaining < options.min_pixels {
            return Err(NoHand(format!(
                "no object of at least {} pixels nearer than {far} mm; the closest were {}",
                options.min_pixels,
                fragments.join(", ")
            )));
        }
        for &i in &object.pixels {
            set_aside[i] = true;
        }
    };
    let reach = object.distance.iter().copied().fold(0.0, f64::max);
    let end = reach - options.hand_length as f64;
    let hand = object
        .points
        .iter()
        .zip(&object.distance)
        .filter(|(_, d)| **d >= end);
    let mut center = mean(hand.map(|(p, _)| *p)).expect("the far end is in the object");
    let radius = options.radius as f64;
    for _ in 0..options.iterations {
        let c = center;
        let near_c = object
            .points
            .iter()
            .copied()
            .filter(|p| p.distance(c) <= radius);
        let Some(next) = mean(near_c) else { break };
        let moved = next.distance(center);
        center = next;
        if moved < 0.5 {
            break;
        }
    }
    center.z += options.surface_offset as f64;
    Ok(center.as_vec3())
}

/// The depth below which at least `count` readings lie: the nearest surface, ignoring a few
/// stray close readings (flying pixels, dust).
fn robust_nearest(depth: &DepthMap, set_aside: &[bool], far: f32, count: usize) -> f32 {
    let mut hist = vec![0usize; far.ceil() as usize + 1];
    for (&d, &aside) in depth.values().iter().zip(set_aside) {
        if !aside && d > 0.0 && d < far {
            hist[d as usize] += 1;
        }
    }
    let mut total = 0;
    for (mm, n) in hist.iter().enumerate() {
        total += n;
        if total >= count {
            return mm as f32;
        }
    }
    far
}

/// The closest object's pixels, their camera-space points, and each one's distance along the
/// surface from where the object leaves the image or the depth band (all 0 when it does not).
struct Object {
    pixels: Vec<usize>,
    points: Vec<DVec3>,
    distance: Vec<f64>,
}

fn closest_object(
    depth: &DepthMap,
    set_aside: &[bool],
    k: &Intrinsics,
    near: f32,
    options: &DetectOptions,
) -> Object {
    let (w, h) = (depth.width(), depth.height());
    let values = depth.values();
    let limit = near + options.band;
    let in_band = |i: usize| !set_aside[i] && values[i] > 0.0 && values[i] < limit;
    let seed = (0..values.len())
        .filter(|&i| in_band(i) && values[i] <= near)
        // The reading nearest the robust depth, not the very nearest: that may be a stray one.
        .max_by(|&a, &b| values[a].total_cmp(&values[b]).then(b.cmp(&a)))
        .expect("at least `count` readings lie at or before the robust nearest depth");
    // Grow the object over neighbours without a depth jump.
    let mut index = vec![usize::MAX; values.len()];
    let mut pixels = vec![seed];
    index[seed] = 0;
    let mut next = 0;
    while next < pixels.len() {
        let i = pixels[next];
        next += 1;
        for j in neighbours(i, w, h) {
            if index[j] == usize::MAX
                && in_band(j)
                && (values[j] - values[i]).abs() <= options.max_step
            {
                index[j] = pixels.len();
                pixels.push(j);
            }
        }
    }
    let point =
        |i: usize| k.uvd_to_xyz_f64(DVec3::new((i % w) as f64, (i / w) as f64, values[i] as f64));
    let points: Vec<DVec3> = pixels.iter().map(|&i| point(i)).collect();
    // Where the object leaves: the image border, or a surface that continues beyond the band
    // (the arm receding towards the body).
    let on_border =
        |i: usize| i.is_multiple_of(w) || i % w == w - 1 || i / w == 0 || i / w == h - 1;
    let recedes = |i: usize| {
        neighbours(i, w, h).any(|j| values[j] >= limit && values[j] - values[i] <= options.max_step)
    };
    let roots: Vec<usize> = (0..pixels.len())
        .filter(|&n| on_border(pixels[n]) || recedes(pixels[n]))
        .collect();
    if roots.is_empty() {
        // Nothing leaves: the whole object is the hand.
        let distance = vec![0.0; pixels.len()];
        return Object {
            pixels,
            points,
            distance,
        };
    }
    // Dijkstra over the object's surface from the roots, in mm.
    let mut distance = vec![f64::INFINITY; pixels.len()];
    let mut heap = BinaryHeap::new();
    for &r in &roots {
        distance[r] = 0.0;
        heap.push(Reverse((Mm(0.0), r)));
    }
    while let Some(Reverse((Mm(d), n))) = heap.pop() {
        if d > distance[n] {
            continue;
        }
        for j in neighbours(pixels[n], w, h) {
            let m = index[j];
            if m == usize::MAX {
                continue;
            }
            let candidate = d + points[n].distance(points[m]);
            if candidate < distance[m] {
                distance[m] = candidate;
                heap.push(Reverse((Mm(candidate), m)));
            }
        }
    }
    Object {
        pixels,
        points,
        distance,
    }
}

/// A distance the heap can order (never NaN: sums of point distances).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Mm(f64);
impl Eq for Mm {}
impl PartialOrd for Mm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Mm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// The 4-neighbours of pixel `i` inside a `w × h` image.
fn neighbours(i: usize, w: usize, h: usize) -> impl Iterator<Item = usize> {
    let (x, y) = (i % w, i / w);
    [
        (x > 0).then(|| i - 1),
        (x + 1 < w).then(|| i + 1),
        (y > 0).then(|| i - w),
        (y + 1 < h).then(|| i + w),
    ]
    .into_iter()
    .flatten()
}

fn mean(points: impl Iterator<Item = DVec3>) -> Option<DVec3> {
    let (sum, n) = points.fold((DVec3::ZERO, 0usize), |(s, n), p| (s + p, n + 1));
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The camera of the 160×120 test frames.
    const CAMERA: Intrinsics = Intrinsics {
        fx: 150.0,
        fy: 150.0,
        cx: 80.0,
        cy: 60.0,
    };

    /// The default options without the push behind the surface, so centres are exact.
    fn exact() -> DetectOptions {
        DetectOptions {
            surface_offset: 0.0,
            ..Default::default()
        }
    }

    /// A 160×120 frame: background at 2000 mm and a 40×40 px square at `z` around (u, v).
    fn frame(u: usize, v: usize, z: f32) -> DepthMap {
        let (w, h): (usize, usize) = (160, 120);
        let mm = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if x.abs_diff(u) < 20 && y.abs_diff(v) < 20 {
                    z
                } else {
                    2000.0
                }
            })
            .collect();
        DepthMap::new(w, h, mm).unwrap()
    }

    #[test]
    fn finds_the_closest_object_and_its_centre() {
        let (k, options) = (CAMERA, exact());
        let c = detect_hand(&frame(100, 40, 600.0), &k, &options).unwrap();
        // The square spans u 81..=119 → mean 100, v 21..=59 → mean 40.
        let expect = k.uvd_to_xyz(Vec3::new(100.0, 40.0, 600.0));
        assert!((c - expect).length() < 0.5, "{c} vs {expect}");
        // A stray close reading elsewhere does not move it.
        let mut mm = frame(100, 40, 600.0).into_values();
        mm[5] = 300.0;
        let c = detect_hand(&DepthMap::new(160, 120, mm).unwrap(), &k, &options).unwrap();
        assert!((c - expect).length() < 0.5, "{c} vs {expect}");
    }

    #[test]
    fn the_hand_is_the_far_end_of_an_arm_leaving_the_image() {
        // A 10 px wide "arm" from the left border at 620 mm to a 30×30 px "hand" at 600 mm:
        // the hand is the object's far end from where it leaves the image.
        let (w, h): (usize, usize) = (160, 120);
        let mm: Vec<f32> = (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                if (105..135).contains(&x) && (45..75).contains(&y) {
                    600.0
                } else if x < 105 && (55..65).contains(&y) {
                    620.0
                } else {
                    2000.0
                }
            })
            .collect();
        let (k, options) = (CAMERA, exact());
        let c = detect_hand(&DepthMap::new(w, h, mm).unwrap(), &k, &options).unwrap();
        let hand = k.uvd_to_xyz(Vec3::new(119.5, 59.5, 600.0));
        assert!((c - hand).length() < 15.0, "{c} vs {hand}");
    }

    #[test]
    fn a_fragment_in_front_of_the_hand_is_set_aside() {
        let (k, options) = (CAMERA, exact());
        // A 7×7 px blob (49 pixels, too small for a hand) 100 mm in front of the square.
        let mut mm = frame(100, 40, 600.0).into_values();
        for y in 80..87 {
            for x in 30..37 {
                mm[y * 160 + x] = 500.0;
            }
        }
        let c = detect_hand(&DepthMap::new(160, 120, mm.clone()).unwrap(), &k, &options).unwrap();
        let expect = k.uvd_to_xyz(Vec3::new(100.0, 40.0, 600.0));
        assert!((c - expect).length() < 0.5, "{c} vs {expect}");
        // With only fragments (49 pixels, then 80 behind it), the error names them.
        let only: Vec<f32> = (0..mm.len())
            .map(|i| match (i % 160, i / 160) {
                (30..37, 80..87) => 500.0,
                (100..110, 80..88) => 700.0,
                _ => 2000.0,
            })
            .collect();
        let e = detect_hand(&DepthMap::new(160, 120, only).unwrap(), &k, &options).unwrap_err();
        assert!(e.0.contains("the closest were 49 pixels at 500 mm"), "{e}");
    }

    /// A fragment that runs on past the far limit (25 readings nearer, 74 beyond) does not
    /// use up the readings left to find the hand behind it: only the nearer ones count.
    #[test]
    fn a_fragment_reaching_past_the_far_limit_leaves_the_hand_findable() {
        let mm: Vec<f32> = (0..160 * 120)
            .map(|i| match (i % 160, i / 160) {
                (100..110, 40..50) => 1495.0,
                (20..25, 80..85) => 1480.0,
                (20..57, 85..87) => 1505.0,
                _ => 2000.0,
            })
            .collect();
        let c = detect_hand(&DepthMap::new(160, 120, mm).unwrap(), &CAMERA, &exact()).unwrap();
        let expect = CAMERA.uvd_to_xyz(Vec3::new(104.5, 44.5, 1495.0));
        assert!((c - expect).length() < 0.5, "{c} vs {expect}");
    }

    /// A synthetic hand whose fingertip, pointing at the camera, is cut off from the rest by a
    /// depth jump: the detector once stopped at the fingertip and found no hand.
    #[test]
    fn a_synthetic_hand_with_a_fingertip_cut_off_is_found() {
        let options = crate::data::synth::SynthOptions::default();
        let frame = crate::data::synth::generate(77, 23, &options);
        let k = Intrinsics::NYU;
        let c = detect_hand(&frame.depth, &k, &DetectOptions::default()).unwrap();
        // This hand points at the camera, so the detection lands nearer its fingers than its
        // palm (about 100 mm from PALM_3); what matters is that the crop it gives, a 300 mm
        // cube, holds the whole hand.
        for (i, j) in frame.joints_xyz.iter().enumerate() {
            let off = (*j - c).abs().max_element();
            assert!(
                off < 150.0,
                "joint {i} at {j} is {off} mm from the centre {c}"
            );
        }
    }

    #[test]
    fn an_all_background_frame_has_no_hand() {
        let k = Intrinsics::NYU;
        let empty = DepthMap::new(64, 48, vec![2000.0; 64 * 48]).unwrap();
        let e = detect_hand(&empty, &k, &DetectOptions::default()).unwrap_err();
        assert!(e.0.contains("only 0 pixels closer than 1500 mm"), "{e}");
        let holes = DepthMap::new(64, 48, vec![0.0; 64 * 48]).unwrap();
        assert!(detect_hand(&holes, &k, &DetectOptions::default()).is_err());
    }
}
