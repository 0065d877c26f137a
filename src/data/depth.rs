//! A depth frame in millimetres.

/// A depth image: `width × height` values in millimetres, row-major from the top-left pixel.
/// `0` means the camera had no reading there (a hole); every value is finite and non-negative.
#[derive(Debug, Clone, PartialEq)]
pub struct DepthMap {
    width: usize,
    height: usize,
    mm: Vec<f32>,
}

/// Why values cannot form a depth map.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DepthError {
    /// Width × height does not match the number of values.
    #[error("expected {width}×{height} = {} depth values, found {found}", width * height)]
    Size {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
        /// Values given.
        found: usize,
    },
    /// A value is NaN, infinite or negative.
    #[error(
        "depth at pixel (u {u}, v {v}) is {value}; expected millimetres ≥ 0 (0 for no reading)"
    )]
    Value {
        /// Column.
        u: usize,
        /// Row.
        v: usize,
        /// The value found.
        value: f32,
    },
    /// The image has no pixels.
    #[error("the depth image is empty ({width}×{height})")]
    Empty {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
}

impl DepthMap {
    /// Wraps row-major millimetre values, rejecting NaN, infinite and negative depth.
    pub fn new(width: usize, height: usize, mm: Vec<f32>) -> Result<DepthMap, DepthError> {
        if width == 0 || height == 0 {
            return Err(DepthError::Empty { width, height });
        }
        if mm.len() != width * height {
            return Err(DepthError::Size {
                width,
                height,
                found: mm.len(),
            });
        }
        if let Some(i) = mm.iter().position(|d| !d.is_finite() || *d < 0.0) {
            return Err(DepthError::Value {
                u: i % width,
                v: i / width,
                value: mm[i],
            });
        }
        Ok(DepthMap { width, height, mm })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.mm
    }

    /// Depth at column `u`, row `v` (0 = no reading); `None` outside the image.
    pub fn get(&self, u: i64, v: i64) -> Option<f32> {
        if u < 0 || v < 0 || u as usize >= self.width || v as usize >= self.height {
            return None;
        }
        Some(self.mm[v as usize * self.width + u as usize])
    }

    /// Consumes the map, returning its values.
    pub fn into_values(self) -> Vec<f32> {
        self.mm
    }
}

/// Depth that can be read pixel by pixel: a [`DepthMap`], or the training set's u16 cache (so a
/// cached frame is cropped without widening it to f32 first).
pub trait DepthLookup {
    /// Depth in mm at column `u`, row `v`; 0 a hole; `None` outside the image.
    fn at(&self, u: i64, v: i64) -> Option<f32>;
}

impl DepthLookup for DepthMap {
    fn at(&self, u: i64, v: i64) -> Option<f32> {
        self.get(u, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_nan_negative_and_wrong_sizes() {
        assert!(DepthMap::new(2, 2, vec![0.0, 1.0, 2.0, 3.0]).is_ok());
        let e = DepthMap::new(2, 2, vec![0.0, 1.0, f32::NAN, 3.0]).unwrap_err();
        assert!(e.to_string().contains("(u 0, v 1)"), "{e}");
        let e = DepthMap::new(2, 2, vec![0.0, -1.0, 2.0, 3.0]).unwrap_err();
        assert!(e.to_string().contains("is -1"), "{e}");
        let e = DepthMap::new(3, 2, vec![0.0; 4]).unwrap_err();
        assert!(e.to_string().contains("3×2 = 6"), "{e}");
        assert!(DepthMap::new(0, 2, vec![]).is_err());
    }

    #[test]
    fn get_is_none_outside() {
        let d = DepthMap::new(2, 1, vec![5.0, 6.0]).unwrap();
        assert_eq!(d.get(1, 0), Some(6.0));
        assert_eq!(d.get(2, 0), None);
        assert_eq!(d.get(-1, 0), None);
    }
}
