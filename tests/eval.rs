//! Evaluation on the real shared NYU files: the published figures (`../shared/data/nyu/README.md`)
//! from the library and from `hourhand eval`, and the plots.

use std::path::{Path, PathBuf};

use hourhand::data::Intrinsics;
mod common;

use hourhand::eval::{self, Coords, Format, Report, results};

/// The shared NYU data folder.
fn nyu_data() -> PathBuf {
    common::nyu_file("nyu_test_groundtruth_label.txt")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A shared results file, its README name, and the README's figures: mean, the two subjects,
/// SR@10/20/30/40/80 and the per-joint means.
struct Expected {
    file: &'static str,
    label: &'static str,
    mean: f64,
    subjects: [f64; 2],
    success: [f64; 5],
    per_joint: [f64; 14],
}

const EXPECTED: [Expected; 3] = [
    Expected {
        file: "results/ICCVW17_NYU_DeepPrior++.txt",
        label: "DeepPrior++",
        mean: 12.238,
        subjects: [6.930, 14.467],
        success: [0.1080, 0.4472, 0.7031, 0.8353, 0.9795],
        per_joint: [
            15.96, 11.16, 15.12, 9.53, 16.00, 9.95, 18.79, 11.79, 14.46, 11.54, 9.83, 9.29, 9.60,
            8.34,
        ],
    },
    Expected {
        file: "results/CVPR18_NYU_V2V_PoseNet.txt",
        label: "V2V-PoseNet",
        mean: 8.419,
        subjects: [4.217, 10.184],
        success: [0.3053, 0.7124, 0.8312, 0.8809, 0.9815],
        per_joint: [
            9.53, 7.02, 9.77, 6.70, 10.08, 6.76, 11.00, 7.40, 9.84, 7.78, 6.87, 8.94, 9.94, 6.25,
        ],
    },
    Expected {
        file: "results/JVCI18_NYU_REN_9x6x6.txt",
        label: "REN 9x6x6",
        mean: 12.694,
        subjects: [6.279, 15.387],
        success: [0.1139, 0.4588, 0.7015, 0.8260, 0.9838],
        per_joint: [
            15.90, 10.76, 14.91, 9.63, 15.76, 10.09, 16.77, 11.52, 14.88, 12.66, 11.56, 11.22,
            13.82, 8.25,
        ],
    },
];

const THRESHOLDS: [f64; 5] = [10.0, 20.0, 30.0, 40.0, 80.0];

/// Asserts `|a − b| ≤ tol`. The README's figures are rounded to the place they are quoted to,
/// so the tests use half a unit of that place: what rounds to the README's figure passes.
fn close(what: &str, a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol, "{what}: got {a}, README says {b}");
}

#[test]
fn the_shared_results_files_give_the_published_figures() {
    let dir = nyu_data();
    let gt_path = dir.join("nyu_test_groundtruth_label.txt");
    let gt = results::read(&gt_path, Format::NYU).unwrap();
    assert_eq!(gt.len(), 8252);
    for e in &EXPECTED {
        let path = dir.join(e.file);
        let pred = results::read(&path, Format::NYU).unwrap();
        results::check_frame_counts(&gt_path, gt.len(), &path, pred.len()).unwrap();
        let r: Report =
            eval::evaluate(&gt, &pred, Coords::Uvd, &Intrinsics::NYU_EVAL, None).unwrap();
        let l = e.label;
        close(&format!("{l} mean"), r.mean, e.mean, 0.0005);
        assert_eq!(r.subsets.len(), 2, "{l}: NYU's two subjects");
        assert_eq!((r.subsets[0].first, r.subsets[0].last), (1, 2440));
        assert_eq!((r.subsets[1].first, r.subsets[1].last), (2441, 8252));
        for (s, want) in r.subsets.iter().zip(e.subjects) {
            close(&format!("{l} frames {:?}", s.range()), s.mean, want, 0.0005);
        }
        for (t, want) in THRESHOLDS.into_iter().zip(e.success) {
            close(&format!("{l} SR@{t}"), r.success_at(t), want, 0.00005);
            close(
                &format!("{l} curve at {t}"),
                r.success_curve[t as usize],
                want,
                0.00005,
            );
        }
        for (j, (got, want)) in r.per_joint.iter().zip(e.per_joint).enumerate() {
            close(&format!("{l} joint {j}"), *got, want, 0.005);
        }
    }
}

use common::{hourhand, stderr};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("eval", name)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp paths")
}

#[test]
fn eval_json_reports_two_files() {
    let dir = nyu_data();
    let gt = dir.join("nyu_test_groundtruth_label.txt");
    let (a, b) = (dir.join(EXPECTED[0].file), dir.join(EXPECTED[1].file));
    let o = hourhand(&[
        "eval",
        "--gt",
        s(&gt),
        "--pred",
        s(&a),
        "--pred",
        s(&b),
        "--label",
        "DPP",
        "--label",
        "V2V",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    let entries = v.as_array().expect("one array");
    assert_eq!(entries.len(), 2);
    for (entry, e) in entries.iter().zip(&EXPECTED) {
        let l = e.label;
        let num = |x: &serde_json::Value| x.as_f64().unwrap_or_else(|| panic!("{x} in {entry}"));
        assert_eq!(entry["frames"], 8252);
        assert_eq!(entry["joint_names"][13], "palm");
        close(&format!("{l} mean"), num(&entry["mean"]), e.mean, 0.0005);
        for (i, want) in e.subjects.iter().enumerate() {
            close(l, num(&entry["subsets"][i]["mean"]), *want, 0.0005);
        }
        for (t, want) in THRESHOLDS.into_iter().zip(e.success) {
            let key = format!("{t}");
            close(l, num(&entry["success"][&key]), want, 0.00005);
        }
        assert_eq!(entry["success_curve"].as_array().unwrap().len(), 81);
        for (j, want) in e.per_joint.iter().enumerate() {
            close(l, num(&entry["per_joint"][j]), *want, 0.005);
        }
        // The views split the frames, and their means weighted by frames are the mean. NYU's
        // subjects show an edge in 1,125 frames, where every method does worst.
        let views = entry["views"].as_array().expect("views");
        let frames: Vec<f64> = views.iter().map(|v| num(&v["frames"])).collect();
        assert_eq!(frames, [5934.0, 1125.0, 1193.0], "{l}");
        let weighted: f64 = views
            .iter()
            .map(|v| num(&v["frames"]) * num(&v["mean"]))
            .sum();
        close(l, weighted / 8252.0, num(&entry["mean"]), 1e-9);
        assert_eq!(views[1]["view"], "edge");
        assert!(
            num(&views[1]["mean"]) > num(&views[0]["mean"]) * 1.5,
            "{l}: {views:?}"
        );
    }
    assert_eq!(entries[0]["label"], "DPP");
    assert!(
        entries[1]["file"]
            .as_str()
            .unwrap()
            .ends_with("V2V_PoseNet.txt")
    );
}

#[test]
fn eval_table_and_plots_in_both_formats_never_overwriting() {
    let dir = nyu_data();
    let out = scratch("plots");
    let gt = dir.join("nyu_test_groundtruth_label.txt");
    let preds: Vec<PathBuf> = EXPECTED.iter().map(|e| dir.join(e.file)).collect();
    let svg = out.join("eval.svg");
    let png_path = out.join("eval.png");
    for plot in [&svg, &png_path] {
        let mut args = vec!["eval", "--gt", s(&gt)];
        for p in &preds {
            args.extend(["--pred", s(p)]);
        }
        for e in &EXPECTED {
            args.extend(["--label", e.label]);
        }
        args.extend(["--plot", s(plot)]);
        let o = hourhand(&args);
        assert!(o.status.success(), "{}", stderr(&o));
        let table = String::from_utf8_lossy(&o.stdout);
        for needle in [
            "12.238",
            "8.419",
            "12.694",
            "6.930",
            "15.387",
            "0.3053",
            "index tip",
            "edge (1125 frames)",
        ] {
            assert!(table.contains(needle), "{needle} not in:\n{table}");
        }

        // A second run must leave the plot alone without --force, and replace it with it.
        std::fs::write(plot, b"keep me").unwrap();
        let o = hourhand(&args);
        assert!(!o.status.success());
        assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
        assert_eq!(std::fs::read(plot).unwrap(), b"keep me");
        args.push("--force");
        let o = hourhand(&args);
        assert!(o.status.success(), "{}", stderr(&o));
    }

    let text = std::fs::read_to_string(&svg).unwrap();
    for needle in [
        "<svg",
        "DeepPrior++",
        "V2V-PoseNet",
        "REN 9x6x6",
        "little tip",
        "palm",
    ] {
        assert!(text.contains(needle), "{needle} not in the SVG");
    }

    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).expect("decodes");
    assert!(info.width >= 800 && info.height >= 800);
    let pixels = &pixels[..info.buffer_size()];
    let white = pixels.chunks(3).filter(|p| p == &[255, 255, 255]).count();
    let total = pixels.len() / 3;
    // Not blank, not a solid fill: mostly white background with lines, bars and text.
    assert!(
        white > total / 3 && white < total * 19 / 20,
        "{white} of {total} white"
    );
    // The first series' blue (Tableau 10) is drawn.
    assert!(pixels.chunks(3).any(|p| p == [31, 119, 180]));
}

#[test]
fn eval_errors_name_the_files() {
    let dir = nyu_data();
    let out = scratch("errors");
    let gt = dir.join("nyu_test_groundtruth_label.txt");
    let short = out.join("short.txt");
    let text = std::fs::read_to_string(dir.join(EXPECTED[0].file)).unwrap();
    let lines: Vec<&str> = text.lines().take(100).collect();
    std::fs::write(&short, lines.join("\n")).unwrap();
    let o = hourhand(&["eval", "--gt", s(&gt), "--pred", s(&short)]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("short.txt has 100 frames")
            && err.contains("nyu_test_groundtruth_label.txt has 8252"),
        "{err}"
    );

    // The shared folder holds results files, not an NYU split: a folder that is not one says so.
    let o = hourhand(&["eval", "--gt", s(&dir), "--pred", s(&short)]);
    assert!(stderr(&o).contains("not an NYU folder"), "{}", stderr(&o));

    let o = hourhand(&[
        "eval",
        "--gt",
        s(&gt),
        "--pred",
        s(&short),
        "--plot",
        "x.pdf",
    ]);
    assert!(
        stderr(&o).contains("x.pdf: unknown image type"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("panicked"));
}

/// A closed pipe ends `eval` quietly, as it ends `cat` (`hourhand eval … | head -1`): killed by
/// SIGPIPE, no panic and no backtrace on the terminal.
#[test]
fn a_closed_pipe_ends_eval_quietly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (gt, pred) = (
        root.join("assets/sample"),
        root.join("assets/sample-results/bundled-64x64.txt"),
    );
    // The pipe's read end is closed before eval starts: closing it after the spawn raced with
    // eval, which on a loaded machine could write everything into the pipe's buffer first and
    // exit 0.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hourhand"))
        .args(["eval", "--gt", s(&gt), "--pred", s(&pred), "--json"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(13), "{:?}: {err}", o.status);
    }
}
