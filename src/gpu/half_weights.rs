//! Weights stored as f16 for the "-f16" kernel sets: the convolution and fully connected
//! weights, packed two to a `u32` (`unpack2x16float` in `lib/conv2d.wesl` and `lib/gemv.wesl`),
//! rounded to nearest even by the `half` crate. Biases, the fused affines and every activation
//! stay f32, and every sum is accumulated in f32.

use std::collections::BTreeSet;

use half::f16;

use crate::net::{Op, Params, Program};

/// The parameters a "-f16" set stores as f16: every convolution's and fully connected
/// layer's `{name}.weight`.
pub fn names(program: &Program) -> BTreeSet<String> {
    program
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::Conv2d(c) => Some(format!("{}.weight", c.name)),
            Op::Linear(l) => Some(format!("{}.weight", l.name)),
            _ => None,
        })
        .collect()
}

/// `values` as f16 bytes, padded with a zero to a whole `u32`; the first value f16 cannot
/// hold (past ±65504, or not finite) is the error.
pub fn pack(values: &[f32]) -> Result<Vec<u8>, f32> {
    let mut halves = Vec::with_capacity(values.len() + 1);
    for &v in values {
        let h = f16::from_f32(v);
        if !h.is_finite() {
            return Err(v);
        }
        halves.push(h);
    }
    if halves.len() % 2 == 1 {
        halves.push(f16::ZERO);
    }
    Ok(bytemuck::cast_slice(&halves).to_vec())
}

/// `params` with the weights [`names`] lists rounded to f16 and back: what the GPU computes
/// with under a "-f16" set, for the CPU to compare against.
pub fn rounded(program: &Program, params: &Params) -> Params {
    let names = names(program);
    let mut out = params.clone();
    for (name, t) in out.iter_mut() {
        if names.contains(name) {
            t.data
                .iter_mut()
                .for_each(|v| *v = f16::from_f32(*v).to_f32());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packs_pairs_pads_odd_lengths_and_refuses_what_f16_cannot_hold() {
        let bytes = pack(&[1.0, -2.0, 0.5]).unwrap();
        assert_eq!(bytes.len(), 8, "three halves padded to two u32s");
        let halves: &[f16] = bytemuck::cast_slice(&bytes);
        assert_eq!(
            halves,
            [f16::ONE, f16::from_f32(-2.0), f16::from_f32(0.5), f16::ZERO]
        );
        // Rounded to nearest: 1 + 2^-12, a quarter of f16's step at 1, becomes 1.
        let b = pack(&[1.0 + 1.0 / 4096.0]).unwrap();
        assert_eq!(bytemuck::cast_slice::<u8, f16>(&b)[0], f16::ONE);
        assert_eq!(pack(&[0.0, 70000.0]), Err(70000.0));
        assert!(pack(&[f32::NAN]).is_err());
        assert_eq!(pack(&[]).unwrap().len(), 0);
    }
}
