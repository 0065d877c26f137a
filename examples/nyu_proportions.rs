//! The synthetic hands' labels against NYU's own annotations, joint by joint: where each label
//! sits on the hand (segment lengths, the palm centre along the hand, the thumb's points) and
//! how open the hands are, for NYU's two test subjects and for synthetic frames.
//!
//! `cargo run --release --example nyu_proportions -- [labels] [frames] [seed]`: `labels` is
//! NYU's `nyu_test_groundtruth_label.txt` (default: `$HOURHAND_NYU_DATA`, else
//! `../shared/data/nyu` beside the checkout), then synthetic frames of `seed` (defaults 3000, 2;
//! joints only, nothing rendered) of each generation of the generator. Medians unless a row
//! says otherwise.
//! Why it matters: [`hourhand::eval::proportions`]; what it showed: the README's "The synthetic
//! labels against NYU's".

use std::path::PathBuf;

use glam::Vec3;
use hourhand::data::synth::Generation;
use hourhand::eval::proportions::{
    FINGERS, at, distance, facing_shares, lean, nyu_subjects, openness, palm_along_hand, quantiles,
    roll, synthetic_hands,
};
use hourhand::eval::{Format, results};

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
    let [first, second] = nyu_subjects(&nyu);
    let split = first.len();
    let sets = [
        (format!("NYU 1–{split}"), first),
        (format!("NYU {}–{}", split + 1, nyu.len()), second),
        (
            format!("synth seed {seed}"),
            synthetic_hands(Generation::First, seed, frames),
        ),
        (
            format!("synth2 seed {seed}"),
            synthetic_hands(Generation::Second, seed, frames),
        ),
        (
            format!("synth3 seed {seed}"),
            synthetic_hands(Generation::Third, seed, frames),
        ),
    ];

    println!("labels: {} ({} frames)", labels.display(), nyu.len());
    print!("{:<44}", "median (mm unless said)");
    for (name, _) in &sets {
        print!("{name:>20}");
    }
    println!();
    let row = |what: &str, measure: &dyn Fn(&[Vec3]) -> f32, ps: &[f32]| {
        print!("{what:<44}");
        for (_, hands) in &sets {
            let cells: Vec<String> = quantiles(hands.iter().map(|h| measure(h)), ps)
                .iter()
                .map(|q| format!("{q:.2}"))
                .collect();
            print!("{:>20}", cells.join(" "));
        }
        println!();
    };
    let median = &[0.5];
    let between = |a: usize, b: usize| move |h: &[Vec3]| distance(h, a, b);
    for (name, tip, mid) in FINGERS {
        row(&format!("{name} tip – mid"), &between(tip, mid), median);
    }
    for (name, _, mid) in &FINGERS[..4] {
        row(
            &format!("{name} mid – palm"),
            &between(*mid, at::PALM),
            median,
        );
    }
    for (what, a, b) in [
        ("thumb mid – thumb base", at::THUMB_MID, at::THUMB_BASE),
        ("thumb base – palm", at::THUMB_BASE, at::PALM),
        ("thumb base – wrist 2", at::THUMB_BASE, at::WRIST_2),
        ("wrist 1 – wrist 2", at::WRIST_1, at::WRIST_2),
        ("wrist 1 – palm", at::WRIST_1, at::PALM),
        ("middle mid – wrist 1", at::MIDDLE_MID, at::WRIST_1),
    ] {
        row(what, &between(a, b), median);
    }
    row(
        "palm along wrists' middle → middle mid (0–1)",
        &palm_along_hand,
        median,
    );
    println!(
        "openness: tip – wrists' middle over wrists' middle – index mid, 10th 50th 90th percentiles"
    );
    for (name, tip, _) in FINGERS {
        row(
            &format!("  {name}"),
            &|h: &[Vec3]| openness(h, tip),
            &[0.1, 0.5, 0.9],
        );
    }
    println!("how the hand is held (10th 50th 90th percentiles)");
    row("  lean towards the camera (°)", &lean, &[0.1, 0.5, 0.9]);
    row("  roll, anticlockwise from up (°)", &roll, &[0.1, 0.5, 0.9]);
    print!("{:<44}", "  palm / edge / back towards the camera");
    for (_, hands) in &sets {
        let cells: Vec<String> = facing_shares(hands)
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect();
        print!("{:>20}", cells.join(" "));
    }
    println!();
}
