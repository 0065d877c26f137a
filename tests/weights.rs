//! Weights files: round trips in f32 and f16, deterministic initialization, and a clear error
//! (naming the file and what was wrong) for each kind of malformed file.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{max_abs_diff, rng, uniform};
use hourhand::cpu::CpuNet;
use hourhand::data::Labels;
use hourhand::net::weights::{CONFIG_KEY, LABELS_KEY};
use hourhand::net::{NetConfig, Network, Storage, Weights, WeightsError};
use safetensors::tensor::{Dtype, TensorView};

/// A fresh, empty folder for one test.
fn scratch(name: &str) -> common::Scratch {
    common::scratch("weights", name)
}

fn outputs(w: &Weights) -> Vec<f32> {
    let x = uniform(&mut rng(1), 2 * 32 * 32, -1.0, 1.0);
    CpuNet::from_network(&Network::from_weights(w))
        .forward(&[&x], 2)
        .unwrap()
}

fn tiny() -> Weights {
    let mut w = Weights::init(&NetConfig::tiny(), 3).unwrap();
    w.perturb_batch_norm(4);
    w
}

/// One tensor as raw file parts: name, stored type, shape, little-endian bytes.
type RawTensor = (String, Dtype, Vec<usize>, Vec<u8>);

/// Writes a safetensors file from raw parts, for crafting malformed files.
fn write_raw(path: &Path, tensors: &[RawTensor], metadata: Option<HashMap<String, String>>) {
    let views = tensors
        .iter()
        .map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap()));
    std::fs::write(path, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

/// The tensors of `w` as raw f32 parts, with the standard metadata.
fn parts(w: &Weights) -> (Vec<RawTensor>, HashMap<String, String>) {
    let tensors = w
        .tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                Dtype::F32,
                t.shape.clone(),
                bytemuck::cast_slice(&t.data).to_vec(),
            )
        })
        .collect();
    let meta = HashMap::from([(
        CONFIG_KEY.to_string(),
        serde_json::to_string(&w.config).unwrap(),
    )]);
    (tensors, meta)
}

fn load_err(path: &Path) -> String {
    let e = Weights::load(path).expect_err("malformed file must not load");
    let msg = e.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name the file: {msg}"
    );
    msg
}

#[test]
fn f32_round_trip_is_exact() {
    let dir = scratch("f32");
    let w = tiny();
    let path = dir.join("w.safetensors");
    w.save(&path, Storage::F32, false).unwrap();
    let back = Weights::load(&path).unwrap();
    assert_eq!(back, w);
    assert_eq!(outputs(&back), outputs(&w));
}

#[test]
fn f16_round_trip_is_close() {
    let dir = scratch("f16");
    let w = tiny();
    let (p32, p16) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    w.save(&p32, Storage::F32, false).unwrap();
    w.save(&p16, Storage::F16, false).unwrap();
    let back = Weights::load(&p16).unwrap();
    assert_eq!(back.config, w.config);
    let diff = max_abs_diff(&outputs(&back), &outputs(&w));
    assert!(diff < 2e-2, "f16 storage changes outputs by {diff}");
}

#[test]
fn default_network_fits_the_16_mb_budget_in_f16() {
    let w = Weights::init(&NetConfig::default(), 1).unwrap();
    let (f16, f32) = (
        w.to_bytes(Storage::F16).len(),
        w.to_bytes(Storage::F32).len(),
    );
    assert!(f16 < 16_000_000, "{f16} bytes");
    assert!(f16 < f32 * 51 / 100, "f16 {f16} vs f32 {f32} bytes");
}

#[test]
fn init_is_deterministic_per_seed() {
    let a = Weights::init(&NetConfig::tiny(), 5)
        .unwrap()
        .to_bytes(Storage::F32);
    let b = Weights::init(&NetConfig::tiny(), 5)
        .unwrap()
        .to_bytes(Storage::F32);
    let c = Weights::init(&NetConfig::tiny(), 6)
        .unwrap()
        .to_bytes(Storage::F32);
    assert!(a == b, "the same seed must give the same bytes");
    assert!(a != c, "different seeds must give different weights");
}

#[test]
fn existing_files_are_not_overwritten_unless_asked() {
    let dir = scratch("exists");
    let path = dir.join("mine.safetensors");
    std::fs::write(&path, b"the user's file").unwrap();
    let e = tiny().save(&path, Storage::F32, false).unwrap_err();
    assert!(matches!(e, WeightsError::Exists { .. }), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"the user's file");
    tiny().save(&path, Storage::F32, true).unwrap();
    assert!(Weights::load(&path).is_ok());
    assert!(
        !dir.join("mine.safetensors.tmp").exists(),
        "temporary file left behind"
    );
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let dir = scratch("missing");
    let msg = load_err(&dir.join("nope.safetensors"));
    assert!(msg.contains("No such file"), "{msg}");
}

#[test]
fn truncated_and_garbage_files_are_format_errors() {
    let dir = scratch("truncated");
    let bytes = tiny().to_bytes(Storage::F32);
    for (name, data) in [
        ("truncated", &bytes[..bytes.len() - 10]),
        ("header-only", &bytes[..40]),
        ("empty", &bytes[..0]),
        ("garbage", &b"this is not a safetensors file at all"[..]),
    ] {
        let path = dir.join(format!("{name}.safetensors"));
        std::fs::write(&path, data).unwrap();
        let msg = load_err(&path);
        assert!(
            msg.contains("not a valid safetensors file"),
            "{name}: {msg}"
        );
    }
}

/// The label convention travels in the metadata: written where it is NYU's, read back; a file
/// that does not say is anatomical (every model before it); an unknown one is refused.
#[test]
fn weights_carry_their_label_convention() {
    let dir = scratch("labels");
    let mut w = tiny();
    assert_eq!(w.labels, Labels::Anatomical);
    let path = dir.join("nyu.safetensors");
    w.labels = Labels::Nyu;
    w.save(&path, Storage::F16, false).unwrap();
    assert_eq!(Weights::load(&path).unwrap().labels, Labels::Nyu);
    let (tensors, mut meta) = parts(&tiny());
    assert!(!meta.contains_key(LABELS_KEY), "{meta:?}");
    let plain = dir.join("plain.safetensors");
    write_raw(&plain, &tensors, Some(meta.clone()));
    assert_eq!(Weights::load(&plain).unwrap().labels, Labels::Anatomical);
    meta.insert(LABELS_KEY.into(), "palmar".into());
    write_raw(&plain, &tensors, Some(meta));
    let e = load_err(&plain);
    assert!(e.contains(LABELS_KEY) && e.contains("\"palmar\""), "{e}");
}

#[test]
fn files_without_an_hourhand_config_are_refused() {
    let dir = scratch("noconfig");
    let (tensors, mut meta) = parts(&tiny());
    let path = dir.join("plain.safetensors");
    write_raw(&path, &tensors, None);
    assert!(load_err(&path).contains(CONFIG_KEY));

    meta.insert(CONFIG_KEY.into(), "{not json".into());
    write_raw(&path, &tensors, Some(meta.clone()));
    assert!(load_err(&path).contains("not a valid net config"));

    let bad = NetConfig {
        input_size: 100,
        ..NetConfig::tiny()
    };
    meta.insert(CONFIG_KEY.into(), serde_json::to_string(&bad).unwrap());
    write_raw(&path, &tensors, Some(meta));
    assert!(load_err(&path).contains("divisible by"));
}

#[test]
fn missing_unexpected_and_misshaped_tensors_are_all_listed() {
    let dir = scratch("mismatch");
    let (mut tensors, meta) = parts(&tiny());
    tensors.retain(|(n, ..)| n != "stem.conv.weight" && n != "global.fc2.bias");
    tensors.push(("extra.weight".into(), Dtype::F32, vec![2], vec![0; 8]));
    let fc1 = tensors
        .iter_mut()
        .find(|(n, ..)| n == "global.fc1.weight")
        .unwrap();
    let n = fc1.2.iter().product::<usize>();
    fc1.2 = vec![n];
    let path = dir.join("w.safetensors");
    write_raw(&path, &tensors, Some(meta));
    let msg = load_err(&path);
    for needle in [
        "missing tensor `stem.conv.weight`",
        "missing tensor `global.fc2.bias`",
        "unexpected tensor `extra.weight`",
        "tensor `global.fc1.weight` has shape",
    ] {
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    }
}

#[test]
fn unsupported_dtype_and_non_finite_values_are_refused() {
    let dir = scratch("dtype");
    let (mut tensors, meta) = parts(&tiny());
    let t = tensors
        .iter_mut()
        .find(|(n, ..)| n == "head.conv.bias")
        .unwrap();
    t.1 = Dtype::I32;
    let path = dir.join("i32.safetensors");
    write_raw(&path, &tensors, Some(meta.clone()));
    let msg = load_err(&path);
    assert!(
        msg.contains("head.conv.bias") && msg.contains("I32"),
        "{msg}"
    );

    let (mut tensors, _) = parts(&tiny());
    let t = tensors
        .iter_mut()
        .find(|(n, ..)| n == "res1.bn2.running_var")
        .unwrap();
    t.3[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    let path = dir.join("nan.safetensors");
    write_raw(&path, &tensors, Some(meta));
    let msg = load_err(&path);
    assert!(
        msg.contains("res1.bn2.running_var") && msg.contains("index 1"),
        "{msg}"
    );
}
