//! What the CPU kernels' unit tests share: one deterministic generator of test values, so
//! every test's inputs come from the same few lines.

/// The next value in `[0, 1)` of a linear congruential generator (Numerical Recipes'
/// constants) whose state is `state`: its top 24 bits, exact in f32.
pub fn unit(state: &mut u32) -> f32 {
    *state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
    (*state >> 8) as f32 / (1u32 << 24) as f32
}

/// Values in `[-0.5, 0.5)` from the generator seeded with `seed`, the next at each call.
pub fn centred(seed: u32) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || unit(&mut state) - 0.5
}

/// The first `n` values of [`centred`]`(seed)`.
pub fn values(n: usize, seed: u32) -> Vec<f32> {
    let mut next = centred(seed);
    (0..n).map(|_| next()).collect()
}

/// Every instruction set of `pulp`'s dispatch this CPU runs, so the tests check each form of
/// the loops and not only the one this machine would pick.
pub fn arches() -> Vec<pulp::Arch> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut arches = vec![pulp::Arch::Scalar];
        arches.extend(pulp::x86::V3::try_new().map(pulp::Arch::V3));
        arches.extend(pulp::x86::V4::try_new().map(pulp::Arch::V4));
        arches
    }
    #[cfg(not(target_arch = "x86_64"))]
    vec![pulp::Arch::new()]
}
