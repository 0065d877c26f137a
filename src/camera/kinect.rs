//! The Kinect v1 (PrimeSense PS1080) depth camera: its 11-bit raw disparity, converted to
//! millimetres the way libfreenect does, and its intrinsics.
//!
//! libfreenect's `freenect_raw_to_mm` (registration.c) turns a raw shift value into depth by
//! triangulation against a reference plane:
//!
//! ```text
//! fixed_ref_x = (raw − 4·const_shift) / 4 − 0.375
//! metric      = fixed_ref_x · reference_pixel_size
//! depth_mm    = 10 · (metric · reference_distance / (dcmos_emitter_dist − metric) + reference_distance)
//! ```
//!
//! truncated to an integer; raw 2047 means no reading. A real Kinect reports its own zero-plane
//! values over USB and libfreenect reads them; a fakenect dump carries none, and hourhand asks
//! libfreenect for raw values in both cases, so it uses the PS1080's reference values, the
//! defaults OpenNI's PS1080 driver also uses: `const_shift` 200, reference distance 120 cm,
//! reference pixel size 0.1042 mm, emitter-to-camera distance 7.5 cm. The same function of raw
//! values either way keeps live frames and replays identical.

use std::sync::OnceLock;

use crate::data::intrinsics::Intrinsics;

/// Width of a Kinect v1 depth frame (its medium resolution, the only one for depth).
pub const WIDTH: usize = 640;
/// Height of a Kinect v1 depth frame.
pub const HEIGHT: usize = 480;
/// The raw value meaning "no reading".
pub const NO_READING: u16 = 2047;
/// Raw values are 11 bits.
pub const RAW_VALUES: usize = 2048;
/// libfreenect's largest depth in millimetres; farther readings are not depth.
pub const MAX_MM: f64 = 10_000.0;

/// The zero-plane calibration the conversion uses (PS1080 reference values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZeroPlane {
    /// Constant shift, in raw units / 4.
    pub const_shift: f64,
    /// Distance to the reference plane, cm.
    pub reference_distance: f64,
    /// Size of a pixel on the reference plane, mm.
    pub reference_pixel_size: f64,
    /// Distance between the IR camera and the emitter, cm.
    pub dcmos_emitter_dist: f64,
}

/// The PS1080's reference values.
pub const PS1080: ZeroPlane = ZeroPlane {
    const_shift: 200.0,
    reference_distance: 120.0,
    reference_pixel_size: 0.1042,
    dcmos_emitter_dist: 7.5,
};

/// The Kinect v1's depth intrinsics: NYU's calibration of the camera it was recorded with.
pub const INTRINSICS: Intrinsics = Intrinsics::NYU;

impl ZeroPlane {
    /// Millimetres for one raw value, as libfreenect computes it (truncated), or 0 where the
    /// raw value is no reading or its depth is out of range.
    pub fn raw_to_mm(&self, raw: u16) -> u16 {
        if raw >= NO_READING {
            return 0;
        }
        let fixed_ref_x = (f64::from(raw) - 4.0 * self.const_shift) / 4.0 - 0.375;
        let metric = fixed_ref_x * self.reference_pixel_size;
        let mm = 10.0
            * (metric * self.reference_distance / (self.dcmos_emitter_dist - metric)
                + self.reference_distance);
        if mm.is_finite() && mm > 0.0 && mm < MAX_MM {
            mm as u16
        } else {
            0
        }
    }

    /// The table of all raw values' millimetres.
    pub fn table(&self) -> Vec<u16> {
        (0..RAW_VALUES as u16).map(|r| self.raw_to_mm(r)).collect()
    }
}

/// The PS1080 table, computed once.
pub fn raw_to_mm_table() -> &'static [u16] {
    static TABLE: OnceLock<Vec<u16>> = OnceLock::new();
    TABLE.get_or_init(|| PS1080.table())
}

/// Depth in millimetres of a frame of raw values (0 where there is no reading).
pub fn raw_frame_to_mm(raw: &[u16]) -> Vec<f32> {
    let table = raw_to_mm_table();
    raw.iter()
        .map(|&r| f32::from(table[usize::from(r.min(NO_READING))]))
        .collect()
}

/// The raw value whose depth is nearest `mm` (what a Kinect would report for a surface at that
/// depth), or [`NO_READING`] for 0 and for depth outside the camera's range. Used to write
/// recordings from frames in millimetres.
pub fn mm_to_raw(mm: f32) -> u16 {
    let table = raw_to_mm_table();
    // The valid part of the table rises with the raw value.
    let valid = table.iter().position(|&d| d > 0).unwrap_or(0)
        ..table.iter().rposition(|&d| d > 0).map_or(0, |i| i + 1);
    if !(mm.is_finite() && mm > 0.0) {
        return NO_READING;
    }
    let slice = &table[valid.clone()];
    let first = f32::from(slice[0]);
    let last = f32::from(slice[slice.len() - 1]);
    // Beyond either end by more than one step, the camera would see nothing.
    if mm < first - 1.0 || mm > last + 1.0 {
        return NO_READING;
    }
    let i = slice.partition_point(|&d| f32::from(d) < mm);
    let best = [i.saturating_sub(1), i.min(slice.len() - 1)]
        .into_iter()
        .min_by(|&a, &b| {
            (f32::from(slice[a]) - mm)
                .abs()
                .total_cmp(&(f32::from(slice[b]) - mm).abs())
        })
        .unwrap_or(0);
    (valid.start + best) as u16
}

/// The depth step between neighbouring raw values at `mm` (the camera's quantization there).
pub fn step_at(mm: f32) -> f32 {
    let raw = mm_to_raw(mm);
    if raw == NO_READING {
        return f32::INFINITY;
    }
    let table = raw_to_mm_table();
    let here = f32::from(table[usize::from(raw)]);
    let next = table
        .get(usize::from(raw) + 1)
        .map_or(0.0, |&d| f32::from(d));
    let prev = raw
        .checked_sub(1)
        .map_or(0.0, |r| f32::from(table[usize::from(r)]));
    [next - here, here - prev]
        .into_iter()
        .filter(|s| *s > 0.0)
        .fold(0.0, f32::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_matches_libfreenects_formula_at_known_points() {
        // Worked by hand from the formula: raw 700 → fixed_ref_x −25.375, metric −2.644075 cm…
        let t = raw_to_mm_table();
        let expect = |raw: f64| {
            let m = ((raw - 800.0) / 4.0 - 0.375) * 0.1042;
            (10.0 * (m * 120.0 / (7.5 - m) + 120.0)) as u16
        };
        for raw in [0u16, 1, 400, 700, 800, 900, 1000, 1050] {
            assert_eq!(t[raw as usize], expect(f64::from(raw)), "raw {raw}");
        }
        assert_eq!(t[700], 887);
        assert_eq!(t[NO_READING as usize], 0);
    }

    #[test]
    fn the_valid_range_rises_and_ends_in_no_reading() {
        let t = raw_to_mm_table();
        let first = t.iter().position(|&d| d > 0).unwrap();
        let last = t.iter().rposition(|&d| d > 0).unwrap();
        assert!(t[first..=last].windows(2).all(|w| w[0] <= w[1] && w[1] > 0));
        assert!(t[last + 1..].iter().all(|&d| d == 0));
        assert!(f64::from(t[last]) < MAX_MM && t[first] < 400);
    }

    #[test]
    fn millimetres_round_trip_within_one_step() {
        for mm in [450.0f32, 512.3, 700.0, 999.9, 1500.0, 3000.0, 6000.0] {
            let raw = mm_to_raw(mm);
            let back = f32::from(raw_to_mm_table()[raw as usize]);
            let step = step_at(mm);
            assert!(step.is_finite() && step >= 1.0, "{mm}: step {step}");
            assert!(
                (back - mm).abs() <= step / 2.0 + 1.0,
                "{mm} → {raw} → {back} (step {step})"
            );
        }
        assert_eq!(mm_to_raw(0.0), NO_READING);
        assert_eq!(mm_to_raw(f32::NAN), NO_READING);
        assert_eq!(mm_to_raw(50.0), NO_READING);
        assert_eq!(mm_to_raw(20_000.0), NO_READING);
        // Quantization grows with depth, as a triangulating sensor's does.
        assert!(step_at(500.0) < step_at(1000.0) && step_at(1000.0) < step_at(3000.0));
    }

    #[test]
    fn frames_convert_value_by_value() {
        let raw = [0u16, 700, 2047, 4000, 850];
        let mm = raw_frame_to_mm(&raw);
        let t = raw_to_mm_table();
        assert_eq!(
            mm,
            vec![f32::from(t[0]), 887.0, 0.0, 0.0, f32::from(t[850])]
        );
    }
}
