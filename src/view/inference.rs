//! The network on a background thread: the UI hands it the frame on screen and goes on drawing;
//! the estimate comes back when the device is done. Only the newest request is kept, so on a
//! slow adapter the viewer skips frames instead of falling behind, and shows the last result.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::cpu::fast::FastNet;
use crate::data::source::{Frame, Source};
use crate::estimator::{Centers, Engine, Estimate, Estimator};
use crate::gpu::{AdapterRequest, GpuContext, GpuNet};
use crate::net::{Network, Weights};

/// Where the network runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineChoice {
    /// The viewer's own wgpu device: frames go from disk to skeleton on one device.
    Shared,
    /// A device of its own on the adapter with this name, on this backend (one GPU can show up
    /// on several).
    Adapter(String, wgpu::Backend),
    /// The CPU backend.
    Cpu,
}

/// The frame of a job: decoded already (the one on screen), or to be read by the inference
/// thread itself (a sweep over the whole sequence, which must not fill the UI's frame cache).
pub enum JobFrame {
    /// Decoded by the frame loader.
    Decoded(Arc<Frame>),
    /// Frame `index` of `source`.
    Load(Arc<dyn Source>, usize),
}

impl JobFrame {
    fn index(&self) -> usize {
        match self {
            JobFrame::Decoded(f) => f.index,
            JobFrame::Load(_, i) => *i,
        }
    }
}

/// One frame to estimate.
pub struct Job {
    /// The frame.
    pub frame: JobFrame,
    /// Where its crop is centred.
    pub centers: Centers,
    /// Network passes after the first that re-centre the crop on the predicted palm
    /// ([`Estimator::estimate_refined`]).
    pub refine: usize,
    /// Test-time rotation: crops per frame ([`Estimator::set_rotations`]).
    pub rotations: usize,
    /// The crop cube's side (mm).
    pub cube: f32,
    /// Part of a sweep over the whole sequence (else: the frame on screen, which goes first).
    pub sweep: bool,
}

impl Job {
    /// The frame's estimate, or why there is none; `Err((why, true))` when the engine itself
    /// is broken ([`EstimateError::engine_is_broken`]).
    fn run(&self, estimator: &mut Estimator) -> Result<Estimate, (String, bool)> {
        let loaded;
        let frame = match &self.frame {
            JobFrame::Decoded(f) => f.as_ref(),
            JobFrame::Load(source, index) => {
                loaded = source.load(*index).map_err(|e| (e.to_string(), false))?;
                &loaded
            }
        };
        let center = self
            .centers
            .center(frame)
            .map_err(|e| (e.to_string(), false))?;
        estimator
            .set_rotations(self.rotations)
            .map_err(|e| (e.to_string(), false))?;
        estimator
            .estimate_refined(&[frame], &[center], &[self.cube], self.refine)
            .map(|mut e| e.remove(0))
            .map_err(|e| (e.to_string(), e.engine_is_broken()))
    }
}

/// What the thread sends back.
pub enum Reply {
    /// An engine is ready (its description) or could not be made.
    Engine {
        /// Which [`InferenceWorker::set_engine`] call this answers.
        generation: u64,
        /// The backend described, or the error.
        result: Result<String, String>,
    },
    /// A frame's estimate, or why there is none.
    Estimate {
        /// The engine that made it.
        generation: u64,
        /// The frame's index in its source.
        index: usize,
        /// Whether it was part of a sweep.
        sweep: bool,
        /// The estimate (boxed: 72 joints of three floats).
        result: Result<Box<Estimate>, String>,
        /// From the crop to the joints on the host: crop, upload, network, read-back.
        latency: Duration,
    },
}

struct NewEngine {
    generation: u64,
    choice: EngineChoice,
    weights: Arc<Weights>,
    shared: Option<GpuContext>,
}

enum Command {
    Engine(Box<NewEngine>),
    Job(Job),
}

/// The inference thread's end in the UI.
pub struct InferenceWorker {
    commands: Sender<Command>,
    replies: Receiver<Reply>,
    generation: u64,
}

impl InferenceWorker {
    /// Starts the thread; `wake` is called after each reply (to repaint).
    pub fn spawn(wake: impl Fn() + Send + 'static) -> InferenceWorker {
        let (commands, rx) = channel::<Command>();
        let (tx, replies) = channel();
        std::thread::Builder::new()
            .name("hourhand inference".into())
            .spawn(move || {
                let mut estimator: Option<(u64, Estimator)> = None;
                while let Ok(first) = rx.recv() {
                    // Keep only the newest engine, the newest frame on screen and the newest
                    // sweep frame.
                    let (mut engine, mut shown, mut sweep) = (None, None, None);
                    for command in std::iter::once(first).chain(rx.try_iter()) {
                        match command {
                            Command::Engine(e) => engine = Some(e),
                            Command::Job(j) if j.sweep => sweep = Some(j),
                            Command::Job(j) => shown = Some(j),
                        }
                    }
                    if let Some(new) = engine {
                        let NewEngine {
                            generation,
                            choice,
                            weights,
                            shared,
                        } = *new;
                        estimator = None;
                        let result = make_estimator(&choice, &weights, shared);
                        let reply = match result {
                            Ok(e) => {
                                let described = e.describe();
                                estimator = Some((generation, e));
                                Ok(described)
                            }
                            Err(e) => Err(e),
                        };
                        if tx
                            .send(Reply::Engine {
                                generation,
                                result: reply,
                            })
                            .is_err()
                        {
                            return;
                        }
                        wake();
                    }
                    let Some((generation, current)) = estimator.as_mut() else {
                        continue;
                    };
                    let mut estimator_broken = false;
                    for job in [shown, sweep].into_iter().flatten() {
                        let start = Instant::now();
                        let result = match job.run(current) {
                            Ok(estimate) => Ok(Box::new(estimate)),
                            Err((why, false)) => Err(why),
                            Err((why, true)) => {
                                // The engine is gone (a lost GPU device): say so once, as an
                                // engine that failed, and stop using it.
                                let reply = Reply::Engine {
                                    generation: *generation,
                                    result: Err(why),
                                };
                                estimator_broken = true;
                                if tx.send(reply).is_err() {
                                    return;
                                }
                                wake();
                                break;
                            }
                        };
                        let reply = Reply::Estimate {
                            generation: *generation,
                            index: job.frame.index(),
                            sweep: job.sweep,
                            result,
                            latency: start.elapsed(),
                        };
                        if tx.send(reply).is_err() {
                            return;
                        }
                        wake();
                    }
                    if estimator_broken {
                        estimator = None;
                    }
                }
            })
            .expect("spawning the inference thread");
        InferenceWorker {
            commands,
            replies,
            generation: 0,
        }
    }

    /// Builds a new engine for `weights` on the thread (compiling pipelines can take a while);
    /// returns its generation, which its replies carry. `shared` is the viewer's device, used
    /// for [`EngineChoice::Shared`].
    pub fn set_engine(
        &mut self,
        choice: EngineChoice,
        weights: Arc<Weights>,
        shared: Option<GpuContext>,
    ) -> u64 {
        self.generation += 1;
        let _ = self.commands.send(Command::Engine(Box::new(NewEngine {
            generation: self.generation,
            choice,
            weights,
            shared,
        })));
        self.generation
    }

    /// Asks for a frame's estimate; replaces any request of the same kind (on screen, sweep)
    /// not yet started.
    pub fn estimate(&self, job: Job) {
        let _ = self.commands.send(Command::Job(job));
    }

    /// Replies since the last call.
    pub fn poll(&self) -> Vec<Reply> {
        self.replies.try_iter().collect()
    }
}

fn make_estimator(
    choice: &EngineChoice,
    weights: &Weights,
    shared: Option<GpuContext>,
) -> Result<Estimator, String> {
    let network = Network::from_weights(weights);
    let gpu = |ctx: GpuContext| -> Result<Engine, String> {
        Ok(Engine::Gpu(Box::new(
            GpuNet::from_network(ctx, &network).map_err(|e| e.to_string())?,
        )))
    };
    let engine = match choice {
        EngineChoice::Cpu => Engine::Cpu(Box::new(FastNet::from_network(&network))),
        EngineChoice::Shared => gpu(shared.ok_or("the viewer has no wgpu device to share")?)?,
        EngineChoice::Adapter(name, backend) => gpu(GpuContext::new(&AdapterRequest {
            backends: Some(wgpu::Backends::from(*backend)),
            adapter: Some(name.clone()),
        })
        .map_err(|e| e.to_string())?)?,
    };
    Estimator::new(engine, weights.labels).map_err(|e| e.to_string())
}
