//! The `hourhand` binary as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn hourhand(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hourhand"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hourhand-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
    let o = hourhand(&["bench", "--json", "--seconds", "0", "--batch", "1,2"]);
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
    let gpu: Vec<_> = rows.iter().filter(|r| r["backend"] != "cpu").collect();
    assert_eq!(gpu.len(), 2);
    assert!(
        gpu.iter().all(|r| r["objects_created_while_timing"] == 0),
        "steady state must allocate nothing: {gpu:?}"
    );
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
    assert!(layers.len() > 80, "{} layers", layers.len());
    assert!(
        layers
            .iter()
            .any(|l| l["layer"] == "stem.conv" && l["kernel"] == "conv2d_3x3")
    );
    assert!(layers.iter().any(|l| l["layer"] == "local.concat"));
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
