//! The `hourhand` binary as a user runs it.

use std::path::PathBuf;

mod common;

use common::{hourhand, read_numbers, stderr, stdout};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("cli", name)
}

#[test]
fn info_lists_adapters_the_choice_and_the_network() {
    let o = hourhand(&["info"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for needle in [
        "GPU adapters found by wgpu",
        "picked:",
        "because:",
        "parameters: 3879305",
        "GFLOP per frame",
        // lavapipe is a CPU device: the register blocks, and what later variants would use.
        "kernels: register-blocked",
        // ... and a software renderer, so the network runs on the CPU backend.
        "infer and train: on the CPU backend",
        "adapter features: shader-f16",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }
}

#[test]
fn init_writes_weights_that_load_and_never_overwrites() {
    let dir = scratch("init");
    let w = dir.join("w.safetensors");
    let w_str = w.to_str().unwrap();
    let o = hourhand(&["init", "--out", w_str, "--seed", "1", "--storage", "f16"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let first = std::fs::read(&w).unwrap();
    assert!(first.len() < 16_000_000);

    let o = hourhand(&["init", "--out", w_str, "--seed", "2"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read(&w).unwrap(),
        first,
        "the existing file must be untouched"
    );

    let o = hourhand(&["info", "--backend", "cpu", "--weights", w_str]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(w_str));
    // A file that names no label convention is the first generation's, as init's are.
    assert!(stdout(&o).contains("labels: anatomical"), "{}", stdout(&o));
}

#[test]
fn a_corrupt_weights_file_is_a_clear_error() {
    let dir = scratch("corrupt");
    let w = dir.join("broken.safetensors");
    std::fs::write(&w, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    let o = hourhand(&[
        "bench",
        "--backend",
        "cpu",
        "--weights",
        w.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("broken.safetensors") && err.contains("not a valid safetensors file"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bench_json_has_the_documented_fields_for_both_backends() {
    let o = hourhand(&[
        "bench",
        "--json",
        "--seconds",
        "0",
        "--batch",
        "1,2",
        "--check",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 4, "GPU and CPU at two batch sizes");
    for r in &rows {
        for field in [
            "backend",
            "adapter",
            "batch",
            "fps",
            "ms_per_batch",
            "gflops",
        ] {
            assert!(r.get(field).is_some(), "{field} missing in {r}");
        }
        assert!(r["fps"].as_f64().unwrap() > 0.0);
    }
    assert!(rows.iter().any(|r| r["backend"] == "cpu"));
    // CPU rows name the convolution kernel this CPU runs.
    let cpu_kernel = hourhand::cpu::fast::ConvKernel::best().name();
    assert!(
        rows.iter()
            .filter(|r| r["backend"] == "cpu")
            .all(|r| r["kernels"] == cpu_kernel),
        "{rows:?}"
    );
    let gpu: Vec<_> = rows.iter().filter(|r| r["backend"] != "cpu").collect();
    assert_eq!(gpu.len(), 2);
    assert!(
        gpu.iter().all(|r| r["objects_created_while_timing"] == 0),
        "steady state must allocate nothing: {gpu:?}"
    );
    // --check: the GPU's joints against the CPU backend's, and the kernel set named.
    for r in &gpu {
        let (diff, scale) = (
            r["max_abs_diff_vs_cpu"].as_f64(),
            r["max_abs_output"].as_f64(),
        );
        assert!(diff.unwrap() <= 1e-4 * scale.unwrap().max(1.0), "{r}");
        // lavapipe is a CPU device: it keeps the register-blocked kernels.
        assert_eq!(r["kernels"], "register-blocked", "{r}");
    }
}

#[test]
fn bench_can_force_the_tiled_kernels_and_checks_them() {
    let o = hourhand(&[
        "bench",
        "--json",
        "--seconds",
        "0",
        "--batch",
        "1",
        "--check",
        "--no-cpu",
        "--kernels",
        "tiled",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(r["kernels"], "tiled", "{r}");
    let (diff, scale) = (
        r["max_abs_diff_vs_cpu"].as_f64(),
        r["max_abs_output"].as_f64(),
    );
    assert!(diff.unwrap() <= 1e-4 * scale.unwrap().max(1.0), "{r}");
    // A batch past the device's binding limit is a row saying so; the command goes on.
    let o = hourhand(&[
        "bench",
        "--json",
        "--seconds",
        "0",
        "--batch",
        "100",
        "--no-cpu",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(
        r["refused"]
            .as_str()
            .unwrap()
            .contains("use a batch of at most"),
        "{r}"
    );
    let o = hourhand(&["bench", "--kernels", "fastest"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("known: register-blocked, blocked-gemv, tiled"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bench_check_without_a_gpu_pass_is_refused() {
    for args in [
        &["bench", "--backend", "cpu", "--check"][..],
        &["bench", "--train", "--check", "--batch", "1"][..],
    ] {
        let o = hourhand(args);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("--check compares the GPU backend's inference"),
            "{}",
            stderr(&o)
        );
    }
}

#[test]
fn bench_per_layer_reports_every_layer() {
    let o = hourhand(&[
        "bench",
        "--json",
        "--seconds",
        "0",
        "--batch",
        "1",
        "--no-cpu",
        "--per-layer",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let layers: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("layer").is_some())
        .collect();
    // 88 ops, 27 of them fused into another's kernel: each named once, as a layer or fused.
    let mut named: Vec<&str> = layers
        .iter()
        .flat_map(|l| {
            let fused = l["fused"].as_array().into_iter().flatten();
            std::iter::once(&l["layer"]).chain(fused)
        })
        .map(|v| v.as_str().expect("names are strings"))
        .collect();
    named.sort_unstable();
    assert_eq!(named.len(), 88, "{named:?}");
    named.dedup();
    assert_eq!(named.len(), 88, "an op named twice");
    assert!(
        layers
            .iter()
            .any(|l| l["layer"] == "stem.conv" && l["kernel"] == "conv2d_3x3")
    );
    assert!(
        layers
            .iter()
            .any(|l| l["layer"] == "res1.conv3" && l["fused"] == serde_json::json!(["res1.out"]))
    );
    assert!(layers.iter().any(|l| l["layer"] == "local.concat"));
}

/// `bench --train` times training steps on both backends (a tiny network, so lavapipe is
/// quick), and with `--per-layer` the CPU's time of every op's forward and backward and the
/// GPU's time of every kernel.
#[test]
fn bench_train_times_steps_on_both_backends_every_cpu_op_and_gpu_kernel() {
    let dir = scratch("bench-train");
    let config = dir.join("tiny.json");
    std::fs::write(
        &config,
        r#"{"input_size":32,"stem_channels":4,"res1_channels":6,"features":8,"hourglass_order":2,
            "head_channels":4,"patch_grid":2,"local_features":12,"global_features":16,"joints":5}"#,
    )
    .unwrap();
    let w = dir.join("tiny.safetensors");
    let (w_str, c_str) = (w.to_str().unwrap(), config.to_str().unwrap());
    let o = hourhand(&["init", "--out", w_str, "--config", c_str]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = hourhand(&[
        "bench",
        "--train",
        "--json",
        "--seconds",
        "0",
        "--batch",
        "3",
        "--per-layer",
        "--weights",
        w_str,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let steps: Vec<_> = rows.iter().filter(|r| r["mode"] == "train").collect();
    assert_eq!(steps.len(), 2, "GPU and CPU: {rows:?}");
    assert!(
        steps
            .iter()
            .all(|r| r["fps"].as_f64().unwrap() > 0.0 && r["batch"] == 3)
    );
    let ops: Vec<_> = rows
        .iter()
        .filter(|r| r["backend"] == "cpu-train")
        .collect();
    let program = hourhand::net::Program::lrhn(&hourhand::net::NetConfig::tiny()).unwrap();
    // Every op runs forward and backward, but the ReLUs fused into the batch norm before them,
    // the head's batch norm, ReLU and pooling run as one op, the stem's with its convolution
    // too, and the sums' forward runs in their later operand's maker.
    let count = |kernel: &str| ops.iter().filter(|r| r["kernel"] == kernel).count();
    let (pairs, triples, stems) = (
        count("batch_norm+relu") / 2,
        count("batch_norm+relu+pool") / 2,
        count("conv2d+batch_norm+relu+pool") / 2,
    );
    let sums = count("conv2d+add") + count("upsample+add");
    assert!(pairs > 0);
    assert_eq!((triples, stems), (1, 1));
    let adds = program.ops.iter().filter(|op| op.kind() == "add").count();
    assert_eq!(sums, adds, "every sum made by its maker");
    assert_eq!(
        ops.len(),
        2 * (program.ops.len() - pairs - 2 * triples - 3 * stems) - sums,
        "{} rows",
        ops.len()
    );
    // The stem's four ops, backward, in its pooling's row.
    assert!(ops.iter().any(|r| {
        r["layer"] == "stem.pool (backward)" && r["kernel"] == "conv2d+batch_norm+relu+pool"
    }));

    // The GPU's time per kernel over the step's dispatches, each kernel once: AdamW's is one
    // dispatch a trained parameter.
    let kernels: Vec<_> = rows
        .iter()
        .filter(|r| r["backend"] == "gpu-train")
        .collect();
    let dispatches = |kernel: &str| {
        let rows: Vec<_> = kernels.iter().filter(|r| r["kernel"] == kernel).collect();
        assert!(rows.len() <= 1, "{kernel} listed twice");
        rows.first()
            .map_or(0, |r| r["dispatches"].as_u64().unwrap())
    };
    let trained = program
        .params()
        .iter()
        .filter(|(name, _)| hourhand::net::training::is_trainable(name))
        .count();
    assert_eq!(dispatches("adam") as usize, trained);
    assert!(dispatches("conv2d_dw_3x3") > 0 && dispatches("linear_dw") > 0);
    assert!(
        kernels
            .iter()
            .all(|r| r["batch"] == 3 && r["ms"].as_f64().unwrap() >= 0.0)
    );
}

#[test]
fn unknown_adapter_lists_what_exists() {
    let o = hourhand(&[
        "bench",
        "--adapter",
        "no-such-gpu-anywhere",
        "--seconds",
        "0",
    ]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("no-such-gpu-anywhere") && err.contains("available adapters"),
        "{err}"
    );
}

#[test]
fn synth_infer_eval_on_both_backends() {
    let dir = scratch("pipeline");
    let data = dir.join("synthetic");
    let d = data.to_str().unwrap();
    let o = hourhand(&[
        "synth", "--out", d, "--frames", "6", "--seed", "4", "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(data.join("depth_1_0000006.png").is_file() && data.join("joint_data.mat").is_file());
    // Writing into the same folder again is refused.
    let o = hourhand(&["synth", "--out", d, "--frames", "2", "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    let (cpu, gpu, xyz, gpu_xyz) = (
        dir.join("cpu.txt"),
        dir.join("gpu.txt"),
        dir.join("xyz.txt"),
        dir.join("gpu_xyz.txt"),
    );
    let o = hourhand(&[
        "infer",
        d,
        "--backend",
        "cpu",
        "--out",
        cpu.to_str().unwrap(),
        "--out-xyz",
        xyz.to_str().unwrap(),
        "--batch",
        "4",
        "--rotations",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("ground-truth palm centre"),
        "{}",
        stderr(&o)
    );
    // Refining an annotated centre makes no sense: refused, nothing written.
    let o = hourhand(&[
        "infer",
        d,
        "--out",
        gpu.to_str().unwrap(),
        "--refine",
        "1",
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("--refine 1: crops are centred on the annotated palm"),
        "{}",
        stderr(&o)
    );
    assert!(!gpu.exists());
    // Test-time rotation turns the crop both ways: an even count is refused.
    let o = hourhand(&[
        "infer",
        d,
        "--out",
        gpu.to_str().unwrap(),
        "--rotations",
        "4",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("4 rotations: test-time rotation takes an odd count"),
        "{}",
        stderr(&o)
    );
    assert!(!gpu.exists());
    let o = hourhand(&[
        "infer",
        d,
        "--out",
        gpu.to_str().unwrap(),
        "--center",
        "detect",
        "--rotations",
        "3",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    // No backend named and only lavapipe here (a software renderer): the CPU backend, and why.
    for needle in [
        "refined by 2 more network passes",
        "rotations: the mean over 3 crops, ±15°",
        "backend: CPU",
        "is a software renderer",
    ] {
        assert!(stderr(&o).contains(needle), "{needle:?}: {}", stderr(&o));
    }
    let o = hourhand(&[
        "infer",
        d,
        "--backend",
        "vulkan",
        "--out",
        gpu.to_str().unwrap(),
        "--out-xyz",
        gpu_xyz.to_str().unwrap(),
        "--rotations",
        "3",
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("backend: llvmpipe"), "{}", stderr(&o));
    // Six lines of 14 × u v d; all 36 joints in the xyz file; the GPU agrees with the CPU, three
    // turned crops a frame on each, in batches of 4 and of 6 (in mm: pixels magnify tiny
    // differences).
    let (a, b) = (read_numbers(&xyz), read_numbers(&gpu_xyz));
    let results = read_numbers(&cpu);
    assert_eq!((results.len(), results[0].len(), a[0].len()), (6, 42, 108));
    for (la, lb) in a.iter().zip(&b) {
        for (x, y) in la.iter().zip(lb) {
            assert!(
                (x - y).abs() <= 0.5 + 1e-4 * x.abs(),
                "cpu {x} mm vs gpu {y} mm"
            );
        }
    }
    // An existing output is not replaced without --force.
    let before = std::fs::read(&cpu).unwrap();
    let o = hourhand(&[
        "infer",
        d,
        "--backend",
        "cpu",
        "--out",
        cpu.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read(&cpu).unwrap(), before);

    // The dataset folder is the ground truth.
    let o = hourhand(&["eval", "--gt", d, "--pred", cpu.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json[0]["frames"], 6);
    assert!(json[0]["mean"].as_f64().unwrap() > 0.0);
    // So is the synthetic sequence it was written from (`synth` makes the third generation),
    // posed on the fly: the same figures to the last digit.
    let o = hourhand(&[
        "eval",
        "--gt",
        "synth3:4:6",
        "--pred",
        cpu.to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let spec: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(spec[0]["mean"], json[0]["mean"]);
    assert_eq!(spec[0]["per_joint"], json[0]["per_joint"]);
}

#[test]
fn infer_errors_name_what_is_wrong() {
    let dir = scratch("infer-errors");
    let out = dir.join("p.txt");
    let missing = dir.join("nowhere");
    let o = hourhand(&[
        "infer",
        missing.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("nowhere"), "{}", stderr(&o));
    // A folder of 16-bit PNGs without intrinsics.
    let frames = dir.join("frames");
    std::fs::create_dir_all(&frames).unwrap();
    let depth = hourhand::data::DepthMap::new(4, 3, vec![700.0; 12]).unwrap();
    let packing = hourhand::data::DepthPacking::Gray16;
    hourhand::data::depth_png::write_depth_png(
        &frames.join("f1.png"),
        &depth,
        packing,
        png::Compression::Fast,
        false,
    )
    .unwrap();
    let f = frames.to_str().unwrap();
    let o = hourhand(&[
        "infer",
        f,
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    assert!(
        stderr(&o).contains("no camera intrinsics"),
        "{}",
        stderr(&o)
    );
    // With intrinsics but no hand in view.
    let o = hourhand(&[
        "infer",
        f,
        "--out",
        out.to_str().unwrap(),
        "--backend",
        "cpu",
        "--fx",
        "300",
        "--fy",
        "300",
        "--cx",
        "2",
        "--cy",
        "1.5",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("f1.png") && stderr(&o).contains("no hand"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    assert!(!out.exists());
}

/// Compiled kernels are kept between runs where the device has a pipeline cache (lavapipe
/// has one): the first run writes the file, a later run reads it, and a damaged file is
/// ignored (the run still works) and replaced with a whole one.
#[test]
fn the_pipeline_cache_is_written_read_and_replaced_when_damaged() {
    let dir = scratch("pipeline-cache");
    let run = || {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_hourhand"))
            .args(["bench", "--seconds", "0", "--batch", "1", "--no-cpu"])
            .env("HOURHAND_CACHE_DIR", &dir)
            .output()
            .expect("the binary runs");
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    run();
    let files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the cache folder was made")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        1,
        "one cache file, no temporary left: {files:?}"
    );
    let file = &files[0];
    let whole = std::fs::read(file).unwrap();
    assert!(whole.starts_with(b"HHPCACHE") && whole.len() > 16);
    run();
    std::fs::write(file, &whole[..whole.len() - 1]).unwrap();
    let o = run();
    assert!(
        stderr(&o).contains("damaged; ignored, and replaced"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(file).unwrap(),
        whole,
        "replaced with the whole data"
    );
}
