//! How close a GPU result must come to the CPU reference's: one type for every GPU-vs-CPU
//! test, so a tolerance is a stated rule, not a literal in an assertion. f32 sums taken in
//! another order differ by rounding that grows with the size of what is summed, so each rule
//! scales the allowed difference by a magnitude of the result.

/// A rule for `|got − want|`, element by element.
#[derive(Debug, Clone, Copy)]
pub enum Tolerance<'a> {
    /// Exactly equal: data movement (copies, patches, pooling) must not change a bit.
    Exact,
    /// Within this much, absolutely: outputs of unit size.
    Absolute(f32),
    /// Within this fraction of the reference's largest magnitude.
    OfLargest(f32),
    /// Within `tol · scale` for a scale the test states (a tensor's natural size).
    OfScale { tol: f32, scale: f32 },
    /// Element i within `tol · magnitudes[i] + floor`: the magnitude of the sum that made it
    /// (`Σ|terms|`), for gradients whose values cancel to near zero.
    OfMagnitudes {
        tol: f32,
        magnitudes: &'a [f32],
        floor: f32,
    },
}

impl Tolerance<'_> {
    /// Panics, naming `what`, the element and the allowance, unless `got` matches `want` under
    /// this rule; also when the lengths differ, a value is not finite, or the reference is all
    /// zeros (a test that could not fail).
    pub fn assert(self, what: &str, got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        assert!(
            want.iter().any(|v| *v != 0.0),
            "{what}: degenerate test, the reference is all zeros"
        );
        let largest = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let mut worst: Option<(f32, usize, f32)> = None;
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!(g.is_finite(), "{what}[{i}]: GPU gave {g} (CPU {w})");
            let allowed = match self {
                Tolerance::Exact => 0.0,
                Tolerance::Absolute(tol) => tol,
                Tolerance::OfLargest(tol) => tol * largest,
                Tolerance::OfScale { tol, scale } => tol * scale.max(1e-6),
                Tolerance::OfMagnitudes {
                    tol,
                    magnitudes,
                    floor,
                } => tol * magnitudes[i] + floor,
            };
            let excess = (g - w).abs() - allowed;
            if excess > 0.0 && worst.is_none_or(|(e, _, _)| excess > e) {
                worst = Some((excess, i, allowed));
            }
        }
        if let Some((_, i, allowed)) = worst {
            panic!(
                "{what}[{i}]: GPU {} vs CPU {}, differ by {} where {self:?} allows {allowed} \
                 (largest reference magnitude {largest})",
                got[i],
                want[i],
                (got[i] - want[i]).abs()
            );
        }
    }
}
