//! Synthetic hands as a [`Source`], made on the fly: `synth:SEED:FRAMES` opens anywhere a
//! folder does (`train --data`, `eval`, `infer`, the viewer), so a training set needs no folder
//! of PNGs (5,000 frames are 681 MB). Frame i is [`generate`]`(SEED, i)` with its depth rounded
//! to whole millimetres, so it holds the same depth values as frame i of `hourhand synth --seed
//! SEED --generation 1`; joints come from the hand's pose alone, without rendering.
//! `synth2:SEED:FRAMES` is the same with the generator's second [`Generation`] (NYU's label
//! conventions, NYU-like poses; `hourhand synth --generation 2`), `synth3:SEED:FRAMES` with its
//! third (the hand also held and turned as NYU's subjects hold theirs; `hourhand synth`).

use std::path::{Path, PathBuf};

use super::{Generation, SynthOptions, generate, joints_uvd};
use crate::data::source::{Frame, GroundTruth, Source};
use crate::data::{DataError, DepthMap, Intrinsics, Joints, Labels};

/// A parsed `synth:SEED:FRAMES` (or `synth2:…`, `synth3:…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSpec {
    /// The sequence.
    pub seed: u64,
    /// How many frames.
    pub frames: usize,
    /// Which generation of the generator makes them.
    pub generation: Generation,
}

impl SynthSpec {
    /// What a spec of `generation` starts with.
    pub fn prefix(generation: Generation) -> &'static str {
        match generation {
            Generation::First => "synth:",
            Generation::Second => "synth2:",
            Generation::Third => "synth3:",
        }
    }
}

/// `synth:SEED:FRAMES`, `synth2:SEED:FRAMES` or `synth3:SEED:FRAMES`; `None` when `spec` starts
/// with none of them, an error naming what is wrong when it does but is not of that form.
pub fn parse_spec(spec: &Path) -> Option<Result<SynthSpec, DataError>> {
    let text = spec.to_str()?;
    let (prefix, rest, generation) = Generation::ALL.into_iter().find_map(|g| {
        let prefix = SynthSpec::prefix(g);
        text.strip_prefix(prefix).map(|rest| (prefix, rest, g))
    })?;
    let bad = |problem: String| DataError::Folder {
        path: spec.into(),
        problem,
    };
    let parsed = rest.split_once(':').ok_or_else(|| {
        bad(format!(
            "a synthetic source is {prefix}SEED:FRAMES, e.g. {prefix}1:5000"
        ))
    });
    Some(parsed.and_then(|(seed, frames)| {
        let seed = seed
            .parse::<u64>()
            .map_err(|e| bad(format!("seed `{seed}` is not a whole number ({e})")))?;
        let frames = frames.parse::<usize>().map_err(|e| {
            bad(format!(
                "frame count `{frames}` is not a whole number ({e})"
            ))
        })?;
        if frames == 0 {
            return Err(bad("a synthetic source needs at least one frame".into()));
        }
        Ok(SynthSpec {
            seed,
            frames,
            generation,
        })
    }))
}

/// `frames` synthetic frames of sequence `seed`, made when they are loaded.
pub struct SynthSource {
    seed: u64,
    options: SynthOptions,
    joints: Vec<Joints>,
}

impl SynthSource {
    /// The source `synth:seed:frames` (or `synth2:…`, `synth3:…`) at NYU's camera with the
    /// sensor model. Poses all joints up front (about 10 µs a frame); renders nothing until a
    /// frame is loaded.
    pub fn new(spec: SynthSpec) -> SynthSource {
        let SynthSpec {
            seed,
            frames,
            generation,
        } = spec;
        let options = SynthOptions {
            generation,
            ..SynthOptions::default()
        };
        let joints = (0..frames as u64)
            .map(|i| joints_uvd(seed, i, &options))
            .collect();
        SynthSource {
            seed,
            options,
            joints,
        }
    }
}

impl Source for SynthSource {
    fn describe(&self) -> String {
        format!(
            "synthetic hands{}, seed {}: {} frames made on the fly",
            match self.options.generation {
                Generation::First => "",
                Generation::Second => " (second generation: NYU's labels and poses)",
                Generation::Third => " (third generation: NYU's labels, poses and views)",
            },
            self.seed,
            self.joints.len()
        )
    }

    fn len(&self) -> usize {
        self.joints.len()
    }

    fn intrinsics(&self) -> Intrinsics {
        self.options.intrinsics
    }

    fn frame_path(&self, index: usize) -> PathBuf {
        PathBuf::from(format!(
            "{}{}:{}/{}",
            SynthSpec::prefix(self.options.generation),
            self.seed,
            self.joints.len(),
            index + 1
        ))
    }

    fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        self.joints.get(index).map(|j| GroundTruth::Full(*j))
    }

    fn labels(&self) -> Labels {
        self.options.generation.labels()
    }

    fn load(&self, index: usize) -> Result<Frame, DataError> {
        if index >= self.joints.len() {
            return Err(DataError::Folder {
                path: self.frame_path(index),
                problem: format!("no frame {}; the source has {}", index + 1, self.len()),
            });
        }
        let f = generate(self.seed, index as u64, &self.options);
        // Whole millimetres, as a depth PNG of `hourhand synth` holds them.
        let mm: Vec<f32> = f.depth.values().iter().map(|d| d.round()).collect();
        let depth = DepthMap::new(f.depth.width(), f.depth.height(), mm)
            .expect("rounded rendered depth is finite, non-negative and w×h");
        Ok(Frame {
            index,
            name: format!("synthetic {} of seed {}", index + 1, self.seed),
            path: self.frame_path(index),
            depth,
            intrinsics: self.options.intrinsics,
            ground_truth: self.ground_truth(index),
        })
    }
}
