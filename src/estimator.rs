//! From depth frames to joints: crop each hand, run the network on either backend, map its
//! outputs back to millimetres and pixels. `infer`, `eval` and the viewer all go through here.

use glam::Vec3;

use crate::cpu::fast::FastNet;
use crate::data::Labels;
use crate::data::crop::{Crop, CropError, OUTPUTS};
use crate::data::detect::{DetectOptions, detect_hand};
use crate::data::palm::palm_centre;
use crate::data::source::Frame;
use crate::data::{DataError, Joints};
use crate::gpu::{GpuError, GpuNet};
use crate::run::InputError;

/// The network on one backend.
pub enum Engine {
    /// WGSL kernels on a wgpu device.
    Gpu(Box<GpuNet>),
    /// The CPU backend (the compiled fast path; see [`crate::cpu::fast`]).
    Cpu(Box<FastNet>),
}

/// What can go wrong estimating poses.
#[derive(Debug, thiserror::Error)]
pub enum EstimateError {
    /// The weights are for another task than NYU's 36 joints from one depth crop.
    #[error(
        "these weights take {inputs} and predict {outputs} values; hand pose needs one 1×S×S depth input and {OUTPUTS} outputs (35 joints × 3)"
    )]
    Network {
        /// The program's inputs, described.
        inputs: String,
        /// The program's output count.
        outputs: usize,
    },
    /// The GPU backend failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// The CPU backend was given bad inputs.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A frame could not be cropped.
    #[error("{frame}: {source}")]
    Crop {
        /// The frame.
        frame: String,
        /// Why.
        source: CropError,
    },
    /// A frame could not be read or has no hand.
    #[error(transparent)]
    Data(#[from] DataError),
}

impl EstimateError {
    /// Whether the engine itself is broken (its GPU device lost, or failing), not just this
    /// frame: a viewer then stops asking it and says so once.
    pub fn engine_is_broken(&self) -> bool {
        matches!(
            self,
            EstimateError::Gpu(GpuError::DeviceLost { .. } | GpuError::Device { .. })
        )
    }
}

/// Network passes after the first that re-centre a detected crop on the palm the previous pass
/// predicted ([`Estimator::estimate_refined`]). On 300 synthetic frames (seed 7) with the
/// bundled model, the mean error with detected centres went from 21.4 mm to 18.7 after one
/// pass, 18.2 after two and 18.0 after three (17.0 on the annotated centres); on the bundled
/// sample from 20.9 to 17.9 after two. Each pass costs one more network run.
pub const REFINE_PASSES: usize = 2;

/// Where the crop of each frame is centred.
#[derive(Debug, Clone, PartialEq)]
pub enum Centers {
    /// The annotated palm centre (the paper's protocol); frames without annotation are an error.
    GroundTruth,
    /// One centre (camera space, mm) per frame of the source, e.g. the shared refined NYU centres.
    Given(Vec<Vec3>),
    /// Found in the depth (closest object, centre of mass).
    Detect(DetectOptions),
}

impl Centers {
    /// How the centres are chosen, for the user.
    pub fn describe(&self) -> &'static str {
        match self {
            Centers::GroundTruth => "ground-truth palm centre (PALM_3)",
            Centers::Given(_) => "centres file",
            Centers::Detect(_) => "detected (closest object + centre of mass)",
        }
    }

    /// The centre for `frame`.
    pub fn center(&self, frame: &Frame) -> Result<Vec3, DataError> {
        match self {
            Centers::GroundTruth => frame.palm_xyz().ok_or_else(|| DataError::NoHand {
                frame: frame.path.display().to_string(),
                problem: "the frame has no annotation to centre the crop on; use detection or a centres file".into(),
            }),
            Centers::Given(c) => c.get(frame.index).copied().ok_or_else(|| DataError::Folder {
                path: frame.path.clone(),
                problem: format!("the centres file has {} lines, none for frame {}", c.len(), frame.index + 1),
            }),
            Centers::Detect(options) => {
                detect_hand(&frame.depth, &frame.intrinsics, options).map_err(|e| DataError::NoHand {
                    frame: frame.path.display().to_string(),
                    problem: e.0,
                })
            }
        }
    }
}

/// One frame's estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The crop the network saw.
    pub crop: Crop,
    /// 36 joints, camera space (mm).
    pub xyz: Joints,
    /// 36 joints, (u, v, d).
    pub uvd: Joints,
}

/// The network with its input size, ready for frames.
pub struct Estimator {
    engine: Engine,
    input_size: usize,
    /// The label convention the network predicts (its weights'), for re-centring on its palm.
    labels: Labels,
}

impl Estimator {
    /// Checks the engine's program is a hand-pose network (one 1×S×S input, 105 outputs);
    /// `labels` is the convention its weights were trained on ([`Weights::labels`]).
    ///
    /// [`Weights::labels`]: crate::net::Weights::labels
    pub fn new(engine: Engine, labels: Labels) -> Result<Estimator, EstimateError> {
        let program = match &engine {
            Engine::Gpu(net) => net.program(),
            Engine::Cpu(net) => net.program(),
        };
        let inputs: Vec<String> = program
            .inputs
            .iter()
            .map(|(n, s)| format!("{n} {s:?}"))
            .collect();
        let out = program.shape(&program.output);
        let outputs = out.c * out.h * out.w;
        let square_depth = match program.inputs.as_slice() {
            [(_, s)] => s.c == 1 && s.h == s.w,
            _ => false,
        };
        if !square_depth || outputs != OUTPUTS {
            return Err(EstimateError::Network {
                inputs: inputs.join(", "),
                outputs,
            });
        }
        let input_size = program.inputs[0].1.h;
        Ok(Estimator {
            engine,
            input_size,
            labels,
        })
    }

    /// The network input's side (pixels).
    pub fn input_size(&self) -> usize {
        self.input_size
    }

    /// The backend, for the user.
    pub fn describe(&self) -> String {
        match &self.engine {
            Engine::Gpu(net) => net.context().summary().to_string(),
            Engine::Cpu(_) => format!("CPU, {} threads", rayon::current_num_threads()),
        }
    }

    /// Estimates the pose in each frame, its crop centred on `centers[i]` with a cube of
    /// `cubes[i]` mm, in one batch.
    pub fn estimate(
        &mut self,
        frames: &[&Frame],
        centers: &[Vec3],
        cubes: &[f32],
    ) -> Result<Vec<Estimate>, EstimateError> {
        let n = self.input_size;
        let mut crops = Vec::with_capacity(frames.len());
        let mut input = vec![1.0f32; frames.len() * n * n];
        for (i, frame) in frames.iter().enumerate() {
            let crop = Crop::new(centers[i], cubes[i], n, &frame.intrinsics).map_err(|source| {
                EstimateError::Crop {
                    frame: frame.path.display().to_string(),
                    source,
                }
            })?;
            crop.input_into(&frame.depth, &mut input[i * n * n..(i + 1) * n * n]);
            crops.push(crop);
        }
        let out = self.forward(&input, frames.len())?;
        Ok(crops
            .into_iter()
            .zip(frames)
            .enumerate()
            .map(|(i, (crop, frame))| {
                let values: &[f32; OUTPUTS] = out[i * OUTPUTS..(i + 1) * OUTPUTS]
                    .try_into()
                    .expect("OUTPUTS values");
                let xyz = crop.denormalize(values);
                let uvd = xyz.map(|p| frame.intrinsics.xyz_to_uvd(p));
                Estimate { crop, xyz, uvd }
            })
            .collect())
    }

    /// Like [`Estimator::estimate`], then `passes` more times with each crop re-centred on the
    /// palm centre the previous pass predicted ([`palm_centre`], in the network's label
    /// convention).
    ///
    /// The network takes the crop's centre for `PALM_3`, so a centre that misses the palm (a
    /// detected one misses by 25 mm on average on synthetic frames) shifts the whole
    /// prediction; its own joints find the palm better than the detector did. A frame whose
    /// re-centred crop cannot be made (a centre behind the camera) keeps its previous centre.
    pub fn estimate_refined(
        &mut self,
        frames: &[&Frame],
        centers: &[Vec3],
        cubes: &[f32],
        passes: usize,
    ) -> Result<Vec<Estimate>, EstimateError> {
        let mut estimates = self.estimate(frames, centers, cubes)?;
        for _ in 0..passes {
            let next: Vec<Vec3> = estimates
                .iter()
                .zip(frames.iter().zip(cubes))
                .map(|(e, (frame, &cube))| {
                    let c = palm_centre(&e.xyz, self.labels);
                    let usable = Crop::new(c, cube, self.input_size, &frame.intrinsics).is_ok();
                    if usable { c } else { e.crop.center }
                })
                .collect();
            estimates = self.estimate(frames, &next, cubes)?;
        }
        Ok(estimates)
    }

    /// Runs the network on `batch` prepared inputs.
    pub fn forward(&mut self, input: &[f32], batch: usize) -> Result<Vec<f32>, EstimateError> {
        Ok(match &mut self.engine {
            Engine::Gpu(net) => net.forward(&[input], batch)?,
            Engine::Cpu(net) => net.forward(&[input], batch)?,
        })
    }
}
