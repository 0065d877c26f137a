//! Dropout's masks: an integer hash both the CPU and `shaders/dropout.wesl` compute, so a GPU
//! step can be checked against a CPU step on the same batch.

/// Dropout settings of one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Dropout {
    /// Fraction of elements zeroed (0 disables dropout).
    pub rate: f32,
    /// Seed of this step's masks.
    pub seed: u32,
}

impl Dropout {
    /// No dropout.
    pub const NONE: Dropout = Dropout { rate: 0.0, seed: 0 };

    /// The mask key of the `ordinal`-th dropout op of the program: a different mask per op
    /// and per step, the same on both backends.
    pub fn key(&self, ordinal: u32) -> u32 {
        self.seed.wrapping_add(ordinal.wrapping_mul(0x9E37_79B9))
    }
}

/// A 32-bit integer hash (PCG output permutation, as in Jarzynski and Olano, "Hash Functions
/// for GPU Rendering"): cheap, well mixed, and written identically in `shaders/dropout.wesl`.
pub fn pcg_hash(v: u32) -> u32 {
    let state = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// Dropout's decision for element `index` of the tensor with key `key` (seed and op mixed):
/// keep when the hash is at or above `threshold = rate·2³²`. Integer compare, so both backends
/// agree bit for bit.
pub fn dropout_keep(key: u32, index: u32, threshold: u32) -> bool {
    pcg_hash(index ^ pcg_hash(key)) >= threshold
}

/// The integer threshold of a dropout rate in [0, 1).
pub fn dropout_threshold(rate: f32) -> u32 {
    (rate.clamp(0.0, 1.0) as f64 * 4_294_967_296.0).min(u32::MAX as f64) as u32
}
