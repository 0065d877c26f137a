//! Running a [`GpuTrainer`]'s planned step, and reading buffers back.

use std::collections::BTreeMap;
use std::sync::mpsc;

use super::schedule::{Phase, schedule};
use super::{GpuError, GpuTrainer};
use crate::gpu::kernels::{Slot, loss};
use crate::gpu::net::{read_f32, wait_for_maps};
use crate::run::{InputError, check_inputs};
use crate::train::step::StepOptions;

/// Gradients by parameter name.
pub(super) type Grads = BTreeMap<String, Vec<f32>>;

/// Where each slot's values lie in a staging buffer: `(offset, len)` in f32 values.
type Layout = Vec<(usize, usize)>;

impl GpuTrainer {
    /// Uploads the batch and the step's uniform values, then runs forward, loss and backward,
    /// and with `update` AdamW and the running statistics, in one submission. Returns the batch
    /// loss and, without `update`, every trained parameter's gradient.
    pub(super) fn run(
        &mut self,
        input: &[f32],
        target: &[f32],
        options: &StepOptions,
        update: bool,
    ) -> Result<(f32, Grads), GpuError> {
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
        let plan = schedule(&self.program, self.batch, options)?;
        assert_eq!(
            plan.dispatches.len(),
            self.steps.len(),
            "the schedule changed"
        );
        for (planned, (_, d)) in self.steps.iter_mut().zip(plan.dispatches) {
            debug_assert_eq!(planned.kernel, d.kernel, "the schedule changed");
            if planned.params != d.params {
                queue.write_buffer(&planned.uniform, 0, &d.params);
                planned.params = d.params;
            }
        }
        let input_slot = Slot::Tensor(self.program.inputs[0].0.clone());
        queue.write_buffer(&self.buffers[&input_slot], 0, bytemuck::cast_slice(input));
        queue.write_buffer(
            &self.buffers[&loss::target()],
            0,
            bytemuck::cast_slice(target),
        );

        let device = self.ctx.device.clone();
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some(if update { "train step" } else { "gradients" }),
        });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("train step"),
                timestamp_writes: None,
            });
            for step in &self.steps {
                if step.phase == Phase::Update && !update {
                    continue;
                }
                pass.set_pipeline(&self.pipelines[&step.kernel]);
                pass.set_bind_group(0, &step.bind_group, &[]);
                pass.dispatch_workgroups(step.groups.0, step.groups.1, 1);
            }
        }
        let losses = &self.buffers[&loss::per_sample()];
        let bytes = (self.batch * 4) as u64;
        encoder.copy_buffer_to_buffer(losses, 0, &self.loss_readback, 0, bytes);
        let grads: Vec<Slot> = if update {
            Vec::new()
        } else {
            self.trained.iter().cloned().map(Slot::ParamGrad).collect()
        };
        let staging = (!grads.is_empty()).then(|| self.stage(&mut encoder, &grads));

        let (tx, rx) = mpsc::channel();
        let mut maps = 1;
        let to = tx.clone();
        encoder.map_buffer_on_submit(&self.loss_readback, wgpu::MapMode::Read, .., move |r| {
            let _ = to.send(r);
        });
        if let Some((buffer, _)) = &staging {
            encoder.map_buffer_on_submit(buffer, wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send(r);
            });
            maps += 1;
        }
        queue.submit([encoder.finish()]);
        wait_for_maps(&device, &rx, maps)?;

        let per_sample = read_f32(&self.loss_readback)?;
        let loss = per_sample.iter().map(|v| *v as f64).sum::<f64>() / self.batch as f64;
        let mut out = Grads::new();
        if let Some((buffer, layout)) = staging {
            let values = split(&read_f32(&buffer)?, &layout);
            out = self.trained.iter().cloned().zip(values).collect();
        }
        Ok((loss as f32, out))
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
        wait_for_maps(device, &rx, 1)?;
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
