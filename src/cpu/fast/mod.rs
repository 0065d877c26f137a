//! The fast CPU path: an inference program compiled once into steps over a preallocated arena,
//! with the batch laid out for wide GEMMs.
//!
//! [`CpuNet`](super::CpuNet) interprets a program op by op, one sample at a time, and is the
//! reference every kernel (WGSL or CPU) is checked against. [`FastNet`] runs the same inference
//! program faster and is what users get from `--backend cpu`, the viewer's CPU engine and
//! `bench`:
//!
//! - **Layout** ([`plan::Layout`]): convolutions see the batch channel-major (`[C][N][H][W]`), so
//!   every convolution over a whole batch is one GEMM whose columns are all the batch's pixels;
//!   fully connected layers see it sample-major. Relayouts are inserted where the two meet.
//! - **GEMM** ([`conv`], [`linear`]): the `gemm` crate (runtime-dispatched AVX-512, AVX2+FMA,
//!   NEON and portable kernels), over column tiles sized for L2, tiles in parallel on rayon's one
//!   pool: the same scheme splits pixels at batch 1 and samples at batch 32. 1×1 convolutions
//!   read their input in place; k×k ones unfold one tile at a time.
//! - **Fusion** ([`plan`]): batch norm is already folded by lowering; bias, ReLU and a sum the
//!   convolution feeds are applied to each tile while it is in cache, and an upsampling is
//!   fused into the sum that reads it.
//! - **Memory**: one arena per batch size, buffers reused once their tensor is dead, so a
//!   forward allocates nothing after the first at a given batch size.
//!
//! Every step is tested against the reference on odd shapes (`tests` below and
//! `tests/cpu_fast.rs`).

mod conv;
mod linear;
mod maps;
pub mod peak;
pub mod plan;
mod team;

use std::sync::{Mutex, TryLockError};
use std::time::Instant;

use crate::net::{Network, Program};
use crate::run::{InputError, check_inputs};
use plan::{Plan, Step};
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

/// One thread's activation buffers, sized for `batch` samples.
#[derive(Debug, Clone, Default)]
struct Arena {
    buffers: Vec<Vec<f32>>,
    batch: usize,
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
        let plan = plan::compile(&program, params);
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
                    flops: step_flops(step, samples),
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
                    job.samples(&mut arena, 0..batch, batch, out)
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
                    let arenas = &self.arenas;
                    // The trunk: every thread its samples, micro-batch by micro-batch, handing
                    // what the head reads over to the whole-batch arena.
                    let mut ms = rayon::broadcast(|ctx| {
                        let (t, n) = (ctx.index(), ctx.num_threads());
                        let mut arena = arenas[t].lock().unwrap_or_else(|e| e.into_inner());
                        let mine = batch * t / n..batch * (t + 1) / n;
                        job.trunk(&mut arena, mine, batch, &head_buffers)
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

/// What every thread of a forward pass reads.
#[derive(Clone, Copy)]
struct Job<'a> {
    plan: &'a Plan,
    buffer_of: &'a [Option<usize>],
    buffer_len: &'a [usize],
    inputs: &'a [&'a [f32]],
}

impl Job<'_> {
    /// Runs `samples` through the network `micro` at a time in `arena`, on this thread alone,
    /// writing their outputs into `y`; returns the milliseconds spent in each step, summed over the micro-batches.
    fn samples(
        &self,
        arena: &mut Arena,
        samples: std::ops::Range<usize>,
        micro: usize,
        y: Out,
    ) -> Vec<f64> {
        let mut ms = vec![0.0; self.plan.steps.len()];
        let micro = micro.min(samples.len()).max(1);
        self.size(arena, micro);
        let out_len = self.plan.slots[self.plan.output].shape.len();
        let mut first = samples.start;
        while first < samples.end {
            let n = micro.min(samples.end - first);
            self.load(arena, first, n);
            let buffers: Vec<Out> = arena.buffers.iter_mut().map(|b| Out::new(b)).collect();
            let all = 0..self.plan.steps.len();
            for (t, step_ms) in self
                .walk(&buffers, n, Part::WHOLE, None, all)
                .into_iter()
                .enumerate()
            {
                ms[t] += step_ms;
            }
            let result = self.slot(&buffers, self.plan.output, n);
            // SAFETY: these samples' rows of `y` belong to this thread alone.
            let dst = unsafe { y.slice(first * out_len..(first + n) * out_len) };
            // SAFETY: nothing writes the arena now.
            dst.copy_from_slice(unsafe { result.view() });
            first += n;
        }
        ms
    }

    /// Runs `samples` through the trunk `MICRO_BATCH` at a time in `arena`, copying the boundary
    /// slots into the head's whole-batch buffers; returns the milliseconds of each trunk step.
    fn trunk(
        &self,
        arena: &mut Arena,
        samples: std::ops::Range<usize>,
        batch: usize,
        head: &[Out],
    ) -> Vec<f64> {
        let mut ms = vec![0.0; self.plan.head];
        let micro = MICRO_BATCH.min(samples.len()).max(1);
        self.size(arena, micro);
        let boundary = self.plan.boundary();
        let mut first = samples.start;
        while first < samples.end {
            let n = micro.min(samples.end - first);
            self.load(arena, first, n);
            let buffers: Vec<Out> = arena.buffers.iter_mut().map(|b| Out::new(b)).collect();
            let trunk = 0..self.plan.head;
            let trunk_ms = self.walk(&buffers, n, Part::WHOLE, None, trunk);
            for (t, step_ms) in trunk_ms.into_iter().enumerate() {
                ms[t] += step_ms;
            }
            for &slot in &boundary {
                let info = self.plan.slots[slot];
                let len = info.shape.len();
                // SAFETY: nothing writes this micro-batch's arena now.
                let src = unsafe { self.slot(&buffers, slot, n).view() };
                let dst = self.slot(head, slot, batch);
                match info.layout {
                    plan::Layout::Nchw => {
                        // SAFETY: these samples' rows belong to this thread alone.
                        unsafe { dst.slice(first * len..(first + n) * len) }.copy_from_slice(src);
                    }
                    plan::Layout::Cnhw => {
                        let plane = info.shape.h * info.shape.w;
                        for c in 0..info.shape.c {
                            let at = (c * batch + first) * plane;
                            // SAFETY: these samples' planes of channel c belong to this thread.
                            unsafe { dst.slice(at..at + n * plane) }
                                .copy_from_slice(&src[c * n * plane..][..n * plane]);
                        }
                    }
                }
            }
            first += n;
        }
        ms
    }

    /// Sizes the head's arena for `batch`: only the buffers the boundary and head slots use.
    fn size_head(&self, arena: &mut Arena, batch: usize) {
        if arena.batch == batch && arena.buffers.len() == self.buffer_len.len() {
            return;
        }
        let mut used = vec![false; self.buffer_len.len()];
        let head_slots = self.plan.steps[self.plan.head..]
            .iter()
            .flat_map(|(_, s)| s.reads().into_iter().chain([s.writes()]))
            .chain(self.plan.boundary());
        for slot in head_slots {
            used[self.buffer_of[slot].expect("slots in use have buffers")] = true;
        }
        arena.buffers = self
            .buffer_len
            .iter()
            .zip(used)
            .map(|(len, used)| {
                if used {
                    vec![0.0; len * batch]
                } else {
                    Vec::new()
                }
            })
            .collect();
        arena.batch = batch;
    }

    /// Sizes `arena` for `batch` samples.
    fn size(&self, arena: &mut Arena, batch: usize) {
        if arena.batch != batch || arena.buffers.len() != self.buffer_len.len() {
            arena.buffers = self
                .buffer_len
                .iter()
                .map(|len| vec![0.0; len * batch])
                .collect();
            arena.batch = batch;
        }
    }

    /// Copies samples `first..first+n` of every input into the arena.
    fn load(&self, arena: &mut Arena, first: usize, n: usize) {
        for (&slot, x) in self.plan.inputs.iter().zip(self.inputs) {
            let len = self.plan.slots[slot].shape.len();
            let buf = self.buffer_of[slot].expect("inputs have buffers");
            arena.buffers[buf][..n * len].copy_from_slice(&x[first * len..(first + n) * len]);
        }
    }

    /// A slot's values at batch `n`: the first values of its buffer.
    fn slot<'b>(&self, buffers: &[Out<'b>], slot: usize, n: usize) -> Out<'b> {
        let len = n * self.plan.slots[slot].shape.len();
        buffers[self.buffer_of[slot].expect("slots in use have buffers")].prefix(len)
    }

    /// This thread's part of `steps` at batch `n`; the milliseconds of each.
    fn walk(
        &self,
        buffers: &[Out],
        n: usize,
        part: Part,
        barrier: Option<&SpinBarrier>,
        steps: std::ops::Range<usize>,
    ) -> Vec<f64> {
        let _guard = barrier.map(SpinBarrier::guard);
        let mut times = Vec::with_capacity(steps.len());
        for (_, step) in &self.plan.steps[steps] {
            let start = Instant::now();
            // SAFETY: a step never reads the buffer it writes, and the barrier orders a step's
            // writes before the next step's reads.
            let view = |s: usize| -> &[f32] { unsafe { self.slot(buffers, s, n).view() } };
            execute(
                self.plan,
                step,
                n,
                view,
                self.slot(buffers, step.writes(), n),
                part,
            );
            if let Some(b) = barrier {
                b.wait();
            }
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        times
    }
}

/// This thread's part of one step; `view` gives a slot's values.
fn execute<'a>(
    plan: &Plan,
    step: &Step,
    batch: usize,
    view: impl Fn(usize) -> &'a [f32],
    y: Out,
    part: Part,
) {
    let shape = |slot: usize| plan.slots[slot].shape;
    match step {
        Step::Conv(c) => conv::conv(c, batch, view(c.input), c.accumulate.map(&view), y, part),
        Step::Linear(l) => linear::linear(l, batch, view(l.input), y, part),
        Step::Affine {
            input,
            scale,
            shift,
            relu,
            ..
        } => maps::affine(
            view(*input),
            y,
            shape(*input),
            batch,
            plan.slots[*input].layout,
            (scale, shift, *relu),
            part,
        ),
        Step::MaxPool {
            input,
            output,
            kernel,
            stride,
        } => maps::max_pool(
            view(*input),
            y,
            (shape(*input), shape(*output)),
            (*kernel, *stride),
            part,
        ),
        Step::Upsample { input, factor, .. } => {
            maps::upsample(view(*input), y, shape(*input), *factor, part)
        }
        Step::Add {
            a,
            b,
            output,
            factor,
        } => maps::add_upsampled(view(*a), view(*b), y, shape(*output), *factor, part),
        Step::Patch {
            input,
            output,
            y: y0,
            x: x0,
        } => maps::patch(
            view(*input),
            y,
            shape(*input),
            shape(*output),
            batch,
            (*y0, *x0),
            part,
        ),
        Step::Concat { inputs, .. } => {
            let parts: Vec<(&[f32], usize)> =
                inputs.iter().map(|&s| (view(s), shape(s).len())).collect();
            maps::concat(&parts, y, batch, part)
        }
        Step::Pad { input, pad, .. } => maps::pad(view(*input), y, shape(*input), *pad, part),
        Step::Relayout { input, .. } => maps::relayout(
            view(*input),
            y,
            shape(*input),
            batch,
            plan.slots[*input].layout,
            part,
        ),
    }
}

/// Floating-point operations of a step at `batch`.
fn step_flops(step: &Step, batch: usize) -> u64 {
    let flops = match step {
        Step::Conv(c) => 2 * c.to.len() * c.from.c * c.kernel * c.kernel,
        Step::Linear(l) => 2 * l.inputs * l.outputs,
        _ => 0,
    };
    (flops * batch) as u64
}

/// Gives every written slot an arena buffer, reusing the buffers of tensors no later step reads.
/// Returns each slot's buffer and each buffer's per-sample length.
fn assign_buffers(plan: &Plan) -> (Vec<Option<usize>>, Vec<usize>) {
    let n = plan.slots.len();
    let mut last_read = vec![None; n];
    for (i, (_, step)) in plan.steps.iter().enumerate() {
        for r in step.reads() {
            last_read[r] = Some(i);
        }
    }
    let mut buffer_of = vec![None; n];
    let mut lens: Vec<usize> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let take = |need: usize, lens: &mut Vec<usize>, free: &mut Vec<usize>| {
        // The smallest free buffer that fits, else a new one.
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| lens[**b] >= need)
            .min_by_key(|(_, b)| lens[**b])
            .map(|(i, _)| i);
        match best {
            Some(i) => free.swap_remove(i),
            None => {
                lens.push(need);
                lens.len() - 1
            }
        }
    };
    for &slot in &plan.inputs {
        buffer_of[slot] = Some(take(plan.slots[slot].shape.len(), &mut lens, &mut free));
    }
    for (i, (_, step)) in plan.steps.iter().enumerate() {
        let out = step.writes();
        buffer_of[out] = Some(take(plan.slots[out].shape.len(), &mut lens, &mut free));
        let mut dead: Vec<usize> = step
            .reads()
            .into_iter()
            .filter(|&r| last_read[r] == Some(i) && r != plan.output)
            .collect();
        if last_read[out].is_none() && out != plan.output {
            dead.push(out);
        }
        dead.sort_unstable();
        dead.dedup();
        for r in dead {
            free.push(buffer_of[r].expect("read slots have buffers"));
        }
    }
    (buffer_of, lens)
}
