//! Finding the hand in a frame without annotation: the closest object, refined by its centre of
//! mass inside the hand cube (DeepPrior++'s detector, without its learned refinement).
//!
//! The hand is assumed to be the object nearest the camera, as in NYU and in most demos. The
//! nearest depth is taken robustly (a few stray close readings do not count), the pixels within
//! half a cube behind it give a first centre, and the centre is then moved to the centre of mass
//! of the points inside the cube around it until it settles. The centre of mass of the visible
//! surface lies in front of the palm's centre, so the result is pushed back by
//! [`DetectOptions::surface_offset`].

use glam::{DVec3, Vec3};

use super::depth::DepthMap;
use super::intrinsics::Intrinsics;

/// How the detector looks for the hand.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectOptions {
    /// Readings at or beyond this depth (mm) are background.
    pub far: f32,
    /// The hand cube's side (mm).
    pub cube: f32,
    /// Fewer hand pixels than this means there is no hand.
    pub min_pixels: usize,
    /// Refinement steps at most.
    pub iterations: usize,
    /// How far behind the visible surface's centre of mass the hand's centre is (mm).
    pub surface_offset: f32,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            far: 1500.0,
            cube: 300.0,
            min_pixels: 100,
            iterations: 10,
            surface_offset: 10.0,
        }
    }
}

/// Why no hand was found (the caller adds the frame's name).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct NoHand(pub String);

/// The hand's centre (camera space, mm) in a depth frame.
pub fn detect_hand(
    depth: &DepthMap,
    k: &Intrinsics,
    options: &DetectOptions,
) -> Result<Vec3, NoHand> {
    let far = options.far;
    let valid = depth
        .values()
        .iter()
        .filter(|&&d| d > 0.0 && d < far)
        .count();
    if valid < options.min_pixels {
        return Err(NoHand(format!(
            "only {valid} pixels closer than {far} mm (at least {} needed); is the hand in view and nearer than {far} mm?",
            options.min_pixels
        )));
    }
    let near = robust_nearest(depth, far, (options.min_pixels / 4).max(8));
    let half = options.cube as f64 / 2.0;
    // First centre: everything within half a cube behind the nearest point.
    let mut center = centre_of_mass(depth, k, |p| p.z < near as f64 + half)
        .ok_or_else(|| NoHand("no pixels near the closest depth".into()))?;
    for _ in 0..options.iterations {
        let c = center;
        let inside = |p: DVec3| (p - c).abs().max_element() <= half;
        let Some(next) = centre_of_mass(depth, k, inside) else {
            break;
        };
        let moved = (next - center).length();
        center = next;
        if moved < 0.5 {
            break;
        }
    }
    let count = count_inside(depth, k, center, half);
    if count < options.min_pixels {
        return Err(NoHand(format!(
            "the closest object has only {count} pixels inside a {} mm cube (at least {} needed)",
            options.cube, options.min_pixels
        )));
    }
    center.z += options.surface_offset as f64;
    Ok(center.as_vec3())
}

/// The depth below which at least `count` readings lie: the nearest surface, ignoring a few
/// stray close readings (flying pixels, dust).
fn robust_nearest(depth: &DepthMap, far: f32, count: usize) -> f32 {
    let mut hist = vec![0usize; far.ceil() as usize + 1];
    for &d in depth.values() {
        if d > 0.0 && d < far {
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

/// Mean camera-space position of the readings whose point satisfies `keep`.
fn centre_of_mass(depth: &DepthMap, k: &Intrinsics, keep: impl Fn(DVec3) -> bool) -> Option<DVec3> {
    let (mut sum, mut n) = (DVec3::ZERO, 0usize);
    for_each_point(depth, k, |p| {
        if keep(p) {
            sum += p;
            n += 1;
        }
    });
    (n > 0).then(|| sum / n as f64)
}

fn count_inside(depth: &DepthMap, k: &Intrinsics, center: DVec3, half: f64) -> usize {
    let mut n = 0;
    for_each_point(depth, k, |p| {
        n += usize::from((p - center).abs().max_element() <= half)
    });
    n
}

fn for_each_point(depth: &DepthMap, k: &Intrinsics, mut f: impl FnMut(DVec3)) {
    let w = depth.width();
    for (i, &d) in depth.values().iter().enumerate() {
        if d > 0.0 {
            let (u, v) = ((i % w) as f64, (i / w) as f64);
            f(k.uvd_to_xyz_f64(DVec3::new(u, v, d as f64)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let k = Intrinsics {
            fx: 150.0,
            fy: 150.0,
            cx: 80.0,
            cy: 60.0,
        };
        let options = DetectOptions {
            surface_offset: 0.0,
            ..Default::default()
        };
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
    fn an_all_background_frame_has_no_hand() {
        let k = Intrinsics::NYU;
        let empty = DepthMap::new(64, 48, vec![2000.0; 64 * 48]).unwrap();
        let e = detect_hand(&empty, &k, &DetectOptions::default()).unwrap_err();
        assert!(e.0.contains("only 0 pixels closer than 1500 mm"), "{e}");
        let holes = DepthMap::new(64, 48, vec![0.0; 64 * 48]).unwrap();
        assert!(detect_hand(&holes, &k, &DetectOptions::default()).is_err());
    }
}
