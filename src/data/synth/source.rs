//! Synthetic hands as a [`Source`], made on the fly: `synth:SEED:FRAMES` opens anywhere a
//! folder does (`train --data`, `eval`, `infer`, the viewer), so a training set needs no folder
//! of PNGs (5,000 frames are 681 MB). Frame i is [`generate`]`(SEED, i)` with its depth rounded
//! to whole millimetres, so it holds the same depth values as frame i of `hourhand synth --seed
//! SEED`; joints come from the hand's pose alone, without rendering.

use std::path::{Path, PathBuf};

use super::{SynthOptions, generate, joints_uvd};
use crate::data::source::{Frame, GroundTruth, Source};
use crate::data::{DataError, DepthMap, Intrinsics, Joints};

/// The prefix of a synthetic source's spec.
const PREFIX: &str = "synth:";

/// `synth:SEED:FRAMES` as (seed, frames); `None` when `spec` does not start with `synth:`,
/// an error naming what is wrong when it does but is not of that form.
pub fn parse_spec(spec: &Path) -> Option<Result<(u64, usize), DataError>> {
    let text = spec.to_str()?;
    let rest = text.strip_prefix(PREFIX)?;
    let bad = |problem: String| DataError::Folder {
        path: spec.into(),
        problem,
    };
    let parsed = rest.split_once(':').ok_or_else(|| {
        bad("a synthetic source is synth:SEED:FRAMES, e.g. synth:1:5000".to_string())
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
        Ok((seed, frames))
    }))
}

/// `frames` synthetic frames of sequence `seed`, made when they are loaded.
pub struct SynthSource {
    seed: u64,
    options: SynthOptions,
    joints: Vec<Joints>,
}

impl SynthSource {
    /// The source `synth:seed:frames` at NYU's camera with the sensor model. Poses all joints
    /// up front (about 10 µs a frame); renders nothing until a frame is loaded.
    pub fn new(seed: u64, frames: usize) -> SynthSource {
        let options = SynthOptions::default();
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
            "synthetic hands, seed {}: {} frames made on the fly",
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
            "{PREFIX}{}:{}/{}",
            self.seed,
            self.joints.len(),
            index + 1
        ))
    }

    fn ground_truth(&self, index: usize) -> Option<GroundTruth> {
        self.joints.get(index).map(|j| GroundTruth::Full(*j))
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
