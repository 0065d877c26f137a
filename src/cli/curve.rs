//! `hourhand curve`: training runs' learning curves from their `log.csv` files. It prints a row
//! per run (epochs, loss phases, best and last validation error, speed, time) and with
//! `--plot` draws the validation error and training loss per epoch into an image, so runs can
//! be compared while they train and after.

use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use hourhand::eval::plot;
use hourhand::train::log::{EpochRecord, read_log};

#[derive(Debug, Args)]
pub struct CurveArgs {
    /// Run folders (what `hourhand train --out` writes) or their log.csv files.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// A name per run, in order; default: the run folder's name.
    #[arg(long)]
    label: Vec<String>,
    /// Also draw the curves into this .svg or .png file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The plot's title.
    #[arg(long, default_value = "Learning curves")]
    title: String,
    /// Replace the plot file if it exists.
    #[arg(long)]
    force: bool,
}

pub fn run(args: CurveArgs) -> anyhow::Result<()> {
    if !args.label.is_empty() && args.label.len() != args.runs.len() {
        bail!(
            "{} --label for {} runs; give one label per run or none",
            args.label.len(),
            args.runs.len()
        );
    }
    if let Some(path) = &args.plot {
        plot::check_target(path, args.force)?;
    }
    let mut logs = Vec::with_capacity(args.runs.len());
    for run in &args.runs {
        let path = if run.is_dir() {
            run.join("log.csv")
        } else {
            run.clone()
        };
        if run.is_dir() && !path.exists() {
            bail!(
                "{}: no log.csv (not a run folder, or no epoch has finished yet)",
                run.display()
            );
        }
        logs.push(read_log(&path)?);
    }
    let labels: Vec<String> = if args.label.is_empty() {
        args.runs.iter().map(|r| default_label(r)).collect()
    } else {
        args.label.clone()
    };
    print!("{}", table(&labels, &logs));

    if let Some(path) = &args.plot {
        let runs: Vec<plot::Run> = labels
            .iter()
            .zip(&logs)
            .map(|(label, epochs)| plot::Run { label, epochs })
            .collect();
        let figure = plot::LearningCurves {
            title: &args.title,
            runs: &runs,
        };
        plot::write(path, &figure, args.force)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// A run's name: its folder's, also when the log file itself was given.
fn default_label(run: &Path) -> String {
    let folder = if run.is_dir() {
        Some(run)
    } else {
        run.parent().filter(|p| !p.as_os_str().is_empty())
    };
    folder
        .and_then(Path::file_name)
        .or_else(|| run.file_name())
        .map_or_else(
            || run.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
}

/// One row per run.
fn table(labels: &[String], logs: &[Vec<EpochRecord>]) -> String {
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(3);
    let mut out = format!(
        "{:<width$}  {:>6}  {:<20}  {:>16}  {:>9}  {:>10}  {:>9}  {:>7}\n",
        "run",
        "epochs",
        "losses",
        "best val (epoch)",
        "last val",
        "train loss",
        "samples/s",
        "h:mm"
    );
    for (label, log) in labels.iter().zip(logs) {
        let Some(last) = log.last() else {
            out += &format!("{label:<width$}  {:>6}  no epoch has finished yet\n", 0);
            continue;
        };
        let mut phases: Vec<&str> = Vec::new();
        for r in log {
            if phases.last() != Some(&r.loss.as_str()) {
                phases.push(&r.loss);
            }
        }
        let best = log
            .iter()
            .filter_map(|r| r.val_mm.map(|v| (v, r.epoch)))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map_or("-".into(), |(v, e)| format!("{v:.2} mm ({e})"));
        let last_val = last.val_mm.map_or("-".into(), |v| format!("{v:.2} mm"));
        let mut rates: Vec<f64> = log.iter().map(|r| r.samples_per_s).collect();
        rates.sort_by(f64::total_cmp);
        let rate = rates[rates.len() / 2];
        let minutes = (last.seconds / 60.0).round() as u64;
        out += &format!(
            "{label:<width$}  {:>6}  {:<20}  {best:>16}  {last_val:>9}  {:>10.4}  {rate:>9.1}  {:>4}:{:02}\n",
            last.epoch,
            phases.join(" → "),
            last.train_loss,
            minutes / 60,
            minutes % 60,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(epoch: usize, loss: &str, val_mm: Option<f64>, rate: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            loss: loss.into(),
            train_loss: 100.0 / epoch as f64,
            val_mm,
            lr: 1e-3,
            samples_per_s: rate,
            seconds: 1800.0 * epoch as f64,
            best: false,
        }
    }

    #[test]
    fn the_table_gives_each_runs_best_last_phases_and_median_rate() {
        let logs = vec![
            vec![
                record(1, "mse", Some(30.0), 40.0),
                record(2, "mse", Some(20.0), 10.0),
                record(3, "max-out", Some(22.5), 42.0),
            ],
            vec![],
        ];
        let t = table(&["long-run-name".into(), "new".into()], &logs);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("run "), "{t}");
        assert!(lines[1].contains("mse → max-out"), "{t}");
        assert!(lines[1].contains("20.00 mm (2)"), "{t}");
        assert!(lines[1].contains("22.50 mm"), "{t}");
        assert!(lines[1].contains(" 40.0 "), "median rate: {t}");
        assert!(lines[1].ends_with("1:30"), "time: {t}");
        assert!(lines[2].contains("no epoch has finished yet"), "{t}");
    }

    #[test]
    fn labels_come_from_the_run_folder() {
        assert_eq!(default_label(Path::new("runs/mse/log.csv")), "mse");
        assert_eq!(default_label(Path::new("log.csv")), "log.csv");
    }
}
