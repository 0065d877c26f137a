//! `hourhand train`: trains the network on NYU-format folders (real NYU or `hourhand synth`
//! output) on the GPU or CPU backend, writing a run folder with the best and last weights.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use hourhand::data::open::OpenOptions;
use hourhand::net::{NetConfig, Weights};
use hourhand::train::checkpoint::{RunFiles, RunState, load_checkpoint};
use hourhand::train::dataset::TrainSet;
use hourhand::train::log::EpochRecord;
use hourhand::train::loss::Loss;
use hourhand::train::options::{Phase, TrainOptions};
use hourhand::train::run::{Observer, train};
use indicatif::{ProgressBar, ProgressStyle};

use super::DeviceArgs;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Training data: an NYU dataset folder (its `train` split) or split folder.
    #[arg(long, required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// Validation data, scored (mean error in mm) after every epoch; picks best.safetensors.
    #[arg(long)]
    val: Option<PathBuf>,
    /// Split of an NYU dataset folder to train on.
    #[arg(long)]
    split: Option<String>,
    /// The run folder to write: last/best weights, checkpoint, train.json, log.csv.
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Loss of the first phase.
    #[arg(long, default_value = "mse")]
    loss: Loss,
    /// Losses of later phases, in order: `--loss mse --epochs 40 --then max-out --epochs 10`.
    #[arg(long)]
    then: Vec<Loss>,
    /// Epochs of each phase, in order (one per phase; default 30 for a single phase).
    #[arg(long)]
    epochs: Vec<usize>,
    /// Samples per step.
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Learning rate of the first epoch (Adam).
    #[arg(long, default_value_t = 1e-3)]
    lr: f32,
    /// Learning-rate factor per epoch (exponential decay).
    #[arg(long, default_value_t = 0.95)]
    lr_decay: f32,
    /// Decoupled weight decay of convolution and fully connected weights.
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f32,
    /// Dropout rate after the fully connected layers (DeepPrior++ used 0.3, which trained worse
    /// here; see the README's Training section)
    // Measured 2026-12-02: the 64×64 network from scratch on 2,000 synthetic frames, 4 epochs,
    // 37.2 mm at 0.3 against 33.6 at 0; the paper-sized run fine-tuned for 2,000 samples,
    // 29.4 mm at 0.3, 25.3 at 0.1, 24.7 at 0.
    #[arg(long, default_value_t = 0.0)]
    dropout: f32,
    /// Seed of fresh weights, epoch order, augmentation and dropout.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Augmentation: largest in-plane rotation (degrees).
    #[arg(long, default_value_t = 180.0)]
    rotation: f32,
    /// Augmentation: σ of the 3D crop-centre shift (mm).
    #[arg(long, default_value_t = 10.0)]
    shift: f32,
    /// Augmentation: σ of the cube scale factor.
    #[arg(long, default_value_t = 0.1)]
    scale: f32,
    /// No augmentation (same as --rotation 0 --shift 0 --scale 0).
    #[arg(long)]
    no_augment: bool,
    /// Network config (JSON, the fields of NetConfig); default: the paper-sized network.
    #[arg(long, conflicts_with = "finetune")]
    config: Option<PathBuf>,
    /// Start from these weights (their config) instead of fresh ones.
    #[arg(long)]
    finetune: Option<PathBuf>,
    /// Continue the run in this folder from its checkpoint (its settings are kept).
    #[arg(long, conflicts_with_all = ["data", "out", "finetune", "config"])]
    resume: Option<PathBuf>,
    /// Store weights as f16 (half the size).
    #[arg(long)]
    half: bool,
    /// Memory (GiB) that keeps decoded training depth between epochs: 614 kB a 640×480 frame,
    /// so 4 GiB holds about 7,000. Frames beyond it are decoded again every epoch (synthetic
    /// ones rendered again: about 70 a second on two cores, while the 128×128 network trains
    /// on about 110 from the cache, so an epoch that renders runs at about 40). A machine
    /// setting, not part of the run: `--resume` takes it too.
    #[arg(long, default_value_t = 4.0, value_parser = parse_gib)]
    cache_gib: f64,
    /// Replace the files of an earlier run in --out.
    #[arg(long)]
    force: bool,
    /// Nothing on the terminal: no settings, progress bar or epoch lines (the run's log.csv
    /// has every epoch).
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

impl TrainArgs {
    fn options(&self) -> anyhow::Result<TrainOptions> {
        let losses: Vec<Loss> = std::iter::once(self.loss)
            .chain(self.then.iter().copied())
            .collect();
        let epochs = if self.epochs.is_empty() && losses.len() == 1 {
            vec![30]
        } else {
            self.epochs.clone()
        };
        anyhow::ensure!(
            epochs.len() == losses.len(),
            "{} loss phase(s) (--loss {}{}) but {} --epochs; give one --epochs per phase",
            losses.len(),
            self.loss,
            self.then
                .iter()
                .map(|l| format!(" --then {l}"))
                .collect::<String>(),
            epochs.len()
        );
        let config = match (&self.config, &self.finetune) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("{}: cannot read the net config", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("{}: not a valid net config", path.display()))?
            }
            (None, Some(w)) => Weights::load(w)?.config,
            (None, None) => NetConfig::default(),
        };
        let augment = !self.no_augment;
        let options = TrainOptions {
            data: self
                .data
                .clone()
                .expect("clap requires --data without --resume"),
            val: self.val.clone(),
            split: self.split.clone(),
            phases: losses
                .into_iter()
                .zip(epochs)
                .map(|(loss, epochs)| Phase { loss, epochs })
                .collect(),
            batch: self.batch,
            lr: self.lr,
            lr_decay: self.lr_decay,
            weight_decay: self.weight_decay,
            dropout: self.dropout,
            seed: self.seed,
            rotation: if augment { self.rotation } else { 0.0 },
            shift: if augment { self.shift } else { 0.0 },
            scale: if augment { self.scale } else { 0.0 },
            half: self.half,
            config,
            finetune: self.finetune.clone(),
        };
        options.check().map_err(anyhow::Error::msg)?;
        Ok(options)
    }
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let (dir, state, weights, moments) = match &args.resume {
        Some(dir) => {
            let files = RunFiles::new(dir);
            let c = load_checkpoint(&files.checkpoint())?;
            anyhow::ensure!(
                c.state.epoch < c.state.options.total_epochs(),
                "{}: the run already finished its {} epochs",
                dir.display(),
                c.state.epoch
            );
            (dir.clone(), c.state, c.weights, Some(c.moments))
        }
        None => {
            let options = args.options()?;
            let dir = args
                .out
                .clone()
                .expect("clap requires --out without --resume");
            let files = RunFiles::new(&dir);
            if !args.force
                && let Some(existing) = files.results().into_iter().find(|p| p.exists())
            {
                anyhow::bail!(
                    "{}: already exists; refusing to overwrite an earlier run (pass --force to \
                     replace it, or --resume {} to continue it)",
                    existing.display(),
                    dir.display()
                );
            }
            let weights = match &options.finetune {
                Some(path) => Weights::load(path)?,
                None => Weights::init(&options.config, options.seed)?,
            };
            let state = RunState {
                epoch: 0,
                step: 0,
                best: None,
                seconds: 0.0,
                options,
            };
            (dir, state, weights, None)
        }
    };
    let opts = &state.options;
    // A dataset folder trains on its `train` split unless told otherwise; a split folder is
    // used as it is.
    let split = opts
        .split
        .clone()
        .or_else(|| opts.data.join("train").is_dir().then(|| "train".into()));
    let open = OpenOptions {
        split,
        ..OpenOptions::default()
    };
    let cache_bytes = (args.cache_gib * (1u64 << 30) as f64) as usize;
    let train_set = Arc::new(TrainSet::open(&opts.data, &open)?.with_cache_budget(cache_bytes));
    let val_set = match &opts.val {
        Some(path) => Some(Arc::new(TrainSet::open(path, &OpenOptions::default())?)),
        None => None,
    };
    let (mut engine, placed) = super::train_engine(&args.device, &weights, opts.batch)?;
    if let Some(m) = &moments {
        engine.set_moments(m)?;
    } else {
        // A fresh run: the folder is made only now that data, weights and device are ready,
        // so a mistake in the command leaves nothing behind.
        let files = RunFiles::new(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create the run folder", dir.display()))?;
        if files.log().exists() {
            std::fs::remove_file(files.log())
                .with_context(|| format!("{}: cannot replace", files.log().display()))?;
        }
        let json = serde_json::to_string_pretty(opts).expect("options serialize");
        hourhand::files::write_atomic(&files.options(), json.as_bytes(), true)?;
    }
    if !args.quiet {
        eprintln!(
            "data:    {} (decoded depth kept up to {} GiB: --cache-gib)",
            train_set.describe(),
            args.cache_gib
        );
        if let Some(v) = &val_set {
            eprintln!("val:     {}", v.describe());
        }
        eprintln!("backend: {}", engine.describe());
        if let Some(why) = &placed {
            eprintln!("         because {why}");
        }
        let schedule: Vec<String> = opts
            .phases
            .iter()
            .map(|p| format!("{} × {}", p.loss, p.epochs))
            .collect();
        eprintln!(
            "run:     {} ({}), batch {}, lr {} × {}/epoch, from epoch {}",
            dir.display(),
            schedule.join(" then "),
            opts.batch,
            opts.lr,
            opts.lr_decay,
            state.epoch + 1
        );
    }
    let config = weights.config.clone();
    let mut observer = Bar::new(args.quiet);
    let end = train(
        engine.as_mut(),
        &config,
        train_set,
        val_set,
        &dir,
        state,
        &mut observer,
    )?;
    if !args.quiet {
        let files = RunFiles::new(&dir);
        match end.best {
            Some((mm, epoch)) => eprintln!(
                "done: best validation mean error {mm:.2} mm (epoch {epoch}) → {}; last → {}",
                files.best().display(),
                files.last().display()
            ),
            None => eprintln!("done: weights → {}", files.last().display()),
        }
    }
    Ok(())
}

/// `--cache-gib`: a finite, non-negative number of GiB.
fn parse_gib(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(g) if (0.0..1e6).contains(&g) => Ok(g),
        Ok(_) => Err(format!("{s}: expected GiB from 0 (no cache) up")),
        Err(e) => Err(format!("{s}: {e}")),
    }
}

/// The progress bar: epoch, loss, samples/s and ETA; a line per finished epoch.
struct Bar {
    bar: ProgressBar,
    quiet: bool,
    total: usize,
}

impl Bar {
    fn new(quiet: bool) -> Bar {
        Bar {
            bar: ProgressBar::hidden(),
            quiet,
            total: 0,
        }
    }
}

impl Observer for Bar {
    fn epoch_start(&mut self, epoch: usize, total: usize, phase: &str, steps: usize) {
        self.total = total;
        if self.quiet {
            return;
        }
        self.bar = ProgressBar::new(steps as u64);
        self.bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        self.bar
            .set_prefix(format!("epoch {epoch}/{total} {phase}"));
    }

    fn step(&mut self, loss: f32, samples_per_s: f64) {
        self.bar
            .set_message(format!("loss {loss:.4} · {samples_per_s:.1} samples/s"));
        self.bar.inc(1);
    }

    fn epoch_end(&mut self, r: &EpochRecord) {
        self.bar.finish_and_clear();
        if self.quiet {
            return;
        }
        let val = r.val_mm.map_or(String::new(), |v| {
            format!("  val {v:.2} mm{}", if r.best { " (best)" } else { "" })
        });
        eprintln!(
            "epoch {}/{}  {}  loss {:.4}{val}  {:.1} samples/s  lr {:.2e}",
            r.epoch, self.total, r.loss, r.train_loss, r.samples_per_s, r.lr
        );
    }
}
