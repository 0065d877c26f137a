//! How fast synthetic frames are made on one thread, with the smooth skin and with the plain
//! union of solids, in alternating rounds (this machine's speed drifts; medians of the rounds):
//! `cargo run --release --example synth_speed -- [frames per round] [rounds]` (defaults 40, 5).

use std::time::Instant;

use hourhand::data::synth::{SynthOptions, generate};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let frames: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(40);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let skin = SynthOptions::default();
    let plain = SynthOptions {
        skin_blend_mm: 0.0,
        ..skin
    };
    let rate = |options: &SynthOptions| {
        let t = Instant::now();
        for i in 0..frames {
            std::hint::black_box(generate(1, i, options));
        }
        frames as f64 / t.elapsed().as_secs_f64()
    };
    let (mut with_skin, mut without) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        with_skin.push(rate(&skin));
        without.push(rate(&plain));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut with_skin), median(&mut without));
    println!(
        "one thread, {frames} frames × {rounds} rounds, medians: skin {a:.1} frames/s, plain union {b:.1} frames/s ({:.2}×)",
        a / b
    );
}
