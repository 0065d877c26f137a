//! The backward kernels of the convolution and the fully connected layer against the CPU
//! reference, on random inputs over odd shapes (channels 1–33, widths 5–19, kernels 1/3/5,
//! strides 1–2, padding 0–2, batches 1–5), through `run_dispatches` over host buffers.
//!
//! Tolerance: each element may differ by 1e-4 of the magnitude of its sum, `Σ|terms|`
//! (computed by running the CPU reference on absolute values), plus `|prefill|` where the
//! kernel adds to a buffer: f32 sums of a few thousand products in different orders differ by
//! about 1e-6 of that, while a wrong index or a lost term shows up at 1e-3 and more.
//!
//! Every output buffer (and scratch buffer) starts out filled with random values, so a kernel
//! that leaves an element unwritten, or adds where it should overwrite, fails.

mod common;

use std::collections::BTreeMap;

use common::{Tolerance, conv_op, gpu, rng, uniform};
use hourhand::cpu::conv2d::conv2d_backward;
use hourhand::cpu::linear::linear_backward;
use hourhand::gpu::GpuContext;
use hourhand::gpu::kernels::{Dispatch, Slot, conv2d_grad, linear_grad};
use hourhand::gpu::runner::run_dispatches;
use hourhand::net::Shape;
use hourhand::net::program::{Conv2d, Linear};

/// Element i within 1e-4 of the magnitude of its sum, `Σ|terms|`, plus 1e-6.
fn check(what: &str, got: &[f32], expected: &[f32], magnitude: &[f32]) {
    Tolerance::OfMagnitudes {
        tol: 1e-4,
        magnitudes: magnitude,
        floor: 1e-6,
    }
    .assert(what, got, expected);
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

fn add(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(x, y)| x + y).collect()
}

/// Runs `dispatches` with `buffers` and returns the slots in `read`.
fn run(
    ctx: &GpuContext,
    dispatches: &[Dispatch],
    buffers: BTreeMap<Slot, Vec<f32>>,
    read: &[Slot],
) -> BTreeMap<Slot, Vec<f32>> {
    run_dispatches(ctx, dispatches, &buffers, read).expect("the dispatches run")
}

/// (cin, cout, h, w, kernel, stride, pad, batch)
type ConvCase = (usize, usize, usize, usize, usize, usize, usize, usize);

const CONV_CASES: [ConvCase; 22] = [
    // Stride-1 3×3, padding 1, widths multiples of 4: the vec4 paths (dx also needs Cin a
    // multiple of 4). Widths 4, 8, 12, 16 (blocks of 8 columns with a half-empty last one).
    (4, 7, 5, 8, 3, 1, 1, 3),
    (12, 33, 7, 12, 3, 1, 1, 2),
    (8, 1, 9, 4, 3, 1, 1, 2),
    (36, 5, 3, 4, 3, 1, 1, 1),
    (1, 5, 6, 16, 3, 1, 1, 3), // the stem's shape: dw fast, dx general
    // Stride-1 unpadded 1×1 with planes multiples of 4: the vec4 paths.
    (4, 33, 5, 4, 1, 1, 0, 3),
    (36, 7, 3, 12, 1, 1, 0, 2),
    (5, 8, 4, 5, 1, 1, 0, 2),   // Cin 5: dx general, dw fast
    (8, 3, 20, 20, 1, 1, 0, 2), // 400 pixels: several reduction units per plane
    // Stride-1 3×3 and 1×1 off the fast paths (odd widths and planes, other padding).
    (1, 32, 17, 19, 3, 1, 1, 2),
    (7, 5, 9, 13, 3, 1, 1, 3),
    (33, 7, 6, 5, 3, 1, 1, 2),
    (4, 3, 8, 12, 3, 1, 0, 1),
    (5, 1, 7, 9, 3, 1, 2, 2),
    (7, 33, 5, 7, 1, 1, 0, 3),
    (1, 3, 19, 17, 1, 1, 0, 5),
    // The general path: strides, 5×5, padded 1×1.
    (3, 5, 7, 9, 3, 2, 1, 3),
    (5, 7, 9, 9, 1, 2, 0, 2),
    (3, 5, 9, 6, 5, 1, 2, 2),
    (7, 3, 11, 10, 5, 2, 2, 4),
    (5, 3, 5, 5, 5, 1, 0, 1), // one output pixel: the dw reduction is one chunk
    (3, 7, 6, 5, 1, 1, 1, 2),
];

fn conv_shapes(case: ConvCase) -> (Conv2d, Shape, Shape, usize) {
    let (cin, cout, h, w, k, s, pad, batch) = case;
    let out = |n: usize| (n + 2 * pad - k) / s + 1;
    (
        conv_op(cin, cout, k, s, pad, false),
        Shape::new(cin, h, w),
        Shape::new(cout, out(h), out(w)),
        batch,
    )
}

#[test]
fn conv2d_dx_matches_cpu_overwriting_and_accumulating() {
    let ctx = gpu();
    for (i, case) in CONV_CASES.into_iter().enumerate() {
        let (c, input, output, batch) = conv_shapes(case);
        let mut r = rng(100 + i as u64);
        let x = uniform(&mut r, batch * input.len(), -1.0, 1.0);
        let dy = uniform(&mut r, batch * output.len(), -1.0, 1.0);
        let w = uniform(&mut r, c.cout * c.cin * c.kernel * c.kernel, -1.0, 1.0);
        let prefill = uniform(&mut r, batch * input.len(), -1.0, 1.0);
        let expected = conv2d_backward(&x, &dy, batch, input, output, &c, &w, true).dx;
        let magnitude = conv2d_backward(
            &abs(&x),
            &abs(&dy),
            batch,
            input,
            output,
            &c,
            &abs(&w),
            true,
        )
        .dx;
        let (dys, ws, dxs) = (
            Slot::Grad("y".into()),
            Slot::Param("conv.weight".into()),
            Slot::Grad("x".into()),
        );
        for accumulate in [false, true] {
            let d = conv2d_grad::dispatch_dx(&c, input, output, batch, accumulate);
            let buffers = BTreeMap::from([
                (dys.clone(), dy.clone()),
                (ws.clone(), w.clone()),
                (dxs.clone(), prefill.clone()),
            ]);
            let got = run(&ctx, &d, buffers, std::slice::from_ref(&dxs));
            let what = format!("case {i} {case:?} dx (accumulate {accumulate})");
            if accumulate {
                check(
                    &what,
                    &got[&dxs],
                    &add(&expected, &prefill),
                    &add(&magnitude, &abs(&prefill)),
                );
            } else {
                check(&what, &got[&dxs], &expected, &magnitude);
            }
        }
    }
}

#[test]
fn conv2d_dw_db_match_cpu() {
    let ctx = gpu();
    let mut chunked = 0;
    for (i, case) in CONV_CASES.into_iter().enumerate() {
        let (c, input, output, batch) = conv_shapes(case);
        let mut r = rng(200 + i as u64);
        let x = uniform(&mut r, batch * input.len(), -1.0, 1.0);
        let dy = uniform(&mut r, batch * output.len(), -1.0, 1.0);
        let weights = c.cout * c.cin * c.kernel * c.kernel;
        let w = uniform(&mut r, weights, -1.0, 1.0);
        let expected = conv2d_backward(&x, &dy, batch, input, output, &c, &w, false);
        let magnitude = conv2d_backward(&abs(&x), &abs(&dy), batch, input, output, &c, &w, false);
        let (dws, dbs) = (
            Slot::ParamGrad("conv.weight".into()),
            Slot::ParamGrad("conv.bias".into()),
        );
        let mut buffers = BTreeMap::from([
            (Slot::Tensor("x".into()), x),
            (Slot::Grad("y".into()), dy),
            (dws.clone(), uniform(&mut r, weights, -1.0, 1.0)),
            (dbs.clone(), uniform(&mut r, c.cout, -1.0, 1.0)),
        ]);
        let scratch = conv2d_grad::scratch(&c, input, output, batch);
        chunked += !scratch.is_empty() as usize;
        for (slot, len) in scratch {
            buffers.insert(slot, uniform(&mut r, len, -1.0, 1.0));
        }
        let d = conv2d_grad::dispatch_dw(&c, input, output, batch);
        let got = run(&ctx, &d, buffers, &[dws.clone(), dbs.clone()]);
        check(
            &format!("case {i} {case:?} dw"),
            &got[&dws],
            &expected.dw,
            &magnitude.dw,
        );
        check(
            &format!("case {i} {case:?} db"),
            &got[&dbs],
            &expected.db,
            &magnitude.db,
        );
    }
    assert!(
        (1..CONV_CASES.len()).contains(&chunked),
        "the cases cover both a one-chunk and a chunked reduction"
    );
}

/// Every convolution of the default network takes a vec4 fast path (dx where it is needed,
/// i.e. Cin > 1), and the test cases exercise each kernel.
#[test]
fn network_convolutions_take_the_fast_paths() {
    use hourhand::gpu::kernels::Kernel;
    use hourhand::net::{NetConfig, Op, Program};
    let program = Program::lrhn(&NetConfig::default()).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    for op in &program.ops {
        let Op::Conv2d(c) = op else { continue };
        let (input, output) = (program.shape(&c.input), program.shape(&c.output));
        let dw = conv2d_grad::dispatch_dw(c, input, output, 64)[0].kernel;
        assert!(
            matches!(dw, Kernel::Conv2dDw3x3 | Kernel::Conv2dDwPointwise),
            "{}: {dw:?}",
            c.name
        );
        if c.cin > 1 {
            let dx = conv2d_grad::dispatch_dx(c, input, output, 64, false)[0].kernel;
            assert!(
                matches!(dx, Kernel::Conv2dDx3x3 | Kernel::Conv2dDxPointwise),
                "{}: {dx:?}",
                c.name
            );
        }
    }
    for case in CONV_CASES {
        let (c, input, output, batch) = conv_shapes(case);
        seen.insert(format!(
            "{:?}",
            conv2d_grad::dispatch_dx(&c, input, output, batch, false)[0].kernel
        ));
        for d in conv2d_grad::dispatch_dw(&c, input, output, batch) {
            seen.insert(format!("{:?}", d.kernel));
        }
    }
    let all: Vec<String> = Kernel::ALL
        .iter()
        .map(|k| format!("{k:?}"))
        .filter(|k| k.starts_with("Conv2dD"))
        .collect();
    for k in all {
        assert!(seen.contains(&k), "no test case runs {k}");
    }
}

/// (inputs, outputs, batch)
const LINEAR_CASES: [(usize, usize, usize); 6] = [
    (37, 13, 1),
    (5, 3, 2),
    (64, 8, 5),
    (33, 7, 4),
    (130, 65, 3),
    (1, 1, 7),
];

fn linear_op(inputs: usize, outputs: usize) -> Linear {
    Linear {
        name: "fc".into(),
        input: "x".into(),
        output: "y".into(),
        inputs,
        outputs,
        relu: false,
    }
}

#[test]
fn linear_dx_matches_cpu_overwriting_and_accumulating() {
    let ctx = gpu();
    for (i, (inputs, outputs, batch)) in LINEAR_CASES.into_iter().enumerate() {
        let l = linear_op(inputs, outputs);
        let mut r = rng(300 + i as u64);
        let x = uniform(&mut r, batch * inputs, -1.0, 1.0);
        let dy = uniform(&mut r, batch * outputs, -1.0, 1.0);
        let w = uniform(&mut r, outputs * inputs, -1.0, 1.0);
        let prefill = uniform(&mut r, batch * inputs, -1.0, 1.0);
        let expected = linear_backward(&x, &dy, batch, &l, &w, true).0;
        let magnitude = linear_backward(&abs(&x), &abs(&dy), batch, &l, &abs(&w), true).0;
        let dxs = Slot::Grad("x".into());
        for accumulate in [false, true] {
            let d = linear_grad::dispatch_dx(&l, batch, accumulate);
            let buffers = BTreeMap::from([
                (Slot::Grad("y".into()), dy.clone()),
                (Slot::Param("fc.weight".into()), w.clone()),
                (dxs.clone(), prefill.clone()),
            ]);
            let got = run(&ctx, &d, buffers, std::slice::from_ref(&dxs));
            let what = format!("case {i} {inputs}→{outputs} ×{batch} dx (accumulate {accumulate})");
            if accumulate {
                check(
                    &what,
                    &got[&dxs],
                    &add(&expected, &prefill),
                    &add(&magnitude, &abs(&prefill)),
                );
            } else {
                check(&what, &got[&dxs], &expected, &magnitude);
            }
        }
    }
}

#[test]
fn linear_dw_db_match_cpu() {
    let ctx = gpu();
    for (i, (inputs, outputs, batch)) in LINEAR_CASES.into_iter().enumerate() {
        let l = linear_op(inputs, outputs);
        let mut r = rng(400 + i as u64);
        let x = uniform(&mut r, batch * inputs, -1.0, 1.0);
        let dy = uniform(&mut r, batch * outputs, -1.0, 1.0);
        let w = uniform(&mut r, outputs * inputs, -1.0, 1.0);
        let (_, dw, db) = linear_backward(&x, &dy, batch, &l, &w, false);
        let (_, dw_mag, db_mag) = linear_backward(&abs(&x), &abs(&dy), batch, &l, &w, false);
        let (dws, dbs) = (
            Slot::ParamGrad("fc.weight".into()),
            Slot::ParamGrad("fc.bias".into()),
        );
        let buffers = BTreeMap::from([
            (Slot::Tensor("x".into()), x),
            (Slot::Grad("y".into()), dy),
            (dws.clone(), uniform(&mut r, outputs * inputs, -1.0, 1.0)),
            (dbs.clone(), uniform(&mut r, outputs, -1.0, 1.0)),
        ]);
        let d = linear_grad::dispatch_dw(&l, batch);
        let got = run(&ctx, &d, buffers, &[dws.clone(), dbs.clone()]);
        let what = format!("case {i} {inputs}→{outputs} ×{batch}");
        check(&format!("{what} dw"), &got[&dws], &dw, &dw_mag);
        check(&format!("{what} db"), &got[&dbs], &db, &db_mag);
    }
}
