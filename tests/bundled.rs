//! The bundled model on the bundled sample gives the error the README states.

mod common;

use common::{BUNDLED_SAMPLE_MEAN_MM, hourhand, scratch, stderr, stdout};

#[test]
fn the_bundled_weights_on_the_bundled_sample_give_the_stated_error() {
    let root = env!("CARGO_MANIFEST_DIR");
    let sample = format!("{root}/assets/sample");
    let weights = format!("{root}/assets/hourhand-synth.safetensors");
    let preds = scratch("bundled", "preds").join("sample.txt");
    let preds = preds.to_str().unwrap();
    let o = hourhand(&[
        "infer",
        &sample,
        "--weights",
        &weights,
        "--out",
        preds,
        "--backend",
        "cpu",
        "--quiet",
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = hourhand(&["eval", "--gt", &sample, "--pred", preds, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let mean = json[0]["mean"].as_f64().unwrap();
    assert!(
        (mean - BUNDLED_SAMPLE_MEAN_MM).abs() < 0.01,
        "README says {BUNDLED_SAMPLE_MEAN_MM:.2} mm on the bundled sample; measured {mean}"
    );
}
