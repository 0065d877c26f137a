//! Concatenation of flattened tensors along features, and its backward.

/// Concatenation of flattened per-sample tensors, sample by sample.
pub fn concat(parts: &[(&[f32], usize)], batch: usize) -> Vec<f32> {
    let total: usize = parts.iter().map(|(_, len)| len).sum();
    let mut y = vec![0.0f32; batch * total];
    concat_into(parts, &mut y);
    y
}

/// [`concat()`] into `y` (`batch × Σ len`).
pub fn concat_into(parts: &[(&[f32], usize)], y: &mut [f32]) {
    let total: usize = parts.iter().map(|(_, len)| len).sum();
    for (n, dst) in y.chunks_mut(total).enumerate() {
        let mut offset = 0;
        for (data, len) in parts {
            dst[offset..offset + len].copy_from_slice(&data[n * len..(n + 1) * len]);
            offset += len;
        }
    }
}

/// Backward of concatenation: the gradient split back into the parts' lengths.
pub fn concat_backward(dy: &[f32], lens: &[usize], batch: usize) -> Vec<Vec<f32>> {
    let mut parts: Vec<Vec<f32>> = lens.iter().map(|&len| vec![0.0; batch * len]).collect();
    let mut views: Vec<&mut [f32]> = parts.iter_mut().map(Vec::as_mut_slice).collect();
    concat_backward_into(dy, lens, &mut views);
    parts
}

/// [`concat_backward`] into one slice per part (`batch × len` each, every element written).
pub fn concat_backward_into(dy: &[f32], lens: &[usize], parts: &mut [&mut [f32]]) {
    let total: usize = lens.iter().sum();
    let mut offset = 0;
    for (part, &len) in parts.iter_mut().zip(lens) {
        concat_part_backward_into(dy, total, offset, part, len);
        offset += len;
    }
}

/// The gradient of one part of a concatenation: the `len` values at `offset` of each sample's
/// `total`, into `part` (`batch × len`).
pub fn concat_part_backward_into(
    dy: &[f32],
    total: usize,
    offset: usize,
    part: &mut [f32],
    len: usize,
) {
    for (n, dst) in part.chunks_mut(len).enumerate() {
        dst.copy_from_slice(&dy[n * total + offset..][..len]);
    }
}
