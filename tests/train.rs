//! Training end to end on the CPU backend: steps lower the loss on a tiny synthetic set, an
//! interrupted run resumes where it stopped, and the `train` command's run folder, refusals
//! and error messages.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{hourhand, scratch, stderr, write_synthetic_split};
use hourhand::cpu::train::Workspace;
use hourhand::data::Labels;
use hourhand::data::open::OpenOptions;
use hourhand::net::training::Dropout;
use hourhand::net::{NetConfig, Program, Weights};
use hourhand::train::adam::AdamStep;
use hourhand::train::augment::Augment;
use hourhand::train::checkpoint::{RunFiles, RunState, load_checkpoint};
use hourhand::train::dataset::TrainSet;
use hourhand::train::engine::{CpuEngine, Engine};
use hourhand::train::loss::Loss;
use hourhand::train::options::{Phase, TrainOptions};
use hourhand::train::run::{Observer, Quiet, train};
use hourhand::train::step::{Moments, StepOptions, cpu_gradients, cpu_step, cpu_step_in};

/// A tiny network that predicts NYU's 35 joints.
fn tiny35() -> NetConfig {
    NetConfig {
        joints: 35,
        ..NetConfig::tiny()
    }
}

/// An NYU split folder of `n` synthetic frames.
fn synthetic(dir: &Path, n: usize, seed: u64) -> PathBuf {
    write_synthetic_split(dir, seed, n, true).unwrap();
    dir.into()
}

fn step_options(loss: Loss, t: u64) -> StepOptions {
    StepOptions {
        loss,
        scale: 150.0,
        dropout: Dropout::NONE,
        adam: AdamStep {
            lr: 2e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 1e-4,
            t,
        },
    }
}

/// A workspace kept across steps, whose buffers hold the last step's values when the next one
/// starts, gives exactly what fresh buffers give: at the same batch size, at a smaller one (the
/// buffers are longer than needed) and back, with dropout on.
#[test]
fn a_reused_workspace_steps_exactly_like_fresh_buffers() {
    let config = NetConfig::tiny();
    let program = Program::lrhn(&config).unwrap();
    let weights = Weights::init(&config, 5).unwrap();
    let side = config.input_size as usize;
    let outputs = program.output_shape().len();
    let mut kept = (weights.tensors.clone(), Moments::zeros(&weights.tensors));
    let mut fresh = kept.clone();
    let mut workspace = Workspace::new();
    for (t, batch) in [(1u64, 3usize), (2, 3), (3, 2), (4, 3)] {
        let input: Vec<f32> = (0..batch * side * side)
            .map(|i| ((i as u64 * 7919 + t * 31) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let target: Vec<f32> = (0..batch * outputs)
            .map(|i| ((i as u64 * 104_729 + t) % 600) as f32 / 1000.0 - 0.3)
            .collect();
        let mut options = step_options(Loss::SmoothL1, t);
        options.dropout = Dropout {
            rate: 0.3,
            seed: t as u32,
        };
        let (want_loss, _, want_grads) =
            cpu_gradients(&program, &fresh.0, &input, &target, batch, &options);
        let a = cpu_step_in(
            &mut workspace,
            &program,
            &mut kept.0,
            &mut kept.1,
            &input,
            &target,
            batch,
            &options,
        );
        assert_eq!(workspace.grads().len(), want_grads.len(), "step {t}");
        for (name, want) in &want_grads {
            assert_eq!(
                &workspace.grads()[name],
                want,
                "step {t}: gradient of {name}"
            );
        }
        let b = cpu_step(
            &program,
            &mut fresh.0,
            &mut fresh.1,
            &input,
            &target,
            batch,
            &options,
        );
        assert_eq!(a, want_loss, "step {t}");
        assert_eq!(a, b, "step {t}");
        assert_eq!(kept, fresh, "step {t}: parameters and moments");
    }
}

#[test]
fn cpu_steps_on_a_tiny_synthetic_set_lower_the_loss() {
    let root = scratch("train", "steps");
    let dir = synthetic(&root, 8, 21);
    let set = TrainSet::open(&dir, &OpenOptions::default()).unwrap();
    let config = tiny35();
    let size = config.input_size as usize;
    let mut input = vec![0.0; 8 * size * size];
    let mut target = vec![0.0; 8 * 105];
    let all: Vec<usize> = (0..8).collect();
    set.fill(&all, size, &Augment::NONE, 0, &mut input, &mut target)
        .unwrap();
    let program = Program::lrhn(&config).unwrap();
    let mut params = Weights::init(&config, 1).unwrap().tensors;
    let mut moments = Moments::zeros(&params);
    // MSE from scratch must halve; max-out, which moves one coordinate per sample, then
    // fine-tunes the MSE fit and must still go down.
    for (loss, factor) in [(Loss::Mse, 0.5), (Loss::MaxOut, 0.95)] {
        let mut losses = Vec::new();
        for t in 1..=40 {
            let o = step_options(loss, t);
            losses.push(cpu_step(
                &program,
                &mut params,
                &mut moments,
                &input,
                &target,
                8,
                &o,
            ));
        }
        let (first, last) = (losses[0], losses[39]);
        assert!(
            last < factor * first,
            "{loss}: 40 steps took the loss from {first} to {last}"
        );
    }
}

/// Stops after the first epoch, like an interrupted run.
struct StopAfterOne;
impl Observer for StopAfterOne {
    fn stop(&mut self) -> bool {
        true
    }
}

#[test]
fn an_interrupted_run_resumes_from_its_checkpoint() {
    let root = scratch("train", "resume");
    let data = synthetic(&root.join("data"), 6, 22);
    let set = Arc::new(TrainSet::open(&data, &OpenOptions::default()).unwrap());
    let config = tiny35();
    let options = TrainOptions {
        data: data.clone(),
        val: None,
        split: None,
        phases: vec![
            Phase {
                loss: Loss::Mse,
                epochs: 1,
            },
            Phase {
                loss: Loss::MaxOut,
                epochs: 1,
            },
        ],
        batch: 3,
        lr: 1e-3,
        lr_decay: 0.9,
        weight_decay: 1e-4,
        dropout: 0.2,
        seed: 5,
        rotation: 30.0,
        shift: 5.0,
        scale: 0.05,
        half: false,
        config: config.clone(),
        finetune: None,
    };
    let fresh = || RunState {
        epoch: 0,
        step: 0,
        best: None,
        seconds: 0.0,
        options: options.clone(),
    };
    let weights = Weights::init(&config, 5).unwrap();

    let straight_dir = root.join("straight");
    std::fs::create_dir_all(&straight_dir).unwrap();
    let mut engine = CpuEngine::new(&weights);
    let straight = train(
        &mut engine,
        &config,
        set.clone(),
        Some(set.clone()),
        &straight_dir,
        fresh(),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!((straight.epoch, straight.step), (2, 4));

    let split_dir = root.join("split");
    std::fs::create_dir_all(&split_dir).unwrap();
    let mut engine = CpuEngine::new(&weights);
    let half = train(
        &mut engine,
        &config,
        set.clone(),
        Some(set.clone()),
        &split_dir,
        fresh(),
        &mut StopAfterOne,
    )
    .unwrap();
    assert_eq!((half.epoch, half.step), (1, 2));
    let c = load_checkpoint(&RunFiles::new(&split_dir).checkpoint()).unwrap();
    assert_eq!(c.state, half);
    let mut engine = CpuEngine::new(&c.weights);
    engine.set_moments(&c.moments).unwrap();
    let resumed = train(
        &mut engine,
        &config,
        set.clone(),
        Some(set),
        &split_dir,
        c.state,
        &mut Quiet,
    )
    .unwrap();
    assert_eq!((resumed.epoch, resumed.step), (2, 4));

    // Same batches, masks and steps: the same weights, up to the summation order of the
    // multi-threaded reductions.
    let a = Weights::load(&RunFiles::new(&straight_dir).last()).unwrap();
    let b = Weights::load(&RunFiles::new(&split_dir).last()).unwrap();
    for (name, t) in &a.tensors {
        let diff = common::max_abs_diff(&t.data, &b.tensors[name].data);
        assert!(diff < 1e-3, "{name}: resumed run differs by {diff}");
    }
    let log = std::fs::read_to_string(RunFiles::new(&split_dir).log()).unwrap();
    assert_eq!(
        log.lines().count(),
        3,
        "header + one line per epoch:\n{log}"
    );
    assert!(
        log.lines().nth(2).unwrap().starts_with("2,max-out,"),
        "{log}"
    );
}

#[test]
fn the_train_command_writes_a_run_folder_and_refuses_to_overwrite_it() {
    let root = scratch("train", "cli");
    let data = synthetic(&root.join("data"), 6, 23);
    let val = synthetic(&root.join("val"), 3, 24);
    let config = root.join("tiny.json");
    std::fs::write(&config, serde_json::to_string(&tiny35()).unwrap()).unwrap();
    let out = root.join("run");
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "train",
            "--data",
            &s(&data),
            "--val",
            &s(&val),
            "--out",
            &s(&out),
            "--config",
            &s(&config),
            "--batch",
            "3",
            "--backend",
            "cpu",
            "--quiet",
        ]
        .iter()
        .map(|v| v.to_string())
        .collect();
        a.extend(extra.iter().map(|v| v.to_string()));
        a
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        hourhand(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };

    // A cache budget that is not a size is refused before anything is written.
    for bad in ["--cache-gib=-1", "--cache-gib=lots"] {
        let o = run(&[bad]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains("--cache-gib"), "{}", stderr(&o));
        assert!(!out.exists());
    }
    // No cache: every epoch decodes its frames again, and trains the same way.
    let o = run(&[
        "--loss",
        "mse",
        "--epochs",
        "1",
        "--then",
        "max-out",
        "--epochs",
        "1",
        "--cache-gib",
        "0",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let files = RunFiles::new(&out);
    for f in [
        files.last(),
        files.best(),
        files.checkpoint(),
        files.options(),
        files.log(),
    ] {
        assert!(f.exists(), "{} missing", f.display());
    }
    let log = std::fs::read_to_string(files.log()).unwrap();
    assert_eq!(log.lines().count(), 3, "{log}");
    let val_mm: f64 = log
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(3)
        .unwrap()
        .parse()
        .unwrap();
    assert!(val_mm > 0.0 && val_mm < 500.0, "{val_mm}");
    // The weights name the label convention they learned: the first generation's, as the data
    // folder's labels.json says (the checkpoint too, so a resumed run keeps it).
    for f in [files.last(), files.best()] {
        assert_eq!(Weights::load(&f).unwrap().labels, Labels::Anatomical);
    }
    assert_eq!(
        load_checkpoint(&files.checkpoint()).unwrap().weights.labels,
        Labels::Anatomical
    );
    // `curve` reads the log back: a row for the run, its two phases, and the plot.
    let plot = root.join("curves.svg");
    let o = hourhand(&["curve", &s(&out), "--plot", &s(&plot)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("run ") && row.contains("mse → max-out"),
        "{table}"
    );
    let best = log
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    assert!(row.contains(&format!("{best:.2} mm")), "{table}");
    assert!(
        std::fs::read_to_string(&plot)
            .unwrap()
            .contains("run (best")
    );
    let o = hourhand(&["curve", &s(&out), "--plot", &s(&plot)]);
    assert!(
        !o.status.success() && stderr(&o).contains("already exists"),
        "{}",
        stderr(&o)
    );
    let o = hourhand(&["curve", &s(&root)]);
    assert!(
        !o.status.success() && stderr(&o).contains("no log.csv"),
        "{}",
        stderr(&o)
    );
    // The weights are what every command loads.
    let preds = root.join("preds.txt");
    let o = hourhand(&[
        "infer",
        &s(&val),
        "--weights",
        &s(&files.last()),
        "--out",
        &s(&preds),
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    let before = std::fs::read(files.last()).unwrap();
    let o = run(&["--epochs", "1"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("refusing to overwrite") && stderr(&o).contains("--resume"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(files.last()).unwrap(),
        before,
        "an earlier run was touched"
    );

    let o = hourhand(&["train", "--resume", &s(&out), "--backend", "cpu", "--quiet"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("already finished"), "{}", stderr(&o));

    let o = run(&[
        "--force", "--loss", "mse", "--then", "max-out", "--epochs", "2",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("2 loss phase(s)") && stderr(&o).contains("1 --epochs"),
        "{}",
        stderr(&o)
    );

    let o = hourhand(&[
        "train",
        "--resume",
        &s(&root),
        "--backend",
        "cpu",
        "--quiet",
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("checkpoint.safetensors"),
        "{}",
        stderr(&o)
    );

    let e = load_checkpoint(&files.last())
        .err()
        .expect("a weights file is no checkpoint");
    assert!(e.to_string().contains("--finetune"), "{e}");
}

#[test]
fn the_train_command_runs_on_the_gpu_backend_like_on_the_cpu() {
    let root = scratch("train", "gpu");
    let data = synthetic(&root.join("data"), 6, 25);
    let config = root.join("tiny.json");
    std::fs::write(&config, serde_json::to_string(&tiny35()).unwrap()).unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let mut last = Vec::new();
    for backend in ["vulkan", "cpu"] {
        let out = root.join(backend);
        let o = hourhand(&[
            "train",
            "--data",
            &s(&data),
            "--val",
            &s(&data),
            "--out",
            &s(&out),
            "--config",
            &s(&config),
            "--batch",
            "3",
            "--epochs",
            "1",
            "--dropout",
            "0.2",
            "--backend",
            backend,
            "--quiet",
            "--force",
        ]);
        assert!(o.status.success(), "{backend}: {}", stderr(&o));
        last.push(Weights::load(&RunFiles::new(&out).last()).unwrap());
    }
    // Same batches, masks and updates on both backends. Adam moves a parameter by about lr
    // (1e-3) whatever its gradient's size, so a gradient within rounding of zero may step the
    // other way on the other backend: the bound is a few lr, relative to the values' size
    // (the precise step comparison is in tests/gpu_train.rs).
    for (name, t) in &last[0].tensors {
        let diff = common::max_abs_diff(&t.data, &last[1].tensors[name].data);
        let size = t.data.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        assert!(
            diff < 5e-3 * size,
            "{name}: GPU and CPU runs differ by {diff} (values up to {size})"
        );
    }
}
