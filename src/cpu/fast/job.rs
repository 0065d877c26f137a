//! Running steps: what each thread of a pass does with its arena, micro-batch by micro-batch or
//! its part of every step, and the dispatch of one step to its kernel.

use std::ops::Range;
use std::time::Instant;

use super::arena::Arena;
use super::plan::{self, Plan, Step};
use super::team::{Out, Part, SpinBarrier};
use super::{conv, linear, maps};

/// What every thread of a forward pass reads.
#[derive(Clone, Copy)]
pub struct Job<'a> {
    /// The compiled program.
    pub plan: &'a Plan,
    /// Each slot's buffer.
    pub buffer_of: &'a [Option<usize>],
    /// Each buffer's per-sample length.
    pub buffer_len: &'a [usize],
    /// The caller's inputs, whole batch.
    pub inputs: &'a [&'a [f32]],
}

impl Job<'_> {
    /// Runs `samples` through `steps`, `micro` samples at a time in `arena`, on this thread
    /// alone; after each micro-batch, copies each `handoff` slot's values into its whole-batch
    /// buffer (in the slot's layout). Returns the milliseconds of each step, summed over the
    /// micro-batches.
    pub fn samples(
        &self,
        arena: &mut Arena,
        samples: Range<usize>,
        micro: usize,
        steps: Range<usize>,
        (handoff, batch): (&[(usize, Out)], usize),
    ) -> Vec<f64> {
        let mut ms = vec![0.0; steps.len()];
        let micro = micro.min(samples.len()).max(1);
        self.size(arena, micro);
        let mut first = samples.start;
        while first < samples.end {
            let n = micro.min(samples.end - first);
            self.load(arena, first, n);
            let buffers: Vec<Out> = arena.buffers.iter_mut().map(|b| Out::new(b)).collect();
            let walked = self.walk(&buffers, n, Part::WHOLE, None, steps.clone());
            for (t, step_ms) in walked.into_iter().enumerate() {
                ms[t] += step_ms;
            }
            for &(slot, dst) in handoff {
                let info = self.plan.slots[slot];
                let len = info.shape.len();
                // SAFETY: nothing writes this micro-batch's arena now.
                let src = unsafe { self.slot(&buffers, slot, n).view() };
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
    pub fn size_head(&self, arena: &mut Arena, batch: usize) {
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
    pub fn size(&self, arena: &mut Arena, batch: usize) {
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
    pub fn load(&self, arena: &mut Arena, first: usize, n: usize) {
        for (&slot, x) in self.plan.inputs.iter().zip(self.inputs) {
            let len = self.plan.slots[slot].shape.len();
            let buf = self.buffer_of[slot].expect("inputs have buffers");
            arena.buffers[buf][..n * len].copy_from_slice(&x[first * len..(first + n) * len]);
        }
    }

    /// A slot's values at batch `n`: the first values of its buffer.
    pub fn slot<'b>(&self, buffers: &[Out<'b>], slot: usize, n: usize) -> Out<'b> {
        let len = n * self.plan.slots[slot].shape.len();
        buffers[self.buffer_of[slot].expect("slots in use have buffers")].prefix(len)
    }

    /// This thread's part of `steps` at batch `n`; the milliseconds of each.
    pub fn walk(
        &self,
        buffers: &[Out],
        n: usize,
        part: Part,
        barrier: Option<&SpinBarrier>,
        steps: Range<usize>,
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
