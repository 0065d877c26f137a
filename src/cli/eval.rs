//! `hourhand eval`: score results files against the ground truth, print the field's figures,
//! optionally plot them.
//!
//! The table has one column per predictions file. `--json` prints instead one JSON array with
//! an object per predictions file: `label`, `file`, `frames`, `joints`, `joint_names`, `mean`,
//! `per_joint` (mm, in `joint_names` order), `subsets` (`[{first, last, mean}]`, 1-based
//! inclusive frames), `success` (`{"10": fraction, "20", "30", "40", "80"}`), `success_curve`
//! (fractions for 0..=80 mm), `worst_joint_mean`, `median`, and `views` (`[{view, frames,
//! mean}]` for the frames whose ground truth shows the camera the `palm`, an `edge` or the
//! `back` of the hand; `mean` null where none does; absent for layouts without NYU's wrist and
//! palm points). The table gives the same by view.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use hourhand::data::Intrinsics;
use hourhand::data::joints::{EVAL_JOINT_LABELS, JOINT_NAMES, NUM_JOINTS};
use hourhand::eval::{
    self, Coords, Format, Report, Series, ViewMean, load_ground_truth, plot, results,
};
use serde::Serialize;

/// Thresholds the table and `success` report, in millimetres (the ones papers quote).
const THRESHOLDS: [u32; 5] = [10, 20, 30, 40, 80];

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Ground truth: a results-format file (e.g. nyu_test_groundtruth_label.txt), an NYU
    /// dataset or split folder (its joint_data.mat, kinect 1), or synthetic hands
    /// (synth3:SEED:FRAMES, posed on the fly as `hourhand synth` would write them).
    #[arg(long)]
    gt: PathBuf,
    /// A predictions file in the same format, one line per ground-truth frame; repeat for more.
    #[arg(long, required = true)]
    pred: Vec<PathBuf>,
    /// A name per --pred, in order; default: the file names without extension.
    #[arg(long)]
    label: Vec<String>,
    /// Print JSON (an array, one object per --pred) instead of the table.
    #[arg(long)]
    json: bool,
    /// Also draw success-rate curves and per-joint bars into this .svg or .png file.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Replace the plot file if it exists.
    #[arg(long)]
    force: bool,
    /// Joints per line: 14 (NYU evaluation subset) or 36 (all NYU joints).
    #[arg(long, default_value_t = 14)]
    joints: usize,
    /// The files hold x y z in millimetres instead of u v d.
    #[arg(long)]
    xyz: bool,
    /// 1-based frame that starts a new subset of the per-subset means; repeat for more.
    /// Default: NYU's second subject (2441) when there are 8252 frames.
    #[arg(long)]
    split: Vec<usize>,
    /// Focal length along u, pixels (uvd → xyz).
    #[arg(long, default_value_t = Intrinsics::NYU_EVAL.fx)]
    fx: f64,
    /// Focal length along v, pixels.
    #[arg(long, default_value_t = Intrinsics::NYU_EVAL.fy)]
    fy: f64,
    /// Principal point u, pixels.
    #[arg(long, default_value_t = Intrinsics::NYU_EVAL.cx)]
    cx: f64,
    /// Principal point v, pixels.
    #[arg(long, default_value_t = Intrinsics::NYU_EVAL.cy)]
    cy: f64,
}

/// One predictions file's entry in the `--json` output.
#[derive(Serialize)]
struct JsonEntry<'a> {
    label: &'a str,
    file: &'a Path,
    joint_names: &'a [String],
    success: BTreeMap<String, f64>,
    #[serde(flatten)]
    report: &'a Report,
    /// The mean over the frames showing the palm, an edge, the back (absent for joint layouts
    /// without NYU's wrist and palm points).
    #[serde(skip_serializing_if = "Option::is_none")]
    views: Option<&'a [ViewMean]>,
}

pub fn run(args: EvalArgs) -> anyhow::Result<()> {
    let k = Intrinsics {
        fx: args.fx,
        fy: args.fy,
        cx: args.cx,
        cy: args.cy,
    };
    k.validate("--fx/--fy/--cx/--cy")?;
    if args.joints == 0 {
        bail!("--joints must be at least 1");
    }
    if !args.label.is_empty() && args.label.len() != args.pred.len() {
        bail!(
            "{} --label for {} --pred; give one label per predictions file or none",
            args.label.len(),
            args.pred.len()
        );
    }
    if let Some(path) = &args.plot {
        // Refuse before the work, not after it.
        plot::check_target(path, args.force)?;
    }
    let format = Format {
        joints: args.joints,
        coords: if args.xyz { Coords::Xyz } else { Coords::Uvd },
    };
    let gt = load_ground_truth(&args.gt, format)?;
    let splits: Option<Vec<usize>> =
        (!args.split.is_empty()).then(|| args.split.iter().map(|s| s.saturating_sub(1)).collect());

    let labels: Vec<String> = if args.label.is_empty() {
        args.pred.iter().map(|p| default_label(p)).collect()
    } else {
        args.label.clone()
    };
    let mut reports = Vec::with_capacity(args.pred.len());
    let mut views = Vec::with_capacity(args.pred.len());
    for path in &args.pred {
        let pred = results::read(path, format)?;
        results::check_frame_counts(&args.gt, gt.len(), path, pred.len())?;
        let report = eval::evaluate(&gt, &pred, format.coords, &k, splits.as_deref())
            .with_context(|| format!("{} against {}", path.display(), args.gt.display()))?;
        reports.push(report);
        views.push(eval::by_view(&gt, &pred, format.coords, &k));
    }
    let names = joint_names(args.joints);

    if args.json {
        let entries: Vec<JsonEntry> = labels
            .iter()
            .zip(&args.pred)
            .zip(&reports)
            .zip(&views)
            .map(|(((label, file), report), views)| JsonEntry {
                label,
                file,
                joint_names: &names,
                success: THRESHOLDS
                    .iter()
                    .map(|&t| (t.to_string(), report.success_at(t as f64)))
                    .collect(),
                report,
                views: views.as_deref(),
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else {
        print!(
            "{}",
            table(&args, &k, format, &labels, &reports, &views, &names)
        );
    }

    if let Some(path) = &args.plot {
        let series: Vec<Series> = labels
            .iter()
            .zip(&reports)
            .map(|(label, report)| Series { label, report })
            .collect();
        let gt_name = args.gt.file_name().map_or_else(
            || args.gt.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let title = format!("Hand pose error against {gt_name} ({} frames)", gt.len());
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let figure = plot::Comparison {
            title: &title,
            series: &series,
            joint_labels: &names,
        };
        plot::write(path, &figure, args.force)?;
        // Keep stdout pure JSON under --json.
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// A predictions file's name without directory and extension.
fn default_label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Readable joint names for a results file of `joints` joints.
fn joint_names(joints: usize) -> Vec<String> {
    match joints {
        14 => EVAL_JOINT_LABELS.iter().map(|s| s.to_string()).collect(),
        NUM_JOINTS => JOINT_NAMES.iter().map(|s| s.to_string()).collect(),
        n => (0..n).map(|j| format!("joint {j}")).collect(),
    }
}

/// The aligned text table: a row per figure, a column per predictions file.
fn table(
    args: &EvalArgs,
    k: &Intrinsics,
    format: Format,
    labels: &[String],
    reports: &[Report],
    views: &[Option<Vec<ViewMean>>],
    names: &[String],
) -> String {
    // Every file is scored on every ground-truth frame.
    let frames = reports[0].frames;
    let mut out = format!(
        "ground truth: {} ({frames} frames × {} joints, {}; fx {} fy {} cx {} cy {})\n\n",
        args.gt.display(),
        format.joints,
        format.coords,
        k.fx,
        k.fy,
        k.cx,
        k.cy
    );
    let first = 28;
    let width = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(0)
        .max(9)
        + 2;
    let mut row = |name: &str, cells: Vec<String>| {
        let mut line = format!("{name:<first$}");
        for c in cells {
            line += &format!("{c:>width$}");
        }
        out += line.trim_end();
        out.push('\n');
    };
    row("", labels.to_vec());
    let each = |f: &dyn Fn(&Report) -> String| reports.iter().map(f).collect::<Vec<_>>();
    row("mean error (mm)", each(&|r| format!("{:.3}", r.mean)));
    // Every file has the ground truth's frames, so every report has the same subsets.
    for (i, s) in reports[0].subsets.iter().enumerate() {
        row(
            &format!("  frames {}–{}", s.first, s.last),
            each(&|r| format!("{:.3}", r.subsets[i].mean)),
        );
    }
    // Every file is scored on the same ground truth, so every file has the same views.
    if let Some(Some(first)) = views.first() {
        row("mean error by view (mm)", vec![]);
        for (i, v) in first.iter().enumerate() {
            let cells = views
                .iter()
                .map(|vs| match vs.as_ref().and_then(|vs| vs[i].mean) {
                    Some(mean) => format!("{mean:.3}"),
                    None => "–".into(),
                })
                .collect();
            let plural = if v.frames == 1 { "" } else { "s" };
            let name = format!("  {} ({} frame{plural})", v.view.name(), v.frames);
            row(&name, cells);
        }
    }
    row("median error (mm)", each(&|r| format!("{:.3}", r.median)));
    row(
        "mean worst joint (mm)",
        each(&|r| format!("{:.3}", r.worst_joint_mean)),
    );
    row("success rate (worst ≤ t)", vec![]);
    for t in THRESHOLDS {
        row(
            &format!("  t = {t} mm"),
            each(&|r| format!("{:.4}", r.success_at(t as f64))),
        );
    }
    row("mean error per joint (mm)", vec![]);
    for (j, name) in names.iter().enumerate() {
        row(
            &format!("  {name}"),
            each(&|r| format!("{:.2}", r.per_joint[j])),
        );
    }
    out
}
