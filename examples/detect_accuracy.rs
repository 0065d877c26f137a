//! How far the depth-only hand detector lands from the true palm centre (PALM_3) on synthetic
//! frames: `cargo run --release --example detect_accuracy -- [frames] [seed]` (defaults 1000, 99).
//! Prints the mean, median, 95th percentile and worst centre error in mm, and the failures.

use hourhand::data::detect::{DetectOptions, detect_hand};
use hourhand::data::synth::{SynthOptions, generate};
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let frames: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let seed: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(99);
    let options = SynthOptions::default();
    let band: f32 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(200.0);
    let hand_length: f32 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(120.0);
    let detect = DetectOptions {
        band,
        hand_length,
        ..Default::default()
    };
    let results: Vec<Result<f32, String>> = (0..frames)
        .into_par_iter()
        .map(|i| {
            let frame = generate(seed, i, &options);
            let truth = frame.joints_xyz[hourhand::data::PRIOR_JOINT];
            detect_hand(&frame.depth, &options.intrinsics, &detect)
                .map(|c| (c - truth).length())
                .map_err(|e| e.0)
        })
        .collect();
    let mut errors: Vec<f32> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    errors.sort_by(f32::total_cmp);
    let failed = results.len() - errors.len();
    let pick = |q: f64| errors[((errors.len() - 1) as f64 * q).round() as usize];
    let mean = errors.iter().sum::<f32>() / errors.len() as f32;
    println!(
        "{} synthetic frames (seed {seed}): centre error mean {mean:.1} mm, median {:.1}, 95th percentile {:.1}, max {:.1}; {failed} without a detection",
        results.len(),
        pick(0.5),
        pick(0.95),
        pick(1.0)
    );
    let within = |t: f32| errors.iter().filter(|&&e| e <= t).count() as f64 / results.len() as f64;
    println!(
        "within 20 mm: {:.3}, within 40 mm: {:.3}",
        within(20.0),
        within(40.0)
    );
}
