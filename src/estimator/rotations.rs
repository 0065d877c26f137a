//! Test-time rotation's turns: how many crops, turned how far
//! ([`Estimator::set_rotations`](super::Estimator::set_rotations)).

use super::EstimateError;

/// The step between the turned crops test-time rotation averages over
/// ([`Estimator::set_rotations`](super::Estimator::set_rotations)), degrees.
pub const ROTATION_STEP_DEGREES: f32 = 15.0;

/// The most turned crops per frame: 0° and ±15° … ±90°.
pub const MAX_ROTATIONS: usize = 13;

/// The turns (radians) of `count` test-time rotations: 0, +15°, −15°, +30°, −30° …; an even
/// count or one above [`MAX_ROTATIONS`] is an error.
pub fn rotation_angles(count: usize) -> Result<Vec<f32>, EstimateError> {
    if count.is_multiple_of(2) || count > MAX_ROTATIONS {
        return Err(EstimateError::Rotations(count));
    }
    Ok((0..count)
        .map(|i| {
            let step = i.div_ceil(2) as f32 * ROTATION_STEP_DEGREES;
            if i % 2 == 1 { step } else { -step }.to_radians()
        })
        .collect())
}

/// `count` test-time rotations in words: "off", or "3 crops, ±15°" (the widest turn).
pub fn describe_rotations(count: usize) -> String {
    match count {
        0 | 1 => "off".to_string(),
        n => format!("{n} crops, ±{}°", (n / 2) as f32 * ROTATION_STEP_DEGREES),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_counts_are_odd_and_symmetric() {
        let degrees = |n| -> Vec<f32> {
            rotation_angles(n)
                .unwrap()
                .iter()
                .map(|a| a.to_degrees().round())
                .collect()
        };
        assert_eq!(degrees(1), [0.0]);
        assert_eq!(degrees(5), [0.0, 15.0, -15.0, 30.0, -30.0]);
        assert_eq!(degrees(MAX_ROTATIONS).last(), Some(&-90.0));
        for bad in [0, 2, 8, MAX_ROTATIONS + 2] {
            let e = rotation_angles(bad).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{bad} rotations")), "{e}");
        }
        assert_eq!(describe_rotations(1), "off");
        assert_eq!(describe_rotations(7), "7 crops, ±45°");
    }
}
