//! The fast CPU path (`cpu::fast::FastNet`) against the CPU reference (`CpuNet`): every kernel
//! and fusion on odd shapes (channel counts and sizes that are not multiples of any vector width
//! or tile), every schedule (one thread, threads sharing each step, threads sharing samples), and
//! whole networks.

mod common;

use common::{max_abs_diff, random_params, rng, uniform};
use hourhand::cpu::CpuNet;
use hourhand::cpu::fast::plan::{ConvMethod, ConvWeights, Step};
use hourhand::cpu::fast::winograd;
use hourhand::cpu::fast::{ConvKernel, FastNet, Schedule, linear};
use hourhand::net::program::{Affine, Conv2d, Linear};
use hourhand::net::{NetConfig, Network, Op, Program, Shape, Weights};

fn conv(
    name: &str,
    input: &str,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Op {
    Op::Conv2d(Conv2d {
        name: name.into(),
        input: input.into(),
        output: name.into(),
        cin,
        cout,
        kernel: k,
        stride,
        pad,
        relu: false,
    })
}

fn relu(op: Op) -> Op {
    match op {
        Op::Conv2d(c) => Op::Conv2d(Conv2d { relu: true, ..c }),
        Op::Linear(l) => Op::Linear(Linear { relu: true, ..l }),
        other => other,
    }
}

fn linear(name: &str, input: &str, inputs: usize, outputs: usize) -> Op {
    Op::Linear(Linear {
        name: name.into(),
        input: input.into(),
        output: name.into(),
        inputs,
        outputs,
        relu: false,
    })
}

fn add(name: &str, a: &str, b: &str) -> Op {
    Op::Add {
        name: name.into(),
        a: a.into(),
        b: b.into(),
        output: name.into(),
    }
}

fn patch(name: &str, input: &str, (y, x, h, w): (usize, usize, usize, usize)) -> Op {
    Op::Patch {
        name: name.into(),
        input: input.into(),
        output: name.into(),
        y,
        x,
        h,
        w,
    }
}

/// An inference-form program with every op and fusion the fast path has, on odd shapes: direct
/// (whole and partial channel blocks and vectors, with and without a
/// fused pooling), im2col (stride 2, no padding), shifted 3×3 and 5×5 (9, 10, 11 channels),
/// pointwise convolutions writing a shifted one's padded input (rows of 16 and of 20 columns), a
/// "valid" shifted convolution, convolutions fused into a sum from either side, an upsampling
/// fused into a sum, per-channel maps in both layouts, pooling, patches, concatenation and fully
/// connected layers.
fn every_kernel() -> Program {
    let pool = |name: &str, input: &str| Op::MaxPool {
        name: name.into(),
        input: input.into(),
        output: name.into(),
        kernel: 2,
        stride: 2,
    };
    let affine = |name: &str, input: &str, channels: usize, relu: bool| {
        Op::Affine(Affine {
            name: name.into(),
            input: input.into(),
            output: name.into(),
            channels,
            relu,
        })
    };
    let ops = vec![
        // Direct (27 taps), read twice so not fused: 9×10×20.
        relu(conv("c1", "x", 3, 9, 3, 1, 1)),
        // Shifted, fused into s1; pointwise.
        conv("c2", "c1", 9, 10, 3, 1, 1),
        conv("c3", "c1", 9, 10, 1, 1, 0),
        add("s1", "c2", "c3"),
        affine("a1", "s1", 10, true),
        // Shifted 5×5, then a pooling that stays a step: 11×5×10.
        relu(conv("c4", "a1", 10, 11, 5, 1, 2)),
        pool("p1", "c4"),
        // Shifted without padding: 11×3×8.
        relu(conv("c5", "p1", 11, 11, 3, 1, 0)),
        // An upsampling fused into a sum.
        Op::Upsample {
            name: "u1".into(),
            input: "p1".into(),
            output: "u1".into(),
            factor: 2,
        },
        add("s2", "c4", "u1"),
        // Pointwise fused into s3 as its second operand.
        conv("c6", "s2", 11, 11, 1, 1, 0),
        add("s3", "s2", "c6"),
        // Im2col with stride 2: 7×4×9.
        relu(conv("c7", "s3", 11, 7, 3, 2, 0)),
        patch("q1", "s3", (1, 2, 5, 7)),
        relu(linear("l1", "q1", 385, 37)),
        patch("q2", "c5", (0, 1, 3, 3)),
        linear("l2", "q2", 99, 19),
        patch("q3", "c7", (0, 0, 4, 5)),
        linear("l3", "q3", 140, 5),
        // Direct with two whole channel blocks, a whole vector and a tail, pooling fused: 16×5×10.
        relu(conv("d1", "x", 3, 16, 3, 1, 1)),
        pool("p2", "d1"),
        patch("q4", "p2", (0, 0, 5, 10)),
        linear("l4", "q4", 800, 7),
        // Pointwise with its pooling fused (6×5×10), and pointwise + sum + pooling (11×5×10).
        relu(conv("c8", "s3", 11, 6, 1, 1, 0)),
        pool("p3", "c8"),
        patch("q6", "p3", (1, 1, 4, 9)),
        linear("l6", "q6", 216, 4),
        conv("c9", "s3", 11, 11, 1, 1, 0),
        add("s4", "c9", "s3"),
        pool("p4", "s4"),
        patch("q7", "p4", (0, 0, 5, 10)),
        linear("l7", "q7", 550, 2),
        // A pointwise convolution writing the padded input of a shifted one (`conv1x1+pad`),
        // on a plane of 16 columns, whose rows the blocked kernel writes in place: a "valid"
        // 5×5 to 11×6×16, then 13×6×16 and 9×6×16.
        relu(conv("u2", "x", 3, 11, 5, 1, 0)),
        relu(conv("c10", "u2", 11, 13, 1, 1, 0)),
        relu(conv("c11", "c10", 13, 9, 3, 1, 1)),
        patch("q8", "c11", (2, 3, 3, 13)),
        linear("l8", "q8", 351, 6),
        // The same on a plane of 20 columns, whose rows go through a tile copied out: 9×10×20,
        // then 5×10×20.
        conv("c12", "s2", 11, 9, 1, 1, 0),
        relu(conv("c13", "c12", 9, 5, 3, 1, 1)),
        patch("q9", "c13", (1, 2, 3, 17)),
        linear("l9", "q9", 255, 5),
        // Direct, a partial channel block.
        conv("d2", "x", 3, 5, 3, 1, 1),
        patch("q5", "d2", (2, 3, 4, 4)),
        linear("l5", "q5", 80, 3),
        Op::Concat {
            name: "cat".into(),
            inputs: ["l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"]
                .map(String::from)
                .to_vec(),
            output: "cat".into(),
        },
        // A per-channel map on feature vectors.
        affine("a2", "cat", 88, false),
        linear("out", "a2", 88, 9),
    ];
    Program::new(vec![("x".into(), Shape::new(3, 10, 20))], ops, "out").unwrap()
}

fn check(reference: &[f32], fast: &[f32], what: &str) {
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        scale > 1e-2,
        "{what}: degenerate outputs (max |y| = {scale})"
    );
    let diff = max_abs_diff(reference, fast);
    assert!(
        diff <= 2e-5 * scale.max(1.0),
        "{what}: max abs difference {diff} (outputs up to {scale})"
    );
}

const SCHEDULES: [Schedule; 3] = [Schedule::Alone, Schedule::Steps, Schedule::Samples];

/// `fast` on `x` under every schedule: each within tolerance of `want`, and all the same bits
/// (training's validation figures, and so its choice of best epoch, must not depend on how the
/// threads shared the pass, which depends on what else is running).
fn every_schedule(fast: &mut FastNet, x: &[f32], batch: usize, want: &[f32]) {
    let mut outputs = Vec::new();
    for schedule in SCHEDULES {
        let pass = fast.forward_scheduled(&[x], batch, Some(schedule)).unwrap();
        assert!(pass.schedule == schedule || rayon::current_num_threads() == 1);
        check(want, &pass.output, &format!("batch {batch}, {schedule:?}"));
        outputs.push(pass.output);
    }
    assert!(
        outputs.windows(2).all(|w| w[0] == w[1]),
        "batch {batch}: schedules differ"
    );
}

#[test]
fn every_kernel_matches_the_reference_on_odd_shapes_and_every_schedule() {
    let program = every_kernel();
    let params = random_params(&program, &mut rng(11));
    let reference = CpuNet::new(program.clone(), params.clone());
    for kernel in ConvKernel::runnable() {
        every_kernel_with(&program, &params, &reference, kernel);
    }
}

/// Weights that f16 holds exactly (as the bundled ones) put the fully connected layers on the
/// f16 GEMV up to its batch, where the CPU has one; past it, and elsewhere, on the f32 GEMM.
#[test]
fn fully_connected_layers_read_f16_weights_where_exact() {
    let program = every_kernel();
    let mut params = random_params(&program, &mut rng(12));
    for t in params.values_mut() {
        t.data
            .iter_mut()
            .for_each(|v| *v = half::f16::from_f32(*v).to_f32());
    }
    let reference = CpuNet::new(program.clone(), params.clone());
    let mut fast = FastNet::new(program.clone(), &params);
    let linears: Vec<_> = fast
        .plan()
        .steps
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Linear(l) => Some(l.weight_f16.is_some()),
            _ => None,
        })
        .collect();
    assert!(linears.len() >= 2);
    assert!(linears.iter().all(|&f16| f16 == linear::half::available()));
    for batch in [1, linear::half::MAX_BATCH, linear::half::MAX_BATCH + 1] {
        let x = uniform(&mut rng(30 + batch as u64), batch * 3 * 10 * 20, -1.0, 1.0);
        let want = reference.forward(&[&x], batch).unwrap();
        every_schedule(&mut fast, &x, batch, &want);
    }
    // Weights f16 does not hold stay f32 only.
    let params = random_params(&program, &mut rng(11));
    let fast = FastNet::new(program, &params);
    for (_, step) in &fast.plan().steps {
        if let Step::Linear(l) = step {
            assert!(l.weight_f16.is_none());
        }
    }
}

/// Fully connected layers whose rows would lie a multiple of 4 KB apart (1024 and 2048 inputs)
/// keep their weights in padded rows; an odd number of outputs, at batch 1, a few samples and
/// more than the f16 path takes, against the reference.
#[test]
fn fully_connected_layers_with_padded_rows_match_the_reference() {
    let ops = vec![
        relu(linear("l1", "x", 1024, 37)),
        linear("out", "l1", 37, 2048),
        linear("out2", "out", 2048, 5),
    ];
    let program = Program::new(vec![("x".into(), Shape::new(4, 16, 16))], ops, "out2").unwrap();
    let params = random_params(&program, &mut rng(13));
    let reference = CpuNet::new(program.clone(), params.clone());
    let mut fast = FastNet::new(program, &params);
    let strides: Vec<(usize, usize)> = fast
        .plan()
        .steps
        .iter()
        .filter_map(|(_, s)| match s {
            Step::Linear(l) => Some((l.inputs, l.row_stride)),
            _ => None,
        })
        .collect();
    assert_eq!(strides, [(1024, 1040), (37, 37), (2048, 2064)]);
    for batch in [1, 3, 32] {
        let x = uniform(&mut rng(40 + batch as u64), batch * 1024, -1.0, 1.0);
        let want = reference.forward(&[&x], batch).unwrap();
        every_schedule(&mut fast, &x, batch, &want);
    }
}

fn every_kernel_with(
    program: &Program,
    params: &hourhand::net::Params,
    reference: &CpuNet,
    kernel: ConvKernel,
) {
    let mut fast = FastNet::with_kernel(program.clone(), params, kernel);
    // Packed weights where, and only where, the blocked kernel runs.
    for (_, step) in &fast.plan().steps {
        if let Step::Conv(c) = step {
            let blocked = match kernel {
                ConvKernel::Blocked => {
                    !matches!(c.method, ConvMethod::Im2col | ConvMethod::Winograd)
                }
                ConvKernel::ShiftedBlocked => c.method == ConvMethod::Shifted,
                ConvKernel::Gemm => false,
            };
            assert_eq!(
                c.weights.packed().is_some(),
                blocked,
                "{kernel:?} {:?}",
                c.method
            );
            assert_eq!(
                matches!(c.weights, ConvWeights::Winograd(_)),
                c.method == ConvMethod::Winograd
            );
        }
    }

    // The plan uses every method and fusion this test is meant to cover.
    let steps: Vec<&Step> = fast.plan().steps.iter().map(|(_, s)| s).collect();
    // Winograd's F(2×2, 3×3) takes the 3×3, pad-1 convolutions of planes 16 and 20 wide (rows
    // of 8 tiles two to a vector, of 10 in a masked one), fused into a sum too; only the
    // blocked kernel's plans on AVX-512.
    let winograd = kernel == ConvKernel::Blocked && winograd::runs_here();
    let winograds: Vec<(usize, bool)> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Conv(c) if c.method == ConvMethod::Winograd => {
                Some((c.to.w, c.accumulate.is_some()))
            }
            _ => None,
        })
        .collect();
    if winograd {
        for want in [(16, false), (20, false), (20, true)] {
            assert!(
                winograds.contains(&want),
                "no Winograd convolution {want:?}"
            );
        }
    } else {
        assert!(winograds.is_empty());
    }
    for method in [
        ConvMethod::Pointwise,
        ConvMethod::Shifted,
        ConvMethod::Im2col,
        ConvMethod::Direct,
    ] {
        assert!(
            steps
                .iter()
                .any(|s| matches!(s, Step::Conv(c) if c.method == method)),
            "no {method:?} convolution"
        );
    }
    let fused = steps
        .iter()
        .filter(|s| matches!(s, Step::Conv(c) if c.accumulate.is_some()))
        .count();
    assert_eq!(fused, 3, "every conv + sum pair fused");
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Add { factor: 2, .. }))
    );
    assert!(!steps.iter().any(|s| matches!(s, Step::Upsample { .. })));
    for method in [ConvMethod::Direct, ConvMethod::Pointwise] {
        assert!(
            steps
                .iter()
                .any(|s| matches!(s, Step::Conv(c) if c.pool && c.method == method)),
            "no {method:?} convolution with its pooling fused"
        );
    }
    assert!(
        steps
            .iter()
            .any(|s| matches!(s, Step::Conv(c) if c.pool && c.accumulate.is_some()))
    );
    for width in [16, 20] {
        assert!(
            steps.iter().any(|s| matches!(s, Step::Conv(c)
                if c.method == ConvMethod::Pointwise && c.pad_output == 1 && c.to.w == width)),
            "no pointwise convolution writing a padded output of {width} columns"
        );
    }
    let pools = steps
        .iter()
        .filter(|s| matches!(s, Step::MaxPool { .. }))
        .count();
    assert_eq!(
        pools, 1,
        "poolings of direct and pointwise convolutions are fused, the shifted one's not"
    );

    for batch in [1, 3, 5] {
        let x = uniform(&mut rng(batch as u64), batch * 3 * 10 * 20, -1.0, 1.0);
        let want = reference.forward(&[&x], batch).unwrap();
        every_schedule(&mut fast, &x, batch, &want);
    }
}

/// Shifted convolutions whose output rows are whole register blocks (48 columns: three AVX2
/// blocks, one AVX-512 block) write them from the registers to the output: with ReLU, fused
/// into a sum, 3×3 and 5×5, odd channel counts, beside one (no padding, 46 columns) that goes
/// through a tile; every kernel, batch and schedule against the reference.
#[test]
fn shifted_rows_of_whole_blocks_match_the_reference() {
    let ops = vec![
        // A pointwise convolution that only a shifted one reads writes its padded input.
        relu(conv("p1", "x", 9, 12, 1, 1, 0)),
        relu(conv("c1", "p1", 12, 13, 3, 1, 1)),
        conv("c2", "c1", 13, 9, 3, 1, 1),
        conv("c3", "x", 9, 9, 1, 1, 0),
        add("s1", "c2", "c3"),
        conv("p2", "s1", 9, 10, 1, 1, 0),
        relu(conv("c4", "p2", 10, 10, 5, 1, 2)),
        conv("c5", "c4", 10, 9, 3, 1, 1),
        add("s2", "s1", "c5"),
        relu(conv("out", "s2", 9, 11, 3, 1, 0)),
    ];
    let program = Program::new(vec![("x".into(), Shape::new(9, 5, 48))], ops, "out").unwrap();
    let params = random_params(&program, &mut rng(13));
    let reference = CpuNet::new(program.clone(), params.clone());
    for kernel in ConvKernel::runnable() {
        let mut fast = FastNet::with_kernel(program.clone(), &params, kernel);
        let shifted: Vec<(usize, bool)> = fast
            .plan()
            .steps
            .iter()
            .filter_map(|(_, s)| match s {
                Step::Conv(c) if c.method == ConvMethod::Shifted => {
                    Some((c.to.w, c.accumulate.is_some()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(shifted.len(), 5, "{kernel:?}: {shifted:?}");
        assert!(shifted.contains(&(48, true)) && shifted.contains(&(46, false)));
        // Both pointwise convolutions pad their output (pad 1 and 2), from the blocked kernel's
        // tile as from the `gemm` crate's; the shifted convolutions read by nothing but the
        // next one keep their pad step.
        let padded: Vec<usize> = fast
            .plan()
            .steps
            .iter()
            .filter_map(|(_, s)| match s {
                Step::Conv(c) if c.pad_output > 0 => Some(c.pad_output),
                _ => None,
            })
            .collect();
        let pads = fast
            .plan()
            .steps
            .iter()
            .filter(|(_, s)| matches!(s, Step::Pad { .. }))
            .count();
        assert_eq!((padded.as_slice(), pads), (&[1, 2][..], 3), "{kernel:?}");
        for batch in [1, 2, 3] {
            let x = uniform(&mut rng(40 + batch as u64), batch * 9 * 5 * 48, -1.0, 1.0);
            let want = reference.forward(&[&x], batch).unwrap();
            every_schedule(&mut fast, &x, batch, &want);
        }
    }
}

/// A network whose widths are odd or not multiples of 8 wherever the config allows, so the
/// shifted convolutions see 9 and 11 input channels.
fn odd_config() -> NetConfig {
    NetConfig {
        input_size: 32,
        stem_channels: 5,
        res1_channels: 18,
        features: 22,
        hourglass_order: 2,
        head_channels: 7,
        patch_grid: 2,
        local_features: 13,
        global_features: 11,
        joints: 5,
    }
}

fn network(config: &NetConfig, seed: u64) -> Network {
    let mut w = Weights::init(config, seed).unwrap();
    w.perturb_batch_norm(seed + 100);
    Network::from_weights(&w)
}

#[test]
fn odd_network_matches_the_reference_at_every_batch_and_schedule() {
    let net = network(&odd_config(), 3);
    let reference = CpuNet::from_network(&net);
    for kernel in ConvKernel::runnable() {
        let mut fast = FastNet::with_kernel(net.program.clone(), &net.params, kernel);
        for batch in [1, 2, 5] {
            let x = uniform(&mut rng(20 + batch as u64), batch * 32 * 32, -1.0, 1.0);
            let want = reference.forward(&[&x], batch).unwrap();
            every_schedule(&mut fast, &x, batch, &want);
            // The automatic schedule too, and a second run on the same arena.
            check(&want, &fast.forward(&[&x], batch).unwrap(), "automatic");
            check(&want, &fast.forward(&[&x], batch).unwrap(), "again");
        }
    }
}

#[test]
fn default_network_matches_the_reference() {
    let net = network(&NetConfig::default(), 5);
    let reference = CpuNet::from_network(&net);
    let mut fast = FastNet::from_network(&net);
    let batch = 3;
    let x = uniform(&mut rng(6), batch * 128 * 128, -1.0, 1.0);
    let want = reference.forward(&[&x], batch).unwrap();
    let got = fast.forward(&[&x], batch).unwrap();
    check(&want, &got, "default network");
    // Samples stay apart.
    assert!(max_abs_diff(&got[..105], &got[105..210]) > 1e-4);
    let one = fast
        .forward_scheduled(&[&x[..128 * 128]], 1, Some(Schedule::Steps))
        .unwrap();
    check(
        &want[..105],
        &one.output,
        "batch of one, threads sharing steps",
    );
}

#[test]
fn bad_inputs_are_refused_not_run() {
    let net = network(&NetConfig::tiny(), 1);
    let mut fast = FastNet::from_network(&net);
    let x = vec![0.0; 32 * 32];
    assert!(fast.forward(&[&x], 0).is_err());
    assert!(fast.forward(&[&x], 2).is_err());
    assert!(fast.forward(&[], 1).is_err());
    assert_eq!(fast.forward(&[&x], 1).unwrap().len(), 15);
}

#[test]
fn per_step_times_name_every_step() {
    let net = network(&NetConfig::tiny(), 2);
    let mut fast = FastNet::from_network(&net);
    let x = uniform(&mut rng(3), 4 * 32 * 32, -1.0, 1.0);
    let (y, times, _) = fast.forward_timed(&[&x], 4).unwrap();
    assert_eq!(y, fast.forward(&[&x], 4).unwrap());
    assert_eq!(times.len(), fast.plan().steps.len());
    assert!(times.iter().all(|t| t.ms >= 0.0 && !t.op.is_empty()));
    // Where samples were split, the trunk's figures are the first thread's share.
    let flops: u64 = times.iter().map(|t| t.flops).sum();
    let per_frame = net.flops_per_frame();
    assert!((2 * per_frame..=4 * per_frame).contains(&flops), "{flops}");
    let (_, times, _) = fast.forward_timed(&[&x[..32 * 32]], 1).unwrap();
    assert_eq!(times.iter().map(|t| t.flops).sum::<u64>(), per_frame);
}
