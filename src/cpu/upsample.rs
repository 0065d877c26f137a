//! Nearest-neighbour upsampling by an integer factor, and its backward.
//!
//! The ×2 case, the only one the network has, is written out so that the compiler unrolls and
//! vectorizes it (a `fill` of two values, or a sum of two, a pixel was scalar work). Against the
//! plain loops (three alternating `bench --train --per-layer` runs, 64×64 network, batch 32, 2
//! cores of a Zen 4): the hourglass's three upsamplings' backward 0.12–0.19 against 0.68–0.84
//! ms a step, their forward 0.43–0.59 ms with the levels' sums made in the same pass against
//! 0.75–0.88 ms without.

use rayon::prelude::*;

use super::CHUNK;
use crate::net::Shape;

/// Nearest-neighbour upsampling by `factor`.
pub fn upsample(x: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let mut y = vec![0.0f32; batch * input.len() * factor * factor];
    upsample_into(x, input, factor, None, &mut y);
    y
}

/// Whole planes of `plane` values a task takes: about [`CHUNK`] values, at least one plane.
fn planes_per_task(plane: usize) -> usize {
    (CHUNK / plane.max(1)).max(1)
}

/// [`upsample`] into `y` (every element written), plus `sum` (`y`'s shape) when given: the
/// upsampling's sum with another tensor made in the same pass, each value `x + sum` as the two
/// ops apart would round it.
pub fn upsample_into(x: &[f32], input: Shape, factor: usize, sum: Option<&[f32]>, y: &mut [f32]) {
    let (ow, ip) = (input.w * factor, input.h * input.w);
    let op = ip * factor * factor;
    assert_eq!(x.len() * factor * factor, y.len());
    assert!(sum.is_none_or(|s| s.len() == y.len()));
    if y.is_empty() {
        return;
    }
    let per = planes_per_task(op);
    y.par_chunks_mut(per * op)
        .enumerate()
        .for_each(|(task, dst)| {
            let first = task * per;
            let src = &x[first * ip..][..dst.len() / (factor * factor)];
            let sum = sum.map(|s| &s[first * op..][..dst.len()]);
            // Output row r reads input row r / factor (rows of all planes in a row: a plane's
            // height is a multiple of the factor).
            for (r, row) in dst.chunks_exact_mut(ow).enumerate() {
                let s = &src[(r / factor) * input.w..][..input.w];
                match (factor, sum) {
                    (2, None) => widen::<2>(s, row),
                    (2, Some(a)) => widen_add::<2>(s, &a[r * ow..][..ow], row),
                    (_, None) => {
                        for (d, v) in row.chunks_exact_mut(factor).zip(s) {
                            d.fill(*v);
                        }
                    }
                    (_, Some(a)) => {
                        let a = &a[r * ow..][..ow];
                        for ((d, a), v) in row.chunks_exact_mut(factor).zip(a.chunks(factor)).zip(s)
                        {
                            d.iter_mut().zip(a).for_each(|(d, a)| *d = v + a);
                        }
                    }
                }
            }
        });
}

/// One output row: each value of `s` `F` times.
fn widen<const F: usize>(s: &[f32], row: &mut [f32]) {
    for (d, &v) in row.chunks_exact_mut(F).zip(s) {
        d.iter_mut().for_each(|d| *d = v);
    }
}

/// One output row plus `a`: each value of `s` `F` times, each copy plus `a`'s value there.
fn widen_add<const F: usize>(s: &[f32], a: &[f32], row: &mut [f32]) {
    for ((d, a), &v) in row.chunks_exact_mut(F).zip(a.chunks_exact(F)).zip(s) {
        for (d, a) in d.iter_mut().zip(a) {
            *d = v + a;
        }
    }
}

/// Backward of nearest upsampling: each input pixel gets the sum of its `factor²` copies.
pub fn upsample_backward(dy: &[f32], batch: usize, input: Shape, factor: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; batch * input.len()];
    upsample_backward_into(dy, input, factor, &mut dx);
    dx
}

/// [`upsample_backward`] into `dx` (`batch × input`, every element written). Each input pixel's
/// sum is taken row by row of its copies, `((0 + Σ row 0) + Σ row 1) + …`, each row's from the
/// left: the GPU kernel's order, which its test holds it to bit for bit.
pub fn upsample_backward_into(dy: &[f32], input: Shape, factor: usize, dx: &mut [f32]) {
    let ow = input.w * factor;
    let ip = input.h * input.w;
    let op = ip * factor * factor;
    assert_eq!(dx.len() * factor * factor, dy.len());
    if dx.is_empty() {
        return;
    }
    let per = planes_per_task(op);
    dx.par_chunks_mut(per * ip)
        .enumerate()
        .for_each(|(task, dst)| {
            let g = &dy[task * per * op..][..dst.len() * factor * factor];
            // Input row r gathers output rows r·factor … r·factor + factor − 1.
            for (row, rows) in dst
                .chunks_exact_mut(input.w)
                .zip(g.chunks_exact(factor * ow))
            {
                if factor == 2 {
                    let (g0, g1) = rows.split_at(ow);
                    for ((d, a), b) in row
                        .iter_mut()
                        .zip(g0.chunks_exact(2))
                        .zip(g1.chunks_exact(2))
                    {
                        *d = 0.0 + (a[0] + a[1]) + (b[0] + b[1]);
                    }
                    continue;
                }
                row.fill(0.0);
                for src in rows.chunks_exact(ow) {
                    for (d, s) in row.iter_mut().zip(src.chunks_exact(factor)) {
                        *d += s.iter().sum::<f32>();
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one value at a time.
    fn naive(x: &[f32], input: Shape, factor: usize) -> Vec<f32> {
        let (oh, ow) = (input.h * factor, input.w * factor);
        let planes = x.len() / (input.h * input.w);
        let mut y = Vec::new();
        for p in 0..planes {
            for oy in 0..oh {
                for ox in 0..ow {
                    y.push(x[(p * input.h + oy / factor) * input.w + ox / factor]);
                }
            }
        }
        y
    }

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.37 + seed).sin() * 3.0)
            .collect()
    }

    #[test]
    fn upsampling_and_its_sum_match_the_definition() {
        // Odd sides, planes spanning several tasks (2 × 70 × 7 × 9 × 4 values > CHUNK), ×2
        // (written out) and ×3 (the general path).
        for (input, batch, factor) in [
            (Shape::new(70, 7, 9), 2, 2),
            (Shape::new(3, 5, 1), 1, 2),
            (Shape::new(70, 7, 9), 1, 3),
            (Shape::new(2, 1, 3), 3, 3),
        ] {
            let x = values(batch * input.len(), 0.5);
            let want = naive(&x, input, factor);
            assert_eq!(upsample(&x, batch, input, factor), want);
            let other = values(want.len(), 1.5);
            let mut got = vec![f32::NAN; want.len()];
            upsample_into(&x, input, factor, Some(&other), &mut got);
            let plain: Vec<f32> = want.iter().zip(&other).map(|(a, b)| a + b).collect();
            assert_eq!(got, plain, "{input:?} ×{factor}");
        }
    }

    #[test]
    fn backward_sums_each_pixels_copies_in_row_order() {
        for (input, batch, factor) in [
            (Shape::new(70, 7, 9), 2, 2),
            (Shape::new(3, 5, 1), 1, 2),
            (Shape::new(70, 7, 9), 1, 3),
        ] {
            let dy = values(batch * input.len() * factor * factor, 0.25);
            let (ow, plane) = (input.w * factor, input.h * input.w * factor * factor);
            let mut want = Vec::new();
            for p in 0..batch * input.c {
                for y in 0..input.h {
                    for x in 0..input.w {
                        let mut d = 0.0f32;
                        for fy in 0..factor {
                            let at = p * plane + (y * factor + fy) * ow + x * factor;
                            d += dy[at..at + factor].iter().sum::<f32>();
                        }
                        want.push(d);
                    }
                }
            }
            let mut got = vec![f32::NAN; want.len()];
            upsample_backward_into(&dy, input, factor, &mut got);
            assert_eq!(got, want, "{input:?} ×{factor}");
        }
    }
}
