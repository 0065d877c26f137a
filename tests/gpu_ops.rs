//! Every WGSL kernel against the CPU reference, on random inputs over several shapes, odd ones
//! included. Tolerance: 1e-4 absolute on outputs of unit size (f32 sums of up to a few thousand
//! products, accumulated in different orders); data-movement ops must match exactly.

mod common;

use common::{Tolerance, conv_op, gpu, random_params, rng, uniform};
use hourhand::cpu::CpuNet;
use hourhand::gpu::kernels::KernelSet;
use hourhand::gpu::kernels::conv2d::{takes_pool, takes_prologue};
use hourhand::gpu::schedule::schedule;
use hourhand::gpu::{GpuNet, half_weights};
use hourhand::net::program::{Affine, Conv2d, Linear};
use hourhand::net::{Op, Program, Shape};

/// Outputs of unit size: f32 sums in another order.
const UNIT: Tolerance = Tolerance::Absolute(1e-4);

/// Runs a one-op program on both backends and holds the GPU's output to the CPU's.
fn compare(
    what: &str,
    inputs: Vec<(&str, Shape)>,
    op: Op,
    batch: usize,
    seed: u64,
    tolerance: Tolerance,
) {
    compare_set(
        KernelSet::RegisterBlocked,
        what,
        inputs,
        op,
        batch,
        seed,
        tolerance,
    );
}

/// [`compare`] with the GPU running the variants of `set`.
fn compare_set(
    set: KernelSet,
    what: &str,
    inputs: Vec<(&str, Shape)>,
    op: Op,
    batch: usize,
    seed: u64,
    tolerance: Tolerance,
) {
    compare_program(set, what, inputs, vec![op], batch, seed, tolerance);
}

/// [`compare_set`] on a program of several ops (its output: the last op's).
fn compare_program(
    set: KernelSet,
    what: &str,
    inputs: Vec<(&str, Shape)>,
    ops: Vec<Op>,
    batch: usize,
    seed: u64,
    tolerance: Tolerance,
) {
    let out = ops
        .last()
        .expect("a test program has ops")
        .output()
        .to_string();
    let inputs: Vec<(String, Shape)> = inputs
        .into_iter()
        .map(|(n, s)| (n.to_string(), s))
        .collect();
    let program = Program::new(inputs.clone(), ops, &out).expect("valid test program");
    let mut r = rng(seed);
    let params = random_params(&program, &mut r);
    let data: Vec<Vec<f32>> = inputs
        .iter()
        .map(|(_, s)| uniform(&mut r, batch * s.len(), -1.0, 1.0))
        .collect();
    let refs: Vec<&[f32]> = data.iter().map(Vec::as_slice).collect();
    // The "-f16" sets compute with the weights rounded to f16; so does their reference.
    let reference = if set.f16_weights() {
        half_weights::rounded(&program, &params)
    } else {
        params.clone()
    };
    let expected = CpuNet::new(program.clone(), reference)
        .forward(&refs, batch)
        .unwrap();
    let mut net = GpuNet::new(gpu().with_kernels(set), program, &params).unwrap();
    let got = net.forward(&refs, batch).unwrap();
    tolerance.assert(what, &got, &expected);
}

#[test]
fn conv2d_matches_cpu() {
    // (cin, cout, h, w, kernel, stride, pad, relu, batch)
    let cases = [
        (1, 32, 17, 19, 3, 1, 1, true, 2),
        (3, 5, 7, 9, 3, 2, 1, false, 3),
        (6, 7, 5, 13, 1, 1, 0, true, 1),
        (2, 3, 9, 6, 5, 1, 2, false, 2),
        (4, 4, 8, 8, 3, 3, 0, true, 1),
        (33, 9, 6, 7, 3, 1, 1, false, 2),
        (17, 10, 3, 3, 1, 1, 0, true, 3),
        (3, 6, 7, 10, 3, 1, 0, true, 2),
        (2, 5, 6, 6, 3, 1, 2, false, 1),
        (5, 6, 9, 9, 1, 2, 0, false, 2),
        // Past one 64 × 64 tile of the tiled set in channels and pixels, taps not a multiple
        // of its 16-tap step.
        (5, 70, 9, 10, 3, 2, 1, true, 3),
        (24, 65, 9, 9, 1, 1, 0, false, 1),
    ];
    for (i, (cin, cout, h, w, kernel, stride, pad, relu, batch)) in cases.into_iter().enumerate() {
        let op = Op::Conv2d(conv_op(cin, cout, kernel, stride, pad, relu));
        for set in KernelSet::ALL {
            let what = format!("{set} case {i} {cin}→{cout} {h}×{w} k{kernel} s{stride} p{pad}");
            let input = vec![("x", Shape::new(cin, h, w))];
            compare_set(set, &what, input, op.clone(), batch, i as u64, UNIT);
        }
    }
}

#[test]
fn linear_matches_cpu() {
    for (i, (inputs, outputs, relu, batch)) in [
        (37, 13, true, 1),
        (64, 8, false, 5),
        (2048, 256, true, 3),
        (5, 105, false, 7),
        (1024, 1024, true, 2),
        // Past the tiled set's split-K batches: the layer as a tiled 1×1 convolution there, and
        // still a split-K GEMV in the blocked-gemv set.
        (70, 67, true, 19),
    ]
    .into_iter()
    .enumerate()
    {
        let op = Op::Linear(Linear {
            name: "fc".into(),
            input: "x".into(),
            output: "y".into(),
            inputs,
            outputs,
            relu,
        });
        for set in KernelSet::ALL {
            let what = format!("{set} case {i} {inputs}→{outputs} batch {batch}");
            let input = vec![("x", Shape::flat(inputs))];
            compare_set(set, &what, input, op.clone(), batch, 10 + i as u64, UNIT);
        }
    }
}

#[test]
fn linear_reads_conv_shaped_input_flattened() {
    let op = Op::Linear(Linear {
        name: "fc".into(),
        input: "x".into(),
        output: "y".into(),
        inputs: 3 * 5 * 7,
        outputs: 9,
        relu: false,
    });
    compare("fc", vec![("x", Shape::new(3, 5, 7))], op, 3, 20, UNIT);
}

#[test]
fn max_pool_matches_cpu() {
    for (i, (shape, kernel, stride, batch)) in [
        (Shape::new(3, 9, 11), 2, 2, 2),
        (Shape::new(2, 8, 8), 3, 1, 1),
        (Shape::new(5, 4, 6), 2, 2, 3),
    ]
    .into_iter()
    .enumerate()
    {
        let op = Op::MaxPool {
            name: "pool".into(),
            input: "x".into(),
            output: "y".into(),
            kernel,
            stride,
        };
        let what = format!("case {i}");
        compare(
            &what,
            vec![("x", shape)],
            op,
            batch,
            30 + i as u64,
            Tolerance::Exact,
        );
    }
}

#[test]
fn upsample_matches_cpu() {
    for (i, (shape, factor, batch)) in [(Shape::new(3, 5, 7), 2, 2), (Shape::new(2, 3, 3), 3, 1)]
        .into_iter()
        .enumerate()
    {
        let op = Op::Upsample {
            name: "up".into(),
            input: "x".into(),
            output: "y".into(),
            factor,
        };
        let what = format!("case {i}");
        compare(
            &what,
            vec![("x", shape)],
            op,
            batch,
            40 + i as u64,
            Tolerance::Exact,
        );
    }
}

#[test]
fn add_matches_cpu() {
    let s = Shape::new(5, 7, 3);
    let op = Op::Add {
        name: "add".into(),
        a: "a".into(),
        b: "b".into(),
        output: "y".into(),
    };
    compare("add", vec![("a", s), ("b", s)], op, 3, 50, Tolerance::Exact);
}

/// The inference schedule's fusions against the unfused CPU reference: an affine (with and
/// without ReLU) into the convolution after it, whose padding must stay zero although the
/// affine shifts; the sum after it into its epilogue, and the pooling after that; an
/// upsampling into the sum after it.
#[test]
fn fused_ops_match_cpu() {
    // (cin, cout, h, w, kernel, stride, pad, relu, batch): 3×3 with padding, 1×1, a strided
    // 5×5 (the general register-blocked entry point), and past one tile of the tiled set;
    // then outputs of even sides, whose 2×2 pooling the tiled sets fuse too (over several
    // pixel tiles, and past one channel tile).
    let cases = [
        (3, 5, 7, 9, 3, 1, 1, true, 2),
        (6, 7, 5, 13, 1, 1, 0, false, 1),
        (2, 3, 9, 6, 5, 2, 2, true, 2),
        (5, 70, 9, 10, 3, 2, 1, true, 3),
        (4, 6, 8, 10, 3, 1, 1, true, 2),
        (3, 70, 12, 6, 1, 1, 0, false, 3),
    ];
    for (i, (cin, cout, h, w, kernel, stride, pad, relu, batch)) in cases.into_iter().enumerate() {
        let out = Shape::new(
            cout,
            (h + 2 * pad - kernel) / stride + 1,
            (w + 2 * pad - kernel) / stride + 1,
        );
        let ops = vec![
            Op::Affine(Affine {
                name: "bn".into(),
                input: "x".into(),
                output: "bn".into(),
                channels: cin,
                relu,
            }),
            Op::Conv2d(Conv2d {
                input: "bn".into(),
                output: "conv".into(),
                ..conv_op(cin, cout, kernel, stride, pad, false)
            }),
            Op::Add {
                name: "sum".into(),
                a: "skip".into(),
                b: "conv".into(),
                output: "sum".into(),
            },
            Op::MaxPool {
                name: "pool".into(),
                input: "sum".into(),
                output: "pool".into(),
                kernel: 2,
                stride: 2,
            },
        ];
        let inputs = vec![("x", Shape::new(cin, h, w)), ("skip", out)];
        let program = Program::new(
            inputs.iter().map(|(n, s)| (n.to_string(), *s)).collect(),
            ops.clone(),
            "pool",
        )
        .unwrap();
        for set in KernelSet::ALL {
            let nodes = schedule(&program, batch, set).unwrap();
            let Op::Conv2d(conv) = &ops[1] else {
                unreachable!()
            };
            // The register-blocked 3×3 and general kernels take no prologue, and no
            // register-blocked kernel a pooling.
            let expected =
                1 + usize::from(!takes_prologue(conv, set)) + usize::from(!takes_pool(set, out));
            assert_eq!(nodes.len(), expected, "{set}: the fused nodes");
            let what =
                format!("{set} fused case {i} {cin}→{cout} {h}×{w} k{kernel} s{stride} p{pad}");
            compare_program(
                set,
                &what,
                inputs.clone(),
                ops.clone(),
                batch,
                70 + i as u64,
                UNIT,
            );
        }
    }
    for (i, upsampled_first) in [false, true].into_iter().enumerate() {
        let (big, small) = (Shape::new(3, 6, 10), Shape::new(3, 3, 5));
        let (a, b) = if upsampled_first {
            ("up", "a")
        } else {
            ("a", "up")
        };
        let ops = vec![
            Op::Upsample {
                name: "up".into(),
                input: "low".into(),
                output: "up".into(),
                factor: 2,
            },
            Op::Add {
                name: "sum".into(),
                a: a.into(),
                b: b.into(),
                output: "sum".into(),
            },
        ];
        let inputs = vec![("a", big), ("low", small)];
        for set in KernelSet::ALL {
            let what = format!("{set} upsampling fused into a sum, case {i}");
            compare_program(
                set,
                &what,
                inputs.clone(),
                ops.clone(),
                2,
                80 + i as u64,
                Tolerance::Exact,
            );
        }
    }
}

#[test]
fn affine_matches_cpu() {
    for (i, relu) in [false, true].into_iter().enumerate() {
        let op = Op::Affine(Affine {
            name: "bn".into(),
            input: "x".into(),
            output: "y".into(),
            channels: 5,
            relu,
        });
        let what = format!("relu {relu}");
        let (shape, one_fma) = (Shape::new(5, 7, 9), Tolerance::Absolute(1e-6));
        compare(&what, vec![("x", shape)], op, 2, 60 + i as u64, one_fma);
    }
}

#[test]
fn patch_matches_cpu() {
    for (i, (y, x, h, w)) in [(2, 3, 4, 5), (0, 0, 9, 11), (8, 10, 1, 1)]
        .into_iter()
        .enumerate()
    {
        let op = Op::Patch {
            name: "patch".into(),
            input: "x".into(),
            output: "y".into(),
            y,
            x,
            h,
            w,
        };
        let (what, shape) = (format!("case {i}"), Shape::new(3, 9, 11));
        compare(
            &what,
            vec![("x", shape)],
            op,
            2,
            70 + i as u64,
            Tolerance::Exact,
        );
    }
}

#[test]
fn concat_matches_cpu() {
    let op = Op::Concat {
        name: "cat".into(),
        inputs: vec!["a".into(), "b".into(), "c".into()],
        output: "y".into(),
    };
    let inputs = vec![
        ("a", Shape::flat(3)),
        ("b", Shape::new(2, 2, 2)),
        ("c", Shape::flat(5)),
    ];
    compare("concat", inputs, op, 3, 80, Tolerance::Exact);
}

#[test]
fn training_form_ops_are_refused_with_a_clear_error() {
    let program = Program::new(
        vec![("x".into(), Shape::new(2, 3, 3))],
        vec![Op::Relu {
            name: "relu".into(),
            input: "x".into(),
            output: "y".into(),
        }],
        "y",
    )
    .unwrap();
    let err = GpuNet::new(gpu(), program, &Default::default())
        .err()
        .expect("relu has no kernel");
    assert!(err.to_string().contains("lower the program"), "{err}");
}

#[test]
fn peak_kernel_counts_exactly() {
    use hourhand::gpu::kernels::peak;
    let (invocations, iterations) = (1037, 100);
    let (values, _) = peak::run(&gpu(), invocations, iterations).unwrap();
    assert_eq!(values.len(), invocations as usize);
    for (idx, v) in values.iter().enumerate() {
        assert_eq!(
            *v,
            peak::expected(idx as u32, iterations),
            "invocation {idx}"
        );
    }
}

#[test]
fn loose_dispatches_run_over_host_buffers() {
    use hourhand::gpu::kernels::{Slot, max_pool};
    use std::collections::BTreeMap;
    let (input, output) = (Shape::new(3, 7, 5), Shape::new(3, 3, 2));
    let x = uniform(&mut rng(3), 2 * input.len(), -1.0, 1.0);
    let (xs, ys) = (Slot::Tensor("x".into()), Slot::Tensor("y".into()));
    let d = max_pool::dispatch(input, output, 2, 2, 2, xs.clone(), ys.clone());
    let buffers = BTreeMap::from([(xs, x.clone()), (ys.clone(), vec![0.0; 2 * output.len()])]);
    let got =
        hourhand::gpu::runner::run_dispatches(&gpu(), &[d], &buffers, std::slice::from_ref(&ys))
            .unwrap();
    let expected = hourhand::cpu::max_pool::max_pool(&x, 2, input, output, 2, 2);
    assert_eq!(got[&ys], expected);
}

/// The rules themselves fail when they should: a test whose tolerance cannot fail tests nothing.
#[test]
fn tolerance_rules_fail_past_their_allowance() {
    let fails = |t: Tolerance, got: &[f32], want: &[f32]| {
        std::panic::catch_unwind(|| t.assert("t", got, want)).is_err()
    };
    assert!(fails(Tolerance::OfLargest(1e-3), &[1.0, 2.01], &[1.0, 2.0]));
    assert!(!fails(
        Tolerance::OfLargest(1e-3),
        &[1.0, 2.001],
        &[1.0, 2.0]
    ));
    assert!(fails(Tolerance::Exact, &[1.0], &[1.000_001]));
    assert!(
        fails(Tolerance::Absolute(1.0), &[0.0], &[0.0]),
        "an all-zero reference"
    );
    assert!(
        fails(Tolerance::Absolute(1.0), &[f32::NAN], &[1.0]),
        "a NaN"
    );
    let magnitudes = [100.0];
    let per_sum = Tolerance::OfMagnitudes {
        tol: 1e-2,
        magnitudes: &magnitudes,
        floor: 0.0,
    };
    assert!(!fails(per_sum, &[0.5], &[1e-4]));
    assert!(fails(per_sum, &[1.5], &[1e-4]));
}
