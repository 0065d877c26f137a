//! The fast CPU path: an inference program compiled once into steps over preallocated arenas,
//! with the batch laid out for wide GEMMs.
//!
//! [`CpuNet`](super::CpuNet) interprets a program op by op and is the reference every kernel
//! (WGSL or CPU) is checked against. [`FastNet`] runs the same inference program faster and is
//! what users get from `--backend cpu`, the viewer's CPU engine, training's validation and
//! `bench`:
//!
//! - **Layout** ([`plan::Layout`]): convolutions see the batch channel-major (`[C][N][H][W]`), so
//!   a convolution over a whole batch is one GEMM whose columns are all the batch's pixels;
//!   fully connected layers see it sample-major. Relayouts are inserted where the two meet.
//! - **Kernels** (`conv/`, `linear`): over column tiles sized for L2, 1×1 convolutions read
//!   their input in place, stride-1 k×k ones read a zero-padded copy shifted by each tap, strided
//!   ones unfold a tile at a time, and the 1-channel stem is a direct kernel. Where the CPU has
//!   AVX-512 the 1×1, shifted and direct convolutions run on a register-blocked kernel over
//!   weights packed at load ([`ConvKernel::Blocked`]); with AVX2 alone the shifted ones do
//!   ([`ConvKernel::ShiftedBlocked`]); everything else, and those too on other CPUs, on the
//!   `gemm` crate (runtime-dispatched AVX-512, AVX2+FMA, NEON and portable kernels) or, for
//!   the stem, an AVX2 row kernel or a portable loop.
//! - **Fusion** ([`plan`]): batch norm is already folded by lowering; bias, ReLU, a sum the
//!   convolution feeds and a 2×2 pooling after it are applied to each tile while it is in cache;
//!   an upsampling is fused into the sum that reads it.
//! - **Threads** (`team`, [`Schedule`]): a pass is one parallel region on rayon's pool. Small
//!   batches: every thread does its part of every step, a spinning barrier between steps. Large
//!   ones: every thread runs its own samples through the convolutional trunk in micro-batches,
//!   then the threads share the fully connected head over the whole batch.
//! - **Memory** (`arena`): buffers shared by tensors whose lives do not overlap, one set per
//!   thread, sized once per batch size: a pass allocates nothing but its output after the first.
//!
//! Every kernel, fusion and schedule is tested against the reference on odd shapes
//! (`tests/cpu_fast.rs`), and every schedule gives the same bits.

mod arena;
pub(crate) mod conv;
mod job;
pub mod linear;
mod maps;
pub mod peak;
pub mod plan;
pub(crate) mod team;

use crate::net::{Network, Program};
use crate::run::{InputError, check_inputs};
use arena::{Arena, assign_buffers};
pub use conv::ConvKernel;
pub use conv::winograd;
use job::Job;
use plan::Plan;
use std::sync::{Mutex, TryLockError};
use team::{Out, Part, SpinBarrier};

/// One parallel region at a time in the process: two regions sharing the pool could each hold a
/// thread spinning for the other's. A forward that finds the region taken, or that is called from
/// inside the pool, runs on its own thread instead.
static REGION: Mutex<()> = Mutex::new(());

/// The CPU time of one step of a forward pass (`bench --per-layer`).
#[derive(Debug, Clone)]
pub struct StepTime {
    /// The op the step came from (the first one, where ops were fused).
    pub op: String,
    /// The kernel that ran.
    pub kernel: &'static str,
    /// Wall time of the step, ms.
    pub ms: f64,
    /// Floating-point operations of the step (multiply-adds count two).
    pub flops: u64,
}

/// Samples one thread runs through the whole network at a time when a batch is split between
/// threads: small enough that a micro-batch's activations stay in that core's cache.
pub const MICRO_BATCH: usize = 2;

/// What a forward pass gives back.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The output, `batch × output_shape.len()`.
    pub output: Vec<f32>,
    /// Milliseconds the first thread spent in each step (summed over its micro-batches where
    /// samples were split).
    pub step_ms: Vec<f64>,
    /// How the pass was shared.
    pub schedule: Schedule,
    /// Samples the first thread ran through the trunk steps.
    pub first_thread_samples: usize,
}

/// How a forward pass is shared between threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// One thread runs everything.
    Alone,
    /// Every thread takes a part of every step (a batch smaller than the pool).
    Steps,
    /// Every thread takes a share of the samples and runs them through the trunk (the
    /// convolutions) in micro-batches of [`MICRO_BATCH`], with no synchronisation between steps;
    /// then the threads share each step of the head (the fully connected layers) over the whole
    /// batch.
    Samples,
}

/// An inference program compiled for the CPU (see the module docs).
#[derive(Debug)]
pub struct FastNet {
    program: Program,
    plan: Plan,
    /// The arena buffer of each slot; `None` for slots no step writes (fused away).
    buffer_of: Vec<Option<usize>>,
    /// Per-sample length of each arena buffer.
    buffer_len: Vec<usize>,
    /// One arena per thread of the pool.
    arenas: Vec<Mutex<Arena>>,
    /// The whole-batch arena of the head when samples are split: only the buffers of the
    /// boundary and head slots are allocated.
    head: Mutex<Arena>,
}

impl Clone for FastNet {
    fn clone(&self) -> Self {
        Self::from_plan(self.program.clone(), self.plan.clone())
    }
}

impl FastNet {
    /// Compiles an inference network (lowered program and its parameters).
    pub fn from_network(net: &Network) -> Self {
        Self::new(net.program.clone(), &net.params)
    }

    /// Compiles an inference-form `program`; `params` must hold every parameter it names.
    pub fn new(program: Program, params: &crate::net::Params) -> Self {
        Self::with_kernel(program, params, ConvKernel::best())
    }

    /// Like [`new`](Self::new), with the convolution kernel chosen (tests run each).
    ///
    /// # Panics
    /// If this CPU cannot run `kernel` (see [`ConvKernel::best`]).
    pub fn with_kernel(program: Program, params: &crate::net::Params, kernel: ConvKernel) -> Self {
        let plan = plan::compile(&program, params, kernel);
        Self::from_plan(program, plan)
    }

    fn from_plan(program: Program, plan: Plan) -> Self {
        let (buffer_of, buffer_len) = assign_buffers(&plan);
        Self {
            program,
            plan,
            buffer_of,
            buffer_len,
            arenas: Vec::new(),
            head: Mutex::default(),
        }
    }

    /// The program executed.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The kernel running the pointwise, shifted and direct convolutions.
    pub fn conv_kernel(&self) -> ConvKernel {
        self.plan.conv_kernel
    }

    /// The compiled steps.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Bytes of activation memory held.
    pub fn arena_bytes(&self) -> usize {
        self.arenas
            .iter()
            .map(|a| {
                let a = a.lock().unwrap_or_else(|e| e.into_inner());
                a.buffers.iter().map(|b| b.len() * 4).sum::<usize>()
            })
            .sum()
    }

    /// Runs the network on a batch; `inputs` holds one slice per program input, each
    /// `batch × shape.len()` values. Returns the output, `batch × output_shape.len()`.
    pub fn forward(&mut self, inputs: &[&[f32]], batch: usize) -> Result<Vec<f32>, InputError> {
        self.forward_scheduled(inputs, batch, None)
            .map(|pass| pass.output)
    }

    /// Like [`forward`](Self::forward), timing every step: the time the first thread spent in
    /// it (summed over its micro-batches when samples are split between threads), and how the
    /// pass was shared.
    pub fn forward_timed(
        &mut self,
        inputs: &[&[f32]],
        batch: usize,
    ) -> Result<(Vec<f32>, Vec<StepTime>, Schedule), InputError> {
        let pass = self.forward_scheduled(inputs, batch, None)?;
        let times = self
            .plan
            .steps
            .iter()
            .enumerate()
            .zip(&pass.step_ms)
            .map(|((i, (op, step)), &ms)| {
                // Trunk steps of a split batch: the first thread ran only its samples.
                let samples = if i < self.plan.head {
                    pass.first_thread_samples
                } else {
                    batch
                };
                StepTime {
                    op: op.clone(),
                    kernel: step.kernel(),
                    ms,
                    flops: step.flops(samples),
                }
            })
            .collect();
        Ok((pass.output, times, pass.schedule))
    }

    /// Runs the network with a given schedule (`None`: the best one for this batch and pool).
    pub fn forward_scheduled(
        &mut self,
        inputs: &[&[f32]],
        batch: usize,
        schedule: Option<Schedule>,
    ) -> Result<Pass, InputError> {
        check_inputs(&self.program, inputs, batch)?;
        let threads = rayon::current_num_threads();
        while self.arenas.len() < threads.max(1) {
            self.arenas.push(Mutex::default());
        }
        let out_len = self.plan.slots[self.plan.output].shape.len();
        let mut y = vec![0.0f32; batch * out_len];
        // A parallel region only from outside the pool, and one at a time: a pass that asks for
        // no schedule runs alone rather than wait for another's region; one that asks waits.
        let region = if threads > 1
            && rayon::current_thread_index().is_none()
            && schedule != Some(Schedule::Alone)
        {
            match schedule {
                Some(_) => Some(REGION.lock().unwrap_or_else(|e| e.into_inner())),
                None => match REGION.try_lock() {
                    Ok(held) => Some(held),
                    Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
                    Err(TryLockError::WouldBlock) => None,
                },
            }
        } else {
            None
        };
        let schedule = match (schedule, &region) {
            (_, None) => Schedule::Alone,
            (Some(s), _) => s,
            (None, _) if batch >= 2 * threads => Schedule::Samples,
            (None, _) => Schedule::Steps,
        };
        let mut first_thread_samples = batch;
        let ms = {
            let out = Out::new(&mut y);
            let job = Job {
                plan: &self.plan,
                buffer_of: &self.buffer_of,
                buffer_len: &self.buffer_len,
                inputs,
            };
            match schedule {
                Schedule::Alone => {
                    let mut arena = self.arenas[0].lock().unwrap_or_else(|e| e.into_inner());
                    let all = 0..self.plan.steps.len();
                    job.samples(
                        &mut arena,
                        0..batch,
                        batch,
                        all,
                        (&[(self.plan.output, out)], batch),
                    )
                }
                Schedule::Steps => {
                    let mut arena = self.arenas[0].lock().unwrap_or_else(|e| e.into_inner());
                    job.size(&mut arena, batch);
                    job.load(&mut arena, 0, batch);
                    let buffers: Vec<Out> = arena.buffers.iter_mut().map(|b| Out::new(b)).collect();
                    let barrier = SpinBarrier::new(threads);
                    let ms = rayon::broadcast(|ctx| {
                        let part = Part {
                            index: ctx.index(),
                            count: ctx.num_threads(),
                        };
                        job.walk(
                            &buffers,
                            batch,
                            part,
                            Some(&barrier),
                            0..job.plan.steps.len(),
                        )
                    })
                    .swap_remove(0);
                    let result = job.slot(&buffers, self.plan.output, batch);
                    // SAFETY: the region is over; nothing else touches `y` or the arena.
                    unsafe { out.slice(0..out.len()).copy_from_slice(result.view()) };
                    ms
                }
                Schedule::Samples => {
                    let mut head = self.head.lock().unwrap_or_else(|e| e.into_inner());
                    job.size_head(&mut head, batch);
                    let head_buffers: Vec<Out> =
                        head.buffers.iter_mut().map(|b| Out::new(b)).collect();
                    let handoff: Vec<(usize, Out)> = self
                        .plan
                        .boundary()
                        .into_iter()
                        .map(|slot| (slot, job.slot(&head_buffers, slot, batch)))
                        .collect();
                    let arenas = &self.arenas;
                    // The trunk: every thread its samples, micro-batch by micro-batch, handing
                    // what the head reads over to the whole-batch arena.
                    let mut ms = rayon::broadcast(|ctx| {
                        let (t, n) = (ctx.index(), ctx.num_threads());
                        let mut arena = arenas[t].lock().unwrap_or_else(|e| e.into_inner());
                        let mine = batch * t / n..batch * (t + 1) / n;
                        let trunk = 0..job.plan.head;
                        job.samples(&mut arena, mine, MICRO_BATCH, trunk, (&handoff, batch))
                    })
                    .swap_remove(0);
                    // The head: the whole batch, threads sharing each step.
                    let barrier = SpinBarrier::new(threads);
                    let head_ms = rayon::broadcast(|ctx| {
                        let part = Part {
                            index: ctx.index(),
                            count: ctx.num_threads(),
                        };
                        let steps = job.plan.head..job.plan.steps.len();
                        job.walk(&head_buffers, batch, part, Some(&barrier), steps)
                    })
                    .swap_remove(0);
                    ms.extend(head_ms);
                    let result = job.slot(&head_buffers, self.plan.output, batch);
                    // SAFETY: the regions are over; nothing else touches `y` or the arena.
                    unsafe { out.slice(0..out.len()).copy_from_slice(result.view()) };
                    first_thread_samples = batch / threads;
                    ms
                }
            }
        };
        drop(region);
        Ok(Pass {
            output: y,
            step_ms: ms,
            schedule,
            first_thread_samples,
        })
    }
}
