//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// The bundled weights' mean error on the bundled sample (mm), as `infer` + `eval` give it and
/// the README states it: checked there (`tests/bundled.rs`) and in the viewer's whole-sequence
/// run (`tests/viewer_input.rs`). It changes whenever the bundled weights do.
pub const BUNDLED_SAMPLE_MEAN_MM: f64 = 12.849;

use hourhand::gpu::{AdapterRequest, GpuContext};
use hourhand::net::{Params, Program, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The GPU the tests run on (lavapipe in CI): one device for the whole test binary, which its
/// tests share (a clone shares the device). Making a device is cheap on lavapipe but not on a real
/// GPU: on an H200, test binaries that made one for every case ran past 90 s where they take
/// seconds on lavapipe. Fails loudly, with what to install, if there is no adapter.
pub fn gpu() -> GpuContext {
    static SHARED: std::sync::OnceLock<GpuContext> = std::sync::OnceLock::new();
    SHARED.get_or_init(fresh_gpu).clone()
}

/// A device of its own, for a test that breaks it on purpose (destroys it, or provokes an error
/// the device keeps): on the shared one, that would fail the tests after it.
pub fn fresh_gpu() -> GpuContext {
    GpuContext::new(&AdapterRequest::default()).unwrap_or_else(|e| {
        panic!("these tests need a wgpu adapter: {e}\n(on Debian: apt-get install mesa-vulkan-drivers; `bash .ci/test` does it)")
    })
}

/// A seeded RNG.
pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values uniform in [lo, hi).
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Random parameters for every parameter the program names, scaled by fan-in so outputs stay
/// near unit size; variances and scales positive.
pub fn random_params(program: &Program, rng: &mut ChaCha8Rng) -> Params {
    program
        .params()
        .into_iter()
        .map(|(name, shape)| {
            let n: usize = shape.iter().product();
            let data = if name.ends_with(".weight") && shape.len() > 1 {
                let fan_in: usize = shape[1..].iter().product();
                let b = (3.0 / fan_in as f32).sqrt();
                uniform(rng, n, -b, b)
            } else if name.ends_with("running_var") || name.ends_with(".scale") {
                uniform(rng, n, 0.5, 2.0)
            } else {
                uniform(rng, n, -0.5, 0.5)
            };
            (name, Tensor::new(shape, data))
        })
        .collect()
}

/// Largest absolute element-wise difference (panics on length mismatch).
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "outputs differ in length");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The shared real NYU files: `$HOURHAND_NYU_DATA`, else `../shared/data/nyu` beside the
/// project. Fails loudly, saying where it looked, when `file` is not there (CI has it).
pub fn nyu_file(file: &str) -> std::path::PathBuf {
    let from_env = std::env::var_os("HOURHAND_NYU_DATA").map(std::path::PathBuf::from);
    let dir = from_env.clone().unwrap_or_else(|| {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nyu")
    });
    let path = dir.join(file);
    assert!(
        path.exists(),
        "the shared NYU test data is missing: looked for {} ({}); set HOURHAND_NYU_DATA to the \
         folder holding nyu_test_groundtruth_label.txt, results/ and test_predictions.mat",
        path.display(),
        if from_env.is_some() {
            "from HOURHAND_NYU_DATA"
        } else {
            "HOURHAND_NYU_DATA is not set; tried <CARGO_MANIFEST_DIR>/../shared/data/nyu"
        }
    );
    path
}

/// A fresh, empty scratch folder for one test (`hourhand-{prefix}-{name}-…` in the system's
/// temporary folder), removed when the test ends, so test runs leave nothing behind; kept when
/// the test fails, for a look at what it wrote. Derefs to its path.
pub fn scratch(prefix: &str, name: &str) -> Scratch {
    let dir = tempfile::Builder::new()
        .prefix(&format!("hourhand-{prefix}-{name}-"))
        .tempdir()
        .expect("a scratch folder in the temporary folder");
    Scratch(Some(dir))
}

/// A folder made by [`scratch`]: removed when dropped, unless dropped by a failing test.
#[derive(Debug)]
pub struct Scratch(Option<tempfile::TempDir>);

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        self.0.as_ref().expect("held until dropped").path()
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        self
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.as_os_str()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            let kept = dir.keep();
            eprintln!(
                "the failed test's scratch folder is kept: {}",
                kept.display()
            );
        }
    }
}

/// A results file's numbers, a row per line (`infer --out` / `--out-xyz`).
pub fn read_numbers(path: &std::path::Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// Runs the `hourhand` binary built for the tests.
pub fn hourhand(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hourhand"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// A command's standard output.
pub fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A command's standard error.
pub fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub mod tolerance;
#[allow(unused_imports)] // not every test compares backends
pub use tolerance::Tolerance;

/// Writes frames 0..`frames` of synthetic sequence `seed` as an NYU split folder into `dir`, as
/// `hourhand synth` does (`overwrite`: replace a split already there).
pub fn write_synthetic_split(
    dir: &std::path::Path,
    seed: u64,
    frames: usize,
    overwrite: bool,
) -> Result<(), hourhand::data::DataError> {
    use hourhand::data::nyu::{SplitFrame, write_split};
    use hourhand::data::synth::{SynthOptions, generate};
    let options = SynthOptions::default();
    let make = |i: usize| SplitFrame::from(generate(seed, i as u64, &options));
    write_split(
        dir,
        frames,
        make,
        || {},
        options.generation.labels(),
        overwrite,
    )
}

/// A convolution from tensor `x` to `y` named `conv` (parameters `conv.weight`, `conv.bias`).
pub fn conv_op(
    cin: usize,
    cout: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    relu: bool,
) -> hourhand::net::program::Conv2d {
    hourhand::net::program::Conv2d {
        name: "conv".into(),
        input: "x".into(),
        output: "y".into(),
        cin,
        cout,
        kernel,
        stride,
        pad,
        relu,
    }
}
