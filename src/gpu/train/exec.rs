//! Running a [`GpuTrainer`]'s planned step, and reading buffers back.

use std::collections::BTreeMap;
use std::sync::mpsc;

use super::schedule::{Phase, schedule};
use super::{GpuError, GpuTrainer};
use crate::gpu::LayerTime;
use crate::gpu::kernels::{Slot, loss};
use crate::gpu::net::{read_f32, wait_for_maps};
use crate::gpu::timing::Timing;
use crate::net::training::StepOptions;
use crate::run::{InputError, check_inputs};

/// Gradients by parameter name.
pub(super) type Grads = BTreeMap<String, Vec<f32>>;

/// Where each slot's values lie in a staging buffer: `(offset, len)` in f32 values.
type Layout = Vec<(usize, usize)>;

/// What a run does besides forward, loss and backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// Update: AdamW and the running statistics.
    Step,
    /// No update; read back every trained parameter's gradient.
    Gradients,
    /// Update, with each dispatch in its own pass between two timestamps.
    TimedStep,
}

/// What a run returns.
pub(super) struct RunOutput {
    /// The batch loss.
    pub loss: f32,
    /// With [`Mode::Gradients`], every trained parameter's gradient.
    pub grads: Grads,
    /// With [`Mode::TimedStep`], the GPU time of every dispatch.
    pub times: Vec<LayerTime>,
}

impl GpuTrainer {
    /// Uploads the batch and the step's uniform values, then records and submits the step.
    pub(super) fn run(
        &mut self,
        input: &[f32],
        target: &[f32],
        options: &StepOptions,
        mode: Mode,
    ) -> Result<RunOutput, GpuError> {
        check_inputs(&self.program, &[input], self.batch)?;
        let dims = self.program.output_shape().len();
        if target.len() != self.batch * dims {
            return Err(InputError::Length {
                name: "target".into(),
                shape: dims.to_string(),
                batch: self.batch,
                expected: self.batch * dims,
                found: target.len(),
            }
            .into());
        }
        let queue = self.ctx.queue.clone();
        // Same kernels over the same buffers; only uniform values differ between steps.
        let plan = schedule(&self.program, self.batch, options, self.ctx.kernels)?;
        assert_eq!(
            plan.dispatches.len(),
            self.steps.len(),
            "the schedule changed"
        );
        for (planned, s) in self.steps.iter_mut().zip(plan.dispatches) {
            debug_assert_eq!(planned.kernel, s.dispatch.kernel, "the schedule changed");
            if planned.params != s.dispatch.params {
                queue.write_buffer(&planned.uniform, 0, &s.dispatch.params);
                planned.params = s.dispatch.params;
            }
        }
        let input_slot = Slot::Tensor(self.program.inputs[0].0.clone());
        queue.write_buffer(&self.buffers[&input_slot], 0, bytemuck::cast_slice(input));
        queue.write_buffer(
            &self.buffers[&loss::target()],
            0,
            bytemuck::cast_slice(target),
        );

        let update = mode != Mode::Gradients;
        let recorded: Vec<usize> = (0..self.steps.len())
            .filter(|&i| update || self.steps[i].phase != Phase::Update)
            .collect();
        let timing = (mode == Mode::TimedStep).then(|| self.timing(recorded.len()));
        let device = self.ctx.device.clone();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("train step"),
        });
        if let Some(timing) = &timing {
            for (k, &i) in recorded.iter().enumerate() {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(&self.steps[i].label),
                    timestamp_writes: Some(timing.writes(k)),
                });
                self.record(&mut pass, i);
            }
            timing.resolve(&mut encoder);
        } else {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("train step"),
                timestamp_writes: None,
            });
            for &i in &recorded {
                self.record(&mut pass, i);
            }
        }
        let losses = &self.buffers[&loss::per_sample()];
        let bytes = (self.batch * 4) as u64;
        encoder.copy_buffer_to_buffer(losses, 0, &self.loss_readback, 0, bytes);
        let grads: Vec<Slot> = match mode {
            Mode::Gradients => self.trained.iter().cloned().map(Slot::ParamGrad).collect(),
            _ => Vec::new(),
        };
        let staging = (!grads.is_empty()).then(|| self.stage(&mut encoder, &grads));

        let (tx, rx) = mpsc::channel();
        let mut maps = 0;
        for buffer in [Some(&self.loss_readback), staging.as_ref().map(|s| &s.0)]
            .into_iter()
            .chain([timing.as_ref().map(|t| &t.readback)])
            .flatten()
        {
            let tx = tx.clone();
            encoder.map_buffer_on_submit(buffer, wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send(r);
            });
            maps += 1;
        }
        queue.submit([encoder.finish()]);
        wait_for_maps(&self.ctx, &rx, maps)?;

        let per_sample = read_f32(&self.loss_readback)?;
        let loss = per_sample.iter().map(|v| *v as f64).sum::<f64>() / self.batch as f64;
        let mut out = RunOutput {
            loss: loss as f32,
            grads: Grads::new(),
            times: Vec::new(),
        };
        if let Some((buffer, layout)) = staging {
            let values = split(&read_f32(&buffer)?, &layout);
            out.grads = self.trained.iter().cloned().zip(values).collect();
        }
        if let Some(timing) = timing {
            let times = timing.durations_ms(&queue)?;
            for (&i, ms) in recorded.iter().zip(times) {
                out.times.push(LayerTime {
                    op: self.steps[i].label.clone(),
                    fused: Vec::new(),
                    kernel: self.steps[i].kernel,
                    ms,
                    flops: 0,
                });
            }
        }
        Ok(out)
    }

    fn record(&self, pass: &mut wgpu::ComputePass, i: usize) {
        let step = &self.steps[i];
        pass.set_pipeline(&self.pipelines[&step.kernel]);
        pass.set_bind_group(0, &step.bind_group, &[]);
        pass.dispatch_workgroups(step.groups.0, step.groups.1, 1);
    }

    /// Queries and buffers for timing `count` dispatches (made per timed run: profiling only).
    fn timing(&mut self, count: usize) -> Timing {
        self.stats.buffers += 2;
        Timing::new(&self.ctx.device, "train step timing", count)
    }

    /// The contents of `slots`, in one submission.
    pub(super) fn read(&self, slots: &[Slot]) -> Result<Vec<Vec<f32>>, GpuError> {
        let device = &self.ctx.device;
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("read back"),
        });
        let (buffer, layout) = self.stage(&mut encoder, slots);
        let (tx, rx) = mpsc::channel();
        encoder.map_buffer_on_submit(&buffer, wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.ctx.queue.submit([encoder.finish()]);
        wait_for_maps(&self.ctx, &rx, 1)?;
        Ok(split(&read_f32(&buffer)?, &layout))
    }

    /// Copies `slots` one after the other into a new staging buffer.
    fn stage(&self, encoder: &mut wgpu::CommandEncoder, slots: &[Slot]) -> (wgpu::Buffer, Layout) {
        let mut layout = Vec::new();
        let mut total = 0;
        for slot in slots {
            let len = self.sizes[slot];
            layout.push((total, len));
            total += len;
        }
        let buffer = self.ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: (total.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        for (slot, &(offset, len)) in slots.iter().zip(&layout) {
            let (offset, bytes) = ((offset * 4) as u64, (len * 4) as u64);
            encoder.copy_buffer_to_buffer(&self.buffers[slot], 0, &buffer, offset, bytes);
        }
        (buffer, layout)
    }
}

fn split(values: &[f32], layout: &Layout) -> Vec<Vec<f32>> {
    layout
        .iter()
        .map(|&(offset, len)| values[offset..offset + len].to_vec())
        .collect()
}
