//! Every training kernel against its CPU reference, on odd sizes, through loose dispatches
//! over host buffers (`run_dispatches`). Data movement (ReLU, dropout, pooling, upsampling,
//! patches, concatenation, copies) must match exactly, the dropout mask bit for bit; reductions
//! and arithmetic within 1e-4 of the reference's largest magnitude (f32 sums in another order;
//! the CPU sums batch statistics in f64). Every kernel that can accumulate is also run onto a
//! non-zero gradient.

mod common;

use std::collections::BTreeMap;

use common::{Tolerance, gpu, rng, uniform};
use hourhand::cpu::{self, batch_norm, concat, elementwise, max_pool, patch, upsample};
use hourhand::gpu::kernels::{
    self as kernels, Dispatch, Slot, batch_norm_grad, concat_grad, copy, dropout, max_pool_grad,
    patch_grad, relu, upsample_grad,
};
use hourhand::gpu::runner::run_dispatches;
use hourhand::net::Shape;
use hourhand::net::program::BatchNorm;
use hourhand::net::training::Dropout;

fn t(name: &str) -> Slot {
    Slot::Tensor(name.into())
}

fn g(name: &str) -> Slot {
    Slot::Grad(name.into())
}

/// Runs `dispatches` over `buffers` and returns the final contents of `read`.
fn run(dispatches: &[Dispatch], buffers: Vec<(Slot, Vec<f32>)>, read: &[Slot]) -> Vec<Vec<f32>> {
    let buffers: BTreeMap<Slot, Vec<f32>> = buffers.into_iter().collect();
    let out = run_dispatches(&gpu(), dispatches, &buffers, read).unwrap();
    read.iter().map(|s| out[s].clone()).collect()
}

fn sum(a: &[f32], b: &[f32]) -> Vec<f32> {
    elementwise::add(a, b)
}

#[test]
fn relu_forward_and_backward_match_cpu_exactly() {
    for (len, seed) in [(1usize, 1u64), (63, 2), (1000, 3)] {
        let mut r = rng(seed);
        let x = uniform(&mut r, len, -1.0, 1.0);
        let dy = uniform(&mut r, len, -1.0, 1.0);
        let old = uniform(&mut r, len, -1.0, 1.0);
        let y = run(
            &[relu::forward(len, t("x"), t("y"))],
            vec![(t("x"), x.clone()), (t("y"), vec![0.0; len])],
            &[t("y")],
        );
        let want = cpu::relu::relu(&x);
        assert_eq!(y[0], want);
        let cpu = cpu::relu::relu_backward(&want, &dy);
        for acc in [false, true] {
            let dx = run(
                &[relu::backward(len, t("y"), g("y"), g("x"), acc)],
                vec![
                    (t("y"), want.clone()),
                    (g("y"), dy.clone()),
                    (g("x"), old.clone()),
                ],
                &[g("x")],
            );
            assert_eq!(dx[0], if acc { sum(&old, &cpu) } else { cpu.clone() });
        }
    }
}

#[test]
fn dropout_mask_is_the_cpus_bit_for_bit() {
    for (len, rate, seed, ordinal) in [
        (1001usize, 0.3f32, 7u32, 0u32),
        (4096, 0.5, 99, 3),
        (17, 0.0, 5, 1),
    ] {
        let x = uniform(&mut rng(len as u64), len, 0.5, 1.5);
        let old = uniform(&mut rng(1 + len as u64), len, -1.0, 1.0);
        let d = Dropout { rate, seed };
        let want = cpu::dropout::dropout(&x, d.key(ordinal), rate);
        for acc in [false, true] {
            let y = run(
                &[dropout::dispatch(len, d, ordinal, t("x"), t("y"), acc)],
                vec![(t("x"), x.clone()), (t("y"), old.clone())],
                &[t("y")],
            );
            assert_eq!(y[0], if acc { sum(&old, &want) } else { want.clone() });
        }
        let kept = want.iter().filter(|v| **v != 0.0).count() as f32 / len as f32;
        assert!(
            (kept - (1.0 - rate)).abs() < 0.1,
            "kept {kept} at rate {rate}"
        );
    }
}

#[test]
fn copy_copies_and_accumulates() {
    let x = uniform(&mut rng(4), 77, -1.0, 1.0);
    let old = uniform(&mut rng(5), 77, -1.0, 1.0);
    for acc in [false, true] {
        let y = run(
            &[copy::dispatch(77, t("x"), t("y"), acc)],
            vec![(t("x"), x.clone()), (t("y"), old.clone())],
            &[t("y")],
        );
        assert_eq!(y[0], if acc { sum(&old, &x) } else { x.clone() });
    }
}

#[test]
fn max_pool_backward_matches_cpu_exactly() {
    // (input, kernel, stride, batch): 2/2 over whole cells and ragged edges, 3/2 and 3/1
    // overlapping (the gather kernel), 2/3 with gaps between windows.
    for (input, kernel, stride, batch) in [
        (Shape::new(3, 9, 11), 2, 2, 2),
        (Shape::new(2, 9, 7), 3, 2, 3),
        (Shape::new(4, 8, 8), 2, 2, 1),
        (Shape::new(1, 5, 6), 3, 1, 2),
        (Shape::new(2, 10, 11), 2, 3, 2),
    ] {
        let output = Shape::new(
            input.c,
            (input.h - kernel) / stride + 1,
            (input.w - kernel) / stride + 1,
        );
        let mut r = rng(input.len() as u64);
        // Values on a coarse grid, so windows hold ties and the first maximum must win.
        let x: Vec<f32> = uniform(&mut r, batch * input.len(), 0.0, 4.0)
            .into_iter()
            .map(f32::floor)
            .collect();
        let dy = uniform(&mut r, batch * output.len(), -1.0, 1.0);
        let old = uniform(&mut r, batch * input.len(), -1.0, 1.0);
        let want = max_pool::max_pool_backward(&x, &dy, batch, input, output, kernel, stride);
        for acc in [false, true] {
            let d = max_pool_grad::dispatch(
                input,
                output,
                (kernel, stride),
                batch,
                [t("x"), g("y"), g("x")],
                acc,
            );
            let dx = run(
                &[d],
                vec![
                    (t("x"), x.clone()),
                    (g("y"), dy.clone()),
                    (g("x"), old.clone()),
                ],
                &[g("x")],
            );
            assert_eq!(
                dx[0],
                if acc { sum(&old, &want) } else { want.clone() },
                "{input} k{kernel} s{stride}"
            );
        }
    }
}

#[test]
fn upsample_backward_matches_cpu_exactly() {
    for (input, factor, batch) in [(Shape::new(3, 5, 7), 2, 2), (Shape::new(2, 3, 4), 3, 1)] {
        let mut r = rng(input.len() as u64 + 50);
        let dy = uniform(&mut r, batch * input.len() * factor * factor, -1.0, 1.0);
        let old = uniform(&mut r, batch * input.len(), -1.0, 1.0);
        let want = upsample::upsample_backward(&dy, batch, input, factor);
        for acc in [false, true] {
            let dx = run(
                &[upsample_grad::dispatch(
                    input,
                    factor,
                    batch,
                    g("y"),
                    g("x"),
                    acc,
                )],
                vec![(g("y"), dy.clone()), (g("x"), old.clone())],
                &[g("x")],
            );
            assert_eq!(dx[0], if acc { sum(&old, &want) } else { want.clone() });
        }
    }
}

#[test]
fn patch_backwards_tile_one_gradient_like_the_cpu() {
    // Four patches of a 7×9 map (uneven), the first overwriting and the rest accumulating.
    let (input, batch) = (Shape::new(3, 7, 9), 2);
    let windows = [(0, 0, 3, 4), (0, 4, 3, 5), (3, 0, 4, 4), (3, 4, 4, 5)];
    let mut r = rng(60);
    let mut buffers = vec![(g("x"), uniform(&mut r, batch * input.len(), -1.0, 1.0))];
    let mut dispatches = Vec::new();
    let mut want = vec![0.0f32; batch * input.len()];
    for (i, &(y0, x0, h, w)) in windows.iter().enumerate() {
        let dy = uniform(&mut r, batch * input.c * h * w, -1.0, 1.0);
        let part = patch::patch_backward(&dy, batch, input, y0, x0, h, w);
        want = sum(&want, &part);
        let slot = g(&format!("p{i}"));
        dispatches.push(patch_grad::dispatch(
            input,
            (y0, x0, h, w),
            batch,
            slot.clone(),
            g("x"),
            i > 0,
        ));
        buffers.push((slot, dy));
    }
    let dx = run(&dispatches, buffers, &[g("x")]);
    assert_eq!(dx[0], want);
}

#[test]
fn concat_backward_matches_cpu_exactly() {
    let (lens, batch) = ([5usize, 12, 3], 3);
    let total: usize = lens.iter().sum();
    let dy = uniform(&mut rng(70), batch * total, -1.0, 1.0);
    let want = concat::concat_backward(&dy, &lens, batch);
    let mut offset = 0;
    for (i, &len) in lens.iter().enumerate() {
        let old = uniform(&mut rng(71 + i as u64), batch * len, -1.0, 1.0);
        for acc in [false, true] {
            let d = concat_grad::dispatch(batch, (len, offset, total), g("y"), g("x"), acc);
            let dx = run(
                &[d],
                vec![(g("y"), dy.clone()), (g("x"), old.clone())],
                &[g("x")],
            );
            assert_eq!(
                dx[0],
                if acc {
                    sum(&old, &want[i])
                } else {
                    want[i].clone()
                }
            );
        }
        offset += len;
    }
}

fn bn(channels: usize) -> BatchNorm {
    BatchNorm {
        name: "bn".into(),
        input: "x".into(),
        output: "y".into(),
        channels,
    }
}

/// Batch-norm cases: (shape, batch, mean offset). The larger ones span several reduction
/// chunks per channel (4096 values each), uneven last chunk included.
const BN_CASES: [(Shape, usize, f32); 4] = [
    (Shape::new(3, 4, 5), 2, 0.0),
    (Shape::new(5, 37, 41), 3, 3.0),
    (Shape::new(2, 128, 128), 3, -1.0),
    (Shape::new(7, 1, 1), 5, 0.5),
];

#[test]
fn batch_norm_training_forward_and_running_update_match_cpu() {
    for (i, (shape, batch, offset)) in BN_CASES.into_iter().enumerate() {
        let b = bn(shape.c);
        let mut r = rng(80 + i as u64);
        let x: Vec<f32> = uniform(&mut r, batch * shape.len(), -1.0, 2.0)
            .iter()
            .map(|v| v + offset)
            .collect();
        let gamma = uniform(&mut r, shape.c, 0.5, 1.5);
        let beta = uniform(&mut r, shape.c, -0.5, 0.5);
        let (rm, rv) = (
            uniform(&mut r, shape.c, -0.2, 0.2),
            uniform(&mut r, shape.c, 0.5, 2.0),
        );
        let (want, stats) = batch_norm::batch_norm_train(&x, batch, shape, &gamma, &beta);
        let (mut want_rm, mut want_rv) = (rm.clone(), rv.clone());
        batch_norm::update_running(
            &stats,
            batch * shape.h * shape.w,
            &mut want_rm,
            &mut want_rv,
        );
        let mut dispatches = kernels::batch_norm::forward(&b, shape, batch);
        dispatches.push(kernels::batch_norm::running(&b, shape, batch));
        let p = |n: &str| Slot::Param(format!("bn.{n}"));
        let got = run(
            &dispatches,
            vec![
                (t("x"), x),
                (t("y"), vec![0.0; batch * shape.len()]),
                (p("weight"), gamma),
                (p("bias"), beta),
                (p("running_mean"), rm),
                (p("running_var"), rv),
                (
                    kernels::batch_norm::partials(),
                    vec![0.0; kernels::batch_norm::partials_len(&b, shape, batch)],
                ),
                (kernels::batch_norm::batch_mean(&b), vec![0.0; shape.c]),
                (kernels::batch_norm::batch_var(&b), vec![0.0; shape.c]),
            ],
            &[
                t("y"),
                kernels::batch_norm::batch_mean(&b),
                kernels::batch_norm::batch_var(&b),
                p("running_mean"),
                p("running_var"),
            ],
        );
        let what = format!("batch norm {shape} ×{batch}");
        Tolerance::OfLargest(1e-4).assert(&format!("{what} y"), &got[0], &want);
        Tolerance::OfLargest(1e-5).assert(&format!("{what} mean"), &got[1], &stats.mean);
        Tolerance::OfLargest(1e-5).assert(&format!("{what} var"), &got[2], &stats.var);
        Tolerance::OfLargest(1e-5).assert(&format!("{what} running mean"), &got[3], &want_rm);
        Tolerance::OfLargest(1e-5).assert(&format!("{what} running var"), &got[4], &want_rv);
    }
}

#[test]
fn batch_norm_backward_matches_cpu() {
    for (i, (shape, batch, offset)) in BN_CASES.into_iter().enumerate() {
        let b = bn(shape.c);
        let mut r = rng(90 + i as u64);
        let len = batch * shape.len();
        let x: Vec<f32> = uniform(&mut r, len, -1.0, 2.0)
            .iter()
            .map(|v| v + offset)
            .collect();
        let dy = uniform(&mut r, len, -1.0, 1.0);
        let old = uniform(&mut r, len, -1.0, 1.0);
        let gamma = uniform(&mut r, shape.c, 0.5, 1.5);
        let beta = vec![0.0; shape.c];
        let (_, stats) = batch_norm::batch_norm_train(&x, batch, shape, &gamma, &beta);
        let (dx, dgamma, dbeta) =
            batch_norm::batch_norm_backward(&x, &dy, batch, shape, &gamma, &stats);
        for acc in [false, true] {
            let pg = |n: &str| Slot::ParamGrad(format!("bn.{n}"));
            let got = run(
                &batch_norm_grad::backward(&b, shape, batch, acc),
                vec![
                    (t("x"), x.clone()),
                    (g("y"), dy.clone()),
                    (g("x"), old.clone()),
                    (Slot::Param("bn.weight".into()), gamma.clone()),
                    (kernels::batch_norm::batch_mean(&b), stats.mean.clone()),
                    (kernels::batch_norm::batch_var(&b), stats.var.clone()),
                    (
                        kernels::batch_norm::partials(),
                        vec![0.0; kernels::batch_norm::partials_len(&b, shape, batch)],
                    ),
                    (pg("weight"), vec![0.0; shape.c]),
                    (pg("bias"), vec![0.0; shape.c]),
                ],
                &[g("x"), pg("weight"), pg("bias")],
            );
            let what = format!("batch norm backward {shape} ×{batch} accumulate {acc}");
            let want = if acc { sum(&old, &dx) } else { dx.clone() };
            Tolerance::OfLargest(1e-4).assert(&format!("{what} dx"), &got[0], &want);
            Tolerance::OfLargest(1e-4).assert(&format!("{what} dγ"), &got[1], &dgamma);
            Tolerance::OfLargest(1e-4).assert(&format!("{what} dβ"), &got[2], &dbeta);
        }
    }
}
