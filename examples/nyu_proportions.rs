//! The synthetic hands' labels against NYU's own annotations, joint by joint: where each label
//! sits on the hand (segment lengths, the palm centre along the hand, the thumb's points) and
//! how open the hands are, for NYU's two test subjects and for synthetic frames.
//!
//! `cargo run --release --example nyu_proportions -- [labels] [frames] [seed]`: `labels` is
//! NYU's `nyu_test_groundtruth_label.txt` (default: `$HOURHAND_NYU_DATA`, else
//! `../shared/data/nyu` beside the checkout), then synthetic frames of `seed` (defaults 3000, 2;
//! joints only, nothing rendered). Medians unless a row says otherwise.
//!
//! Why: a network learns the labels' conventions along with the hands. Where the generator puts
//! a label elsewhere than NYU's annotators did, or draws poses NYU's subjects rarely make, a
//! model trained on synthetic hands is off on real frames by that much however well it fits
//! the generator, and no synthetic validation shows it.

use std::path::PathBuf;

use glam::{DVec3, Vec3};
use hourhand::data::crop::NYU_SECOND_SUBJECT_FIRST_FRAME;
use hourhand::data::synth::{SynthOptions, joints_uvd};
use hourhand::data::{EVAL_SUBSET, Intrinsics};
use hourhand::eval::{Format, results};

/// The 14 evaluation joints' places in a results line.
const MIDDLE_MID: usize = 5;
const INDEX_MID: usize = 7;
const THUMB_MID: usize = 9;
const THUMB_BASE: usize = 10;
const WRIST_1: usize = 11;
const WRIST_2: usize = 12;
const PALM: usize = 13;
/// Each finger's tip and middle point (little, ring, middle, index), then the thumb's.
const FINGERS: [(&str, usize, usize); 5] = [
    ("little", 0, 1),
    ("ring", 2, 3),
    ("middle", 4, 5),
    ("index", 6, 7),
    ("thumb", 8, 9),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let labels = args.get(1).map(PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOURHAND_NYU_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/nyu"))
            .join("nyu_test_groundtruth_label.txt")
    });
    let frames: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3000);
    let seed: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);

    let nyu = match results::read(&labels, Format::NYU) {
        Ok(nyu) => nyu,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let to_xyz = |frame: &[DVec3]| -> Vec<Vec3> {
        let k = Intrinsics::NYU_EVAL;
        frame.iter().map(|&j| k.uvd_to_xyz(j.as_vec3())).collect()
    };
    let split = (NYU_SECOND_SUBJECT_FIRST_FRAME - 1).min(nyu.len());
    let first: Vec<Vec<Vec3>> = nyu[..split].iter().map(|f| to_xyz(f)).collect();
    let second: Vec<Vec<Vec3>> = nyu[split..].iter().map(|f| to_xyz(f)).collect();
    let options = SynthOptions::default();
    let synthetic: Vec<Vec<Vec3>> = (0..frames)
        .map(|i| {
            let uvd = joints_uvd(seed, i, &options);
            EVAL_SUBSET
                .iter()
                .map(|&j| options.intrinsics.uvd_to_xyz(uvd[j]))
                .collect()
        })
        .collect();
    let sets = [
        (format!("NYU 1–{split}"), first),
        (format!("NYU {}–{}", split + 1, nyu.len()), second),
        (format!("synthetic, seed {seed}"), synthetic),
    ];

    println!("labels: {} ({} frames)", labels.display(), nyu.len());
    print!("{:<44}", "median (mm unless said)");
    for (name, _) in &sets {
        print!("{name:>22}");
    }
    println!();
    let row = |what: &str, measure: &dyn Fn(&[Vec3]) -> f32, percentiles: &[f32]| {
        print!("{what:<44}");
        for (_, frames) in &sets {
            let mut values: Vec<f32> = frames.iter().map(|f| measure(f)).collect();
            values.sort_by(f32::total_cmp);
            let cells: Vec<String> = percentiles
                .iter()
                .map(|&p| format!("{:.2}", percentile(&values, p)))
                .collect();
            print!("{:>22}", cells.join(" "));
        }
        println!();
    };
    let median = &[0.5];
    let distance = |a: usize, b: usize| move |f: &[Vec3]| (f[a] - f[b]).length();
    let wrist = |f: &[Vec3]| (f[WRIST_1] + f[WRIST_2]) * 0.5;
    for (name, tip, mid) in FINGERS {
        row(&format!("{name} tip – mid"), &distance(tip, mid), median);
    }
    for (name, _, mid) in &FINGERS[..4] {
        row(&format!("{name} mid – palm"), &distance(*mid, PALM), median);
    }
    row(
        "thumb mid – thumb base",
        &distance(THUMB_MID, THUMB_BASE),
        median,
    );
    row("thumb base – palm", &distance(THUMB_BASE, PALM), median);
    row(
        "thumb base – wrist 2",
        &distance(THUMB_BASE, WRIST_2),
        median,
    );
    row("wrist 1 – wrist 2", &distance(WRIST_1, WRIST_2), median);
    row("wrist 1 – palm", &distance(WRIST_1, PALM), median);
    row(
        "middle mid – wrist 1",
        &distance(MIDDLE_MID, WRIST_1),
        median,
    );
    row(
        "palm along wrists' middle → middle mid (0–1)",
        &|f: &[Vec3]| {
            let (w, axis) = (wrist(f), f[MIDDLE_MID] - wrist(f));
            (f[PALM] - w).dot(axis) / axis.length_squared()
        },
        median,
    );
    println!(
        "openness: tip – wrists' middle over wrists' middle – index mid, 10th 50th 90th percentiles"
    );
    for (name, tip, _) in FINGERS {
        row(
            &format!("  {name}"),
            &|f: &[Vec3]| (f[tip] - wrist(f)).length() / (f[INDEX_MID] - wrist(f)).length(),
            &[0.1, 0.5, 0.9],
        );
    }
}

/// The `p`-quantile of sorted `values` (nearest rank).
fn percentile(values: &[f32], p: f32) -> f32 {
    if values.is_empty() {
        return f32::NAN;
    }
    let rank = ((values.len() - 1) as f32 * p).round() as usize;
    values[rank]
}
