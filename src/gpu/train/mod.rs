//! [`GpuTrainer`]: a training-form program on the device, one optimization step per
//! submission.
//!
//! Everything is made in [`GpuTrainer::new`]: every parameter, every activation of the forward
//! pass (kept whole for backward; no buffer sharing yet), a gradient buffer per activation,
//! parameter gradients, Adam's moments, the batch statistics, one uniform buffer and one bind
//! group per dispatch of the [`schedule`], and the pipelines. A step then writes the batch,
//! the targets and whichever uniform values the step's options changed (`queue.write_buffer`),
//! records the schedule into one command encoder, submits once and reads back the per-sample
//! losses. The step is [`crate::train::step::cpu_step`] on the device, kernel for kernel.

mod exec;
mod schedule;

use crate::gpu::kernels::bind_group;
use std::collections::{BTreeMap, HashMap};

use super::context::GpuContext;
use super::kernels::{Kernel, Slot, adam, workgroups};
use super::plan::AllocStats;
use super::{GpuError, LayerTime};
use crate::net::training::{Moments, StepOptions, is_trainable};
use crate::net::{Params, Program, Tensor};
use crate::run::InputError;
use exec::Mode;
use schedule::{Phase, schedule};

/// One dispatch of the step, ready to record.
struct Planned {
    phase: Phase,
    label: String,
    kernel: Kernel,
    /// The uniform bytes last written to `uniform`.
    params: Vec<u8>,
    uniform: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    groups: (u32, u32),
}

/// Device memory of a trainer, by kind, in bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrainMemory {
    /// Parameters (running statistics included).
    pub params: u64,
    /// Parameter gradients.
    pub param_grads: u64,
    /// Adam's two moments.
    pub moments: u64,
    /// Forward activations, the input included.
    pub activations: u64,
    /// Activation gradients.
    pub grads: u64,
    /// Everything else: batch statistics, reduction scratch, targets, losses.
    pub other: u64,
}

impl TrainMemory {
    /// All of it.
    pub fn total(&self) -> u64 {
        self.params + self.param_grads + self.moments + self.activations + self.grads + self.other
    }
}

/// A training-form program with its parameters, gradients and optimizer state resident on the
/// device, planned for one batch size.
pub struct GpuTrainer {
    ctx: GpuContext,
    program: Program,
    batch: usize,
    buffers: HashMap<Slot, wgpu::Buffer>,
    sizes: BTreeMap<Slot, usize>,
    steps: Vec<Planned>,
    pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
    trained: Vec<String>,
    loss_readback: wgpu::Buffer,
    stats: AllocStats,
    memory: TrainMemory,
}

impl GpuTrainer {
    /// Uploads the training-form `program`'s `params`, compiles kernels, plans every buffer and
    /// bind group for `batch` once. Adam's moments start at zero.
    pub fn new(
        ctx: GpuContext,
        program: Program,
        params: &Params,
        batch: usize,
    ) -> Result<Self, GpuError> {
        if batch == 0 {
            return Err(InputError::EmptyBatch.into());
        }
        ctx.check_kernels()?;
        if ctx.kernels.f16_weights() {
            return Err(GpuError::InferenceOnlyKernels(ctx.kernels));
        }
        let plan = schedule(&program, batch, &placeholder_options(), ctx.kernels)?;
        let device = &ctx.device;
        let limit = device.limits().max_storage_buffer_binding_size;
        let mut stats = AllocStats::default();
        let mut memory = TrainMemory::default();
        let mut buffers = HashMap::new();
        for (slot, &len) in &plan.sizes {
            let bytes = (len.max(1) * 4) as u64;
            if bytes > limit {
                let name = format!("{slot:?}");
                let per_sample = bytes / batch as u64;
                return Err(GpuError::TooLarge {
                    tensor: name,
                    batch,
                    bytes,
                    limit,
                    max_batch: (limit / per_sample.max(1)) as usize,
                });
            }
            let kind = match slot {
                Slot::Param(_) => &mut memory.params,
                Slot::ParamGrad(_) => &mut memory.param_grads,
                Slot::Tensor(_) => &mut memory.activations,
                Slot::Grad(_) => &mut memory.grads,
                Slot::Aux(a) if a.ends_with(".adam_m") || a.ends_with(".adam_v") => {
                    &mut memory.moments
                }
                Slot::Aux(_) => &mut memory.other,
            };
            *kind += bytes;
            stats.buffers += 1;
            let buffer = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&format!("{slot:?}")),
                size: bytes,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            buffers.insert(slot.clone(), buffer);
        }
        stats.weight_bytes = memory.params;
        stats.activation_bytes = memory.activations + memory.grads;

        let mut pipelines = HashMap::new();
        let mut steps = Vec::new();
        for scheduled in plan.dispatches {
            let d = scheduled.dispatch;
            let pipeline = match pipelines.entry(d.kernel) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    stats.pipelines += 1;
                    let cache = ctx.pipeline_cache.as_deref().map(|c| c.wgpu());
                    e.insert(d.kernel.pipeline(device, cache)?)
                }
            };
            let uniform = device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(d.kernel.source().entry),
                size: d.params.len() as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            ctx.queue.write_buffer(&uniform, 0, &d.params);
            stats.buffers += 1;
            let resources = d.slots.iter().map(|slot| buffers[slot].as_entire_binding());
            let bind_group = bind_group(
                device,
                pipeline,
                d.kernel.source().entry,
                &uniform,
                resources,
            );
            stats.bind_groups += 1;
            steps.push(Planned {
                phase: scheduled.phase,
                label: scheduled.label,
                kernel: d.kernel,
                params: d.params,
                uniform,
                bind_group,
                groups: workgroups(d.invocations),
            });
        }
        if let Some(cache) = &ctx.pipeline_cache {
            cache.save_or_warn();
        }
        let loss_readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("loss readback"),
            size: (batch * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        stats.buffers += 1;
        let mut trainer = Self {
            ctx,
            program,
            batch,
            buffers,
            sizes: plan.sizes,
            steps,
            pipelines,
            trained: plan.trained,
            loss_readback,
            stats,
            memory,
        };
        trainer.upload_params(params)?;
        let zeros = Moments::zeros(params);
        trainer.set_moments(&zeros)?;
        Ok(trainer)
    }

    /// The batch size everything is planned for.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// The device this trainer runs on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The program trained.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Device objects created so far: a step creates none.
    pub fn stats(&self) -> AllocStats {
        self.stats
    }

    /// Device memory held, by kind.
    pub fn memory(&self) -> TrainMemory {
        self.memory
    }

    /// One step (== [`crate::train::step::cpu_step`]): forward in training mode, loss and
    /// its gradient, backward, AdamW on every trainable parameter (weight decay only where
    /// [`crate::train::step::is_decayed`]), running statistics. Returns the batch loss (before
    /// the update). One submission; reads back only the per-sample losses.
    pub fn step(
        &mut self,
        input: &[f32],
        target: &[f32],
        options: &StepOptions,
    ) -> Result<f32, GpuError> {
        Ok(self.run(input, target, options, Mode::Step)?.loss)
    }

    /// Like [`step`](Self::step), with every dispatch in its own pass between two timestamp
    /// queries: the batch loss and the GPU time of each dispatch, labelled with its op (or
    /// parameter). Slower than `step`; for profiling only.
    pub fn step_timed(
        &mut self,
        input: &[f32],
        target: &[f32],
        options: &StepOptions,
    ) -> Result<(f32, Vec<LayerTime>), GpuError> {
        if !self.ctx.has_timestamps() {
            return Err(GpuError::NoTimestamps(self.ctx.info.name.clone()));
        }
        let out = self.run(input, target, options, Mode::TimedStep)?;
        Ok((out.loss, out.times))
    }

    /// Forward, loss and backward without updating anything: the loss and every trainable
    /// parameter's gradient (for tests against [`crate::train::step::cpu_gradients`]).
    pub fn gradients(
        &mut self,
        input: &[f32],
        target: &[f32],
        options: &StepOptions,
    ) -> Result<(f32, BTreeMap<String, Vec<f32>>), GpuError> {
        let out = self.run(input, target, options, Mode::Gradients)?;
        Ok((out.loss, out.grads))
    }

    /// The current parameters (training form, running statistics included), read back.
    pub fn params(&self) -> Result<Params, GpuError> {
        let names: Vec<(String, Vec<usize>)> = self.program.params();
        let slots: Vec<Slot> = names.iter().map(|(n, _)| Slot::Param(n.clone())).collect();
        let values = self.read(&slots)?;
        Ok(names
            .into_iter()
            .zip(values)
            .map(|((name, shape), data)| (name, Tensor::new(shape, data)))
            .collect())
    }

    /// Adam's moments of every trainable parameter, read back.
    pub fn moments(&self) -> Result<Moments, GpuError> {
        let names: Vec<(String, Vec<usize>)> = self.trainable();
        let mut slots: Vec<Slot> = names.iter().map(|(n, _)| adam::first_moment(n)).collect();
        slots.extend(names.iter().map(|(n, _)| adam::second_moment(n)));
        let mut values = self.read(&slots)?.into_iter();
        let mut take = || -> Params {
            names
                .iter()
                .map(|(name, shape)| {
                    let data = values.next().expect("one value per slot");
                    (name.clone(), Tensor::new(shape.clone(), data))
                })
                .collect()
        };
        let m = take();
        let v = take();
        Ok(Moments { m, v })
    }

    /// Replaces Adam's moments (resuming from a checkpoint). Every trainable parameter needs
    /// both moments, each the parameter's size.
    pub fn set_moments(&mut self, moments: &Moments) -> Result<(), GpuError> {
        for (name, _) in self.trainable() {
            for (which, slot) in [
                (&moments.m, adam::first_moment(&name)),
                (&moments.v, adam::second_moment(&name)),
            ] {
                let t = which
                    .get(&name)
                    .ok_or_else(|| GpuError::MissingParam(format!("{name} (Adam moment)")))?;
                self.write(&slot, &name, &t.data)?;
            }
        }
        Ok(())
    }

    fn trainable(&self) -> Vec<(String, Vec<usize>)> {
        let mut names = self.program.params();
        names.retain(|(n, _)| is_trainable(n) && self.buffers.contains_key(&adam::first_moment(n)));
        names
    }

    fn upload_params(&mut self, params: &Params) -> Result<(), GpuError> {
        for (name, _) in self.program.params() {
            let t = params
                .get(&name)
                .ok_or_else(|| GpuError::MissingParam(name.clone()))?;
            self.write(&Slot::Param(name.clone()), &name, &t.data)?;
        }
        Ok(())
    }

    /// Writes `data` into `slot`'s buffer, checking its size.
    fn write(&self, slot: &Slot, name: &str, data: &[f32]) -> Result<(), GpuError> {
        let Some(&expected) = self.sizes.get(slot) else {
            // Parameters no dispatch binds (none in a valid program) have no buffer.
            return Ok(());
        };
        if data.len() != expected {
            return Err(GpuError::ParamSize {
                name: name.to_string(),
                expected,
                found: data.len(),
            });
        }
        self.ctx
            .queue
            .write_buffer(&self.buffers[slot], 0, bytemuck::cast_slice(data));
        Ok(())
    }
}

/// Options for building the plan; each step's own are written over them.
fn placeholder_options() -> StepOptions {
    use crate::net::training::AdamStep;
    use crate::net::training::Dropout;
    StepOptions {
        loss: crate::net::training::Loss::Mse,
        scale: 1.0,
        dropout: Dropout::NONE,
        adam: AdamStep {
            lr: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            t: 1,
        },
    }
}
