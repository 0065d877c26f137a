//! `hourhand synth`: a synthetic NYU-format dataset folder of articulated hands.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use hourhand::camera::fakenect::DumpWriter;
use hourhand::data::nyu::{SplitFrame, write_split};
use hourhand::data::preview::hand_grid;
use hourhand::data::synth::{Generation, SynthOptions, generate};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// The folder to write (an NYU split folder: depth_1_NNNNNNN.png and joint_data.mat).
    #[arg(long)]
    out: PathBuf,
    /// How many frames.
    #[arg(long, default_value_t = 100)]
    frames: usize,
    /// The sequence's seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Also write a picture of the first frames with their joints (PNG).
    #[arg(long)]
    preview: Option<PathBuf>,
    /// Replace an existing dataset in the folder.
    #[arg(long)]
    force: bool,
    /// Write a fakenect dump at 30 FPS instead (INDEX.txt and Kinect raw-disparity PGMs), which
    /// `view` plays and fakenect replays as a Kinect: a camera to try `--camera` without one.
    #[arg(long)]
    fakenect: bool,
    /// The generator's generation: 3, NYU's label conventions (`PALM_3`, the thumb's middle
    /// point), hands as open as NYU's subjects hold them and turned as they turn them (edge-on
    /// now and then, the back seldom; `synth3:SEED:FRAMES` on the fly); 2, the same labels and
    /// hands upright, the back towards the camera in a third of the frames and never edge-on
    /// (`synth2:`); 1, the anatomical labels and more curled hands of the bundled model's
    /// earlier stages (`synth:`). The older ones are kept to remake what was made with them.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=3))]
    generation: u8,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.frames > 0, "--frames must be at least 1");
    let options = SynthOptions {
        generation: Generation::ALL[usize::from(args.generation) - 1],
        ..SynthOptions::default()
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.frames as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} frames  {per_sec}  ETA {eta}")
            .expect("a valid template"),
    );
    let start = Instant::now();
    let make = |i: usize| SplitFrame::from(generate(args.seed, i as u64, &options));
    if args.fakenect {
        let mut dump = DumpWriter::create(&args.out, args.force)?;
        for i in 0..args.frames {
            // The camera timestamp of a synthetic frame is its number.
            dump.push(&make(i).depth, i as f64 / 30.0, i as u32)?;
            bar.inc(1);
        }
    } else {
        let labels = options.generation.labels();
        write_split(
            &args.out,
            args.frames,
            make,
            || bar.inc(1),
            labels,
            args.force,
        )?;
    }
    bar.finish_and_clear();
    if let Some(path) = &args.preview {
        let shown: Vec<_> = (0..args.frames.min(8))
            .map(|i| generate(args.seed, i as u64, &options))
            .collect();
        let tiles: Vec<_> = shown.iter().map(|f| (&f.depth, &f.joints_uvd)).collect();
        hand_grid(&tiles, 4, 200).save_png(path, args.force)?;
    }
    if !args.quiet {
        let seconds = start.elapsed().as_secs_f64();
        eprintln!(
            "wrote {} frames (seed {}) to {} in {seconds:.1} s ({:.0} frames/s)",
            args.frames,
            args.seed,
            args.out.display(),
            args.frames as f64 / seconds
        );
    }
    Ok(())
}
