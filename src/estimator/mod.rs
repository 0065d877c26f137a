//! From depth frames to joints: crop each hand, run the network on either backend, map its
//! outputs back to millimetres and pixels. `infer`, `eval` and the viewer all go through here.
//! Where crops are centred is [`Centers`] (`centers.rs`); the turns of test-time rotation,
//! [`rotation_angles`] (`rotations.rs`).

mod centers;
mod rotations;

pub use centers::Centers;
pub use rotations::{MAX_ROTATIONS, ROTATION_STEP_DEGREES, describe_rotations, rotation_angles};

use glam::Vec3;

use crate::cpu::fast::FastNet;
use crate::data::Labels;
use crate::data::crop::{Crop, CropError, OUTPUTS};
use crate::data::palm::palm_centre;
use crate::data::source::Frame;
use crate::data::{DataError, Joints, NUM_JOINTS};
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
    /// A test-time rotation count the estimator does not take.
    #[error(
        "{0} rotations: test-time rotation takes an odd count from 1 (off) to {MAX_ROTATIONS} (0°, ±15°, ±30° … ±90°), so the turns are symmetric"
    )]
    Rotations(usize),
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
    /// The crops' turns (radians) each estimate averages over; `[0.0]` without test-time
    /// rotation.
    angles: Vec<f32>,
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
            angles: vec![0.0],
        })
    }

    /// Test-time rotation: each estimate becomes the mean of the network's estimates on `count`
    /// crops of the frame, turned 0°, ±15°, ±30° … about the crop's centre and turned back
    /// ([`Crop::rotated`]); `count` 1 is the plain crop.
    ///
    /// The network was trained on turned crops, and its errors on differently turned views of
    /// one hand are partly independent, so their mean is on average nearer the truth than the
    /// plain crop's, though each turned crop alone is further (the README measures both). Each
    /// turn costs one more network run.
    pub fn set_rotations(&mut self, count: usize) -> Result<(), EstimateError> {
        self.angles = rotation_angles(count)?;
        Ok(())
    }

    /// The turned crops each estimate averages over (1: no test-time rotation).
    pub fn rotations(&self) -> usize {
        self.angles.len()
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
    /// `cubes[i]` mm, in one batch of frames ([`rotations`](Self::rotations) batches with
    /// test-time rotation).
    pub fn estimate(
        &mut self,
        frames: &[&Frame],
        centers: &[Vec3],
        cubes: &[f32],
    ) -> Result<Vec<Estimate>, EstimateError> {
        let angles = self.angles.clone();
        self.estimate_turned(frames, centers, cubes, &angles)
    }

    /// [`Estimator::estimate`] with each estimate the mean over crops turned by `angles`.
    fn estimate_turned(
        &mut self,
        frames: &[&Frame],
        centers: &[Vec3],
        cubes: &[f32],
        angles: &[f32],
    ) -> Result<Vec<Estimate>, EstimateError> {
        let (n, turns) = (self.input_size, angles.len());
        let mut crops = Vec::with_capacity(frames.len());
        let mut input = vec![1.0f32; frames.len() * turns * n * n];
        let mut slots = input.chunks_exact_mut(n * n);
        for (i, frame) in frames.iter().enumerate() {
            let crop = Crop::new(centers[i], cubes[i], n, &frame.intrinsics).map_err(|source| {
                EstimateError::Crop {
                    frame: frame.path.display().to_string(),
                    source,
                }
            })?;
            for &angle in angles {
                let slot = slots.next().expect("a slot per crop");
                crop.rotated(angle).input_into(&frame.depth, slot);
            }
            crops.push(crop);
        }
        // As many crops a network run as the caller batched frames: turning adds runs, not
        // memory (a GPU's buffers are sized by the batch).
        let mut out = Vec::with_capacity(frames.len() * turns * OUTPUTS);
        for batch in input.chunks(frames.len().max(1) * n * n) {
            out.extend(self.forward(batch, batch.len() / (n * n))?);
        }
        let mut views = out.chunks_exact(OUTPUTS);
        Ok(crops
            .into_iter()
            .zip(frames)
            .map(|(crop, frame)| {
                let mut xyz = [Vec3::ZERO; NUM_JOINTS];
                for &angle in angles {
                    let values = views.next().expect("OUTPUTS values per crop");
                    let view = crop
                        .rotated(angle)
                        .denormalize(values.try_into().expect("OUTPUTS"));
                    for (sum, p) in xyz.iter_mut().zip(view) {
                        *sum += p;
                    }
                }
                // Exact for one crop: x / 1 is x.
                let xyz = xyz.map(|p| p / turns as f32);
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
    ///
    /// With test-time rotation only the last pass turns its crops: the passes before it find
    /// the centre from the plain crop, so `passes` + [`rotations`](Self::rotations) network
    /// runs a frame instead of (`passes` + 1) × rotations. On 300 second-generation frames of
    /// seed 7 with 7 rotations that cost 0.08 mm (11.80 against 11.72 with every pass turned)
    /// and halved the time.
    pub fn estimate_refined(
        &mut self,
        frames: &[&Frame],
        centers: &[Vec3],
        cubes: &[f32],
        passes: usize,
    ) -> Result<Vec<Estimate>, EstimateError> {
        let (plain, last) = ([0.0], self.angles.clone());
        let turns = |pass: usize| {
            if pass == passes {
                &last[..]
            } else {
                &plain[..]
            }
        };
        let mut estimates = self.estimate_turned(frames, centers, cubes, turns(0))?;
        for pass in 1..=passes {
            let next: Vec<Vec3> = estimates
                .iter()
                .zip(frames.iter().zip(cubes))
                .map(|(e, (frame, &cube))| {
                    let c = palm_centre(&e.xyz, self.labels);
                    let usable = Crop::new(c, cube, self.input_size, &frame.intrinsics).is_ok();
                    if usable { c } else { e.crop.center }
                })
                .collect();
            estimates = self.estimate_turned(frames, &next, cubes, turns(pass))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{DepthMap, Intrinsics};
    use crate::net::{NetConfig, Network, Weights};

    /// A frame of a slanted surface with a bump, so turned crops see different inputs.
    fn frame(index: usize) -> Frame {
        let (w, h) = (160usize, 120usize);
        let mm = (0..w * h)
            .map(|i| {
                let (u, v) = ((i % w) as f32, (i / w) as f32);
                let bump = if (u - 90.0).hypot(v - 50.0) < 12.0 {
                    -60.0
                } else {
                    0.0
                };
                600.0 + u * 0.8 + v * 0.3 + bump + index as f32
            })
            .collect();
        Frame {
            index,
            name: format!("f{index}"),
            path: format!("f{index}.png").into(),
            depth: DepthMap::new(w, h, mm).unwrap(),
            intrinsics: Intrinsics {
                fx: 150.0,
                fy: 150.0,
                cx: 80.0,
                cy: 60.0,
            },
            ground_truth: None,
        }
    }

    #[test]
    fn rotated_estimates_are_the_mean_of_the_turned_crops_turned_back() {
        let config = NetConfig {
            joints: 35,
            ..NetConfig::tiny()
        };
        let network = Network::from_weights(&Weights::init(&config, 3).unwrap());
        let engine = || Engine::Cpu(Box::new(FastNet::from_network(&network)));
        let mut estimator = Estimator::new(engine(), Labels::Nyu).unwrap();
        let mut plain = Estimator::new(engine(), Labels::Nyu).unwrap();
        estimator.set_rotations(3).unwrap();
        assert_eq!(estimator.rotations(), 3);
        assert!(matches!(
            estimator.set_rotations(4),
            Err(EstimateError::Rotations(4))
        ));
        let frames = [frame(0), frame(1)];
        let refs: Vec<&Frame> = frames.iter().collect();
        let centers = [Vec3::new(5.0, -3.0, 650.0), Vec3::new(-8.0, 4.0, 660.0)];
        let got = estimator
            .estimate(&refs, &centers, &[300.0, 250.0])
            .unwrap();
        let n = plain.input_size();
        for (i, frame) in frames.iter().enumerate() {
            let crop = Crop::new(centers[i], [300.0, 250.0][i], n, &frame.intrinsics).unwrap();
            let mut mean = [Vec3::ZERO; NUM_JOINTS];
            for angle in rotation_angles(3).unwrap() {
                let turned = crop.rotated(angle);
                let out = plain.forward(&turned.input(&frame.depth), 1).unwrap();
                let joints = turned.denormalize(out[..].try_into().unwrap());
                for (m, p) in mean.iter_mut().zip(joints) {
                    *m += p / 3.0;
                }
            }
            assert_eq!(got[i].crop, crop);
            for (a, b) in got[i].xyz.iter().zip(&mean) {
                assert!((*a - *b).length() < 1e-3, "frame {i}: {a} vs {b}");
            }
            // One crop alone is not the mean: the turns changed the network's view.
            let alone = plain
                .estimate(&[frame], &[centers[i]], &[[300.0, 250.0][i]])
                .unwrap();
            let moved = alone[0]
                .xyz
                .iter()
                .zip(&mean)
                .map(|(a, b)| (*a - *b).length());
            assert!(moved.fold(0.0, f32::max) > 0.01);
        }
        // Refining: the first pass from the plain crop, the last with the turned crops, at the
        // palm the first predicted.
        let (first, cube) = (&refs[..1], [300.0]);
        let refined = estimator
            .estimate_refined(first, &centers[..1], &cube, 1)
            .unwrap();
        let plain_pass = plain.estimate(first, &centers[..1], &cube).unwrap();
        let palm = palm_centre(&plain_pass[0].xyz, Labels::Nyu);
        assert!(palm.z > 0.0 && (palm - centers[0]).length() > 1e-3);
        let turned_pass = estimator.estimate(first, &[palm], &cube).unwrap();
        assert_eq!(refined[0], turned_pass[0]);
    }
}
