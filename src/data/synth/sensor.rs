//! A Kinect-v1-like (structured light) depth sensor applied to a clean rendered depth buffer.
//!
//! In order:
//! 1. **Projector shadow.** The IR projector sits [`BASELINE_MM`] to the side of the camera, so
//!    the background just beside a near object's right edge is lit by no dot and has no
//!    reading. Along each row a surface point lands at projector column `u + f·b/z`; a pixel is
//!    shadowed when a pixel to its left lands further right in the projector (it occludes it).
//! 2. **Edge dropout.** Pixels at a depth discontinuity (a 4-neighbour more than
//!    `max(10 mm, 2 %)` away) lose their reading with probability 0.6: the dot pattern
//!    straddles two surfaces there and the correlation fails, giving the ragged silhouettes of
//!    real frames.
//! 3. **Holes.** A few random blobs (radius 1–4 px) anywhere and up to three small ones on the
//!    hand (`labels`), as specular spots and dropped blocks leave.
//! 4. **Noise and quantization.** Gaussian noise of σ = 0.5 mm + 1e-6·z² (≈ 1.1 mm at 0.8 m),
//!    then quantization in disparity: the depth steps are `z²/C` with `C` = 1/2.85e-6, as the
//!    Kinect's 1/8-pixel disparity steps give, then rounding to whole millimetres.
//! 5. **Range.** No reading nearer than 400 mm or beyond 4000 mm.

use rand::Rng;

use crate::data::Intrinsics;

/// Camera–projector baseline (Kinect v1: 75 mm).
pub const BASELINE_MM: f64 = 75.0;
/// Depth step per z² (Kinect v1): step ≈ 2.85e-6·z² mm, z in mm.
pub const STEP_PER_Z2: f64 = 2.85e-6;
/// Nearest reading (mm).
pub const MIN_RANGE_MM: f32 = 400.0;
/// Farthest reading (mm).
pub const MAX_RANGE_MM: f32 = 4000.0;

/// The depth one sensor reading reports for a true depth `z` plus `noise` mm: quantized in
/// disparity, then to whole millimetres; 0 out of range.
pub fn quantize(z: f32, noise: f32) -> f32 {
    let z = z + noise;
    if !(MIN_RANGE_MM..=MAX_RANGE_MM).contains(&z) {
        return 0.0;
    }
    let c = 1.0 / STEP_PER_Z2;
    let disparity = (c / z as f64).round();
    (c / disparity).round() as f32
}

/// Applies the sensor to `clean` (z in mm, ∞ for no surface): returns millimetres, 0 where
/// the sensor has no reading. `labels` marks hand pixels (non-zero).
pub fn apply(
    rng: &mut impl Rng,
    clean: &[f32],
    labels: &[u8],
    k: &Intrinsics,
    width: usize,
    height: usize,
) -> Vec<f32> {
    let mut valid: Vec<bool> = clean.iter().map(|z| z.is_finite()).collect();

    let fb = k.fx * BASELINE_MM;
    for v in 0..height {
        let row = &clean[v * width..(v + 1) * width];
        let mut reach = f64::MIN;
        for (u, &z) in row.iter().enumerate() {
            if !z.is_finite() {
                continue;
            }
            let up = u as f64 + fb / z as f64;
            if up < reach - 0.25 {
                valid[v * width + u] = false;
            }
            reach = reach.max(up);
        }
    }

    let jump = |a: f32, b: f32| (a - b).abs() > (0.02 * a.min(b)).max(10.0);
    let mut edge = vec![false; clean.len()];
    for v in 0..height {
        for u in 0..width {
            let i = v * width + u;
            let z = clean[i];
            let right = u + 1 < width && jump(z, clean[i + 1]);
            let down = v + 1 < height && jump(z, clean[i + width]);
            if right {
                edge[i] = true;
                edge[i + 1] = true;
            }
            if down {
                edge[i] = true;
                edge[i + width] = true;
            }
        }
    }
    for (ok, &e) in valid.iter_mut().zip(&edge) {
        if e && rng.random_bool(0.6) {
            *ok = false;
        }
    }

    let punch = |valid: &mut [bool], cu: usize, cv: usize, r: i64| {
        for dv in -r..=r {
            for du in -r..=r {
                let (u, v) = (cu as i64 + du, cv as i64 + dv);
                if du * du + dv * dv <= r * r
                    && u >= 0
                    && v >= 0
                    && (u as usize) < width
                    && (v as usize) < height
                {
                    valid[v as usize * width + u as usize] = false;
                }
            }
        }
    };
    for _ in 0..rng.random_range(0..8) {
        let (u, v, r) = (
            rng.random_range(0..width),
            rng.random_range(0..height),
            rng.random_range(1..=4),
        );
        punch(&mut valid, u, v, r);
    }
    let hand: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] != 0).collect();
    if !hand.is_empty() {
        for _ in 0..rng.random_range(0..=3) {
            let i = hand[rng.random_range(0..hand.len())];
            punch(&mut valid, i % width, i / width, rng.random_range(1..=2));
        }
    }

    let mut spare: Option<f32> = None;
    clean
        .iter()
        .zip(&valid)
        .map(|(&z, &ok)| {
            if !ok {
                return 0.0;
            }
            // Box–Muller makes two normals per draw; use both.
            let n = spare.take().unwrap_or_else(|| {
                let (a, b) = super::gauss_pair(rng);
                spare = Some(b);
                a
            });
            quantize(z, n * (0.5 + 1e-6 * z * z))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn quantization_steps_grow_with_z_squared() {
        let steps = |z0: f32| {
            let mut vals: Vec<f32> = (0..2000)
                .map(|i| quantize(z0 + i as f32 * 0.01, 0.0))
                .collect();
            vals.dedup();
            (vals.len() - 1) as f32 / 20.0 // distinct steps per mm
        };
        // 2.85e-6·z²: 1.8 mm at 800 mm, 11.4 mm at 2000 mm.
        let near = 1.0 / steps(800.0);
        assert!((1.4..2.3).contains(&near), "{near}");
        assert!(quantize(2000.0, 0.0).fract() == 0.0);
        assert!((quantize(2000.0, 0.0) - 2000.0).abs() <= 6.0);
        assert_eq!(quantize(4500.0, 0.0), 0.0);
        assert_eq!(quantize(300.0, 0.0), 0.0);
    }

    #[test]
    fn near_object_shadows_the_background_on_one_side() {
        let (w, h) = (200, 20);
        let mut clean = vec![2000.0f32; w * h];
        for v in 0..h {
            for u in 80..120 {
                clean[v * w + u] = 800.0;
            }
        }
        let labels = vec![0u8; w * h];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let out = apply(&mut rng, &clean, &labels, &Intrinsics::NYU, w, h);
        let row = &out[10 * w..11 * w];
        // Shadow width: f·b·(1/800 − 1/2000) ≈ 33 px right of the object, none on the left.
        assert!(
            row[125..150].iter().all(|&d| d == 0.0),
            "{:?}",
            &row[120..160]
        );
        assert!(row[160..200].iter().filter(|&&d| d > 0.0).count() > 30);
        assert!(row[40..76].iter().filter(|&&d| d > 0.0).count() > 30);
        assert!(
            row[85..115]
                .iter()
                .filter(|&&d| (d - 800.0).abs() < 10.0)
                .count()
                > 25
        );
    }
}
