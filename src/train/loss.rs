//! The three training losses and their gradients: mean squared error, smooth L1, and the
//! paper's max-out smooth L1, which trains each sample only on its worst coordinate.
//!
//! The network regresses joints normalized by half the hand cube; the losses measure the
//! difference in millimetres, `d = scale·(p − g)` with `scale` = half the nominal cube
//! (150 mm for NYU's 300 mm cube). In normalized units almost every |d| would be below
//! smooth L1's knee at 1, making smooth L1 half of MSE; in millimetres the knee sits at 1 mm,
//! as a robust loss intends. Every loss sums over a sample's 3M coordinates and averages over
//! the batch, so their values compare:
//!
//! - MSE: `(1/N) Σᵢ Σₖ dᵢₖ²`
//! - smooth L1: `(1/N) Σᵢ Σₖ smooth(dᵢₖ)`, `smooth(x) = ½x²` if |x| ≤ 1, else `|x| − ½`
//! - max-out smooth L1: `(1/N) Σᵢ 3M · maxₖ smooth(dᵢₖ)`; the gradient flows to the arg-max
//!   coordinate of each sample only (the first one on ties).

pub use crate::net::training::Loss;

impl Loss {
    /// The loss of a batch and its gradient with respect to `pred`. `pred` and `target` hold
    /// `batch × dims` normalized coordinates; `scale` converts them to millimetres.
    pub fn value_and_grad(
        self,
        pred: &[f32],
        target: &[f32],
        batch: usize,
        scale: f32,
    ) -> (f32, Vec<f32>) {
        assert_eq!(
            pred.len(),
            target.len(),
            "prediction and target differ in size"
        );
        let dims = pred.len() / batch.max(1);
        let n = batch as f64;
        let mut grad = vec![0.0f32; pred.len()];
        let mut total = 0.0f64;
        for (i, (p, t)) in pred.chunks(dims).zip(target.chunks(dims)).enumerate() {
            let g = &mut grad[i * dims..(i + 1) * dims];
            let d = p.iter().zip(t).map(|(p, t)| scale * (p - t));
            match self {
                Loss::Mse => {
                    for (k, d) in d.enumerate() {
                        total += (d as f64).powi(2);
                        g[k] = (2.0 * d as f64 * scale as f64 / n) as f32;
                    }
                }
                Loss::SmoothL1 => {
                    for (k, d) in d.enumerate() {
                        total += smooth(d) as f64;
                        g[k] = (smooth_grad(d) as f64 * scale as f64 / n) as f32;
                    }
                }
                Loss::MaxOut => {
                    let (mut best, mut at, mut at_d) = (f32::NEG_INFINITY, 0, 0.0);
                    for (k, d) in d.enumerate() {
                        let s = smooth(d);
                        if s > best {
                            (best, at, at_d) = (s, k, d);
                        }
                    }
                    total += dims as f64 * best as f64;
                    g[at] = (dims as f64 * smooth_grad(at_d) as f64 * scale as f64 / n) as f32;
                }
            }
        }
        ((total / n) as f32, grad)
    }
}

/// `½x²` inside ±1, `|x| − ½` outside.
pub fn smooth(x: f32) -> f32 {
    if x.abs() <= 1.0 {
        0.5 * x * x
    } else {
        x.abs() - 0.5
    }
}

fn smooth_grad(x: f32) -> f32 {
    x.clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences in f64 of the loss's own f32 value, per coordinate.
    fn check(loss: Loss, pred: &[f32], target: &[f32], batch: usize, scale: f32) {
        let (_, grad) = loss.value_and_grad(pred, target, batch, scale);
        let h = 1e-3f32;
        for k in 0..pred.len() {
            let mut p = pred.to_vec();
            p[k] += h;
            let up = loss.value_and_grad(&p, target, batch, scale).0 as f64;
            p[k] -= 2.0 * h;
            let down = loss.value_and_grad(&p, target, batch, scale).0 as f64;
            let fd = (up - down) / (2.0 * h as f64);
            let tol = 2e-2 * fd.abs().max(1.0);
            assert!(
                (fd - grad[k] as f64).abs() < tol,
                "{loss} coordinate {k}: analytic {} vs finite difference {fd}",
                grad[k]
            );
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Differences of 0.02–0.9 mm and 3–60 mm: both sides of smooth L1's knee. The
        // max-out arg-max is unique in each sample, so the loss is differentiable there.
        let pred = [0.1f32, -0.2, 0.05, 0.3, 0.002, -0.4, 0.0031, 0.2];
        let target = [0.0f32, 0.1, 0.05, -0.1, 0.0, 0.2, 0.0, 0.0];
        for loss in Loss::ALL {
            check(loss, &pred, &target, 2, 150.0);
            check(loss, &pred, &target, 4, 1.0);
        }
    }

    #[test]
    fn max_out_trains_only_the_worst_coordinate() {
        let pred = [0.0f32, 0.5, -0.1, 0.2, 0.0, 0.0];
        let target = [0.0f32; 6];
        let (value, grad) = Loss::MaxOut.value_and_grad(&pred, &target, 2, 10.0);
        // Sample 0: worst |d| = 5 mm (coordinate 1); sample 1: 2 mm (coordinate 3).
        assert_eq!(grad.iter().filter(|g| **g != 0.0).count(), 2);
        assert!(grad[1] > 0.0 && grad[3] > 0.0);
        let expected = (3.0 * (5.0 - 0.5) + 3.0 * (2.0 - 0.5)) / 2.0;
        assert!((value - expected).abs() < 1e-5, "{value} vs {expected}");
    }

    #[test]
    fn values_follow_the_definitions() {
        let (mse, _) = Loss::Mse.value_and_grad(&[0.3, 0.0], &[0.0, 0.0], 1, 10.0);
        assert!((mse - 9.0).abs() < 1e-5);
        let (sl1, _) = Loss::SmoothL1.value_and_grad(&[0.3, 0.05], &[0.0, 0.0], 1, 10.0);
        assert!((sl1 - (2.5 + 0.125)).abs() < 1e-5);
        assert_eq!("max-out".parse::<Loss>(), Ok(Loss::MaxOut));
        assert!("l2".parse::<Loss>().unwrap_err().contains("smooth-l1"));
    }
}
