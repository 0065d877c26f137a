//! Runs a list of dispatches over host-provided buffers: the simplest way to execute kernels
//! outside a planned network, used by the per-kernel tests (GPU against the CPU reference).
//! Every slot gets its own buffer, uploaded from the host, and the asked-for slots are read
//! back after one submission.

use crate::gpu::kernels::bind_group;
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

use wgpu::util::DeviceExt;

use super::GpuError;
use super::context::GpuContext;
use super::kernels::{Dispatch, Kernel, Slot, workgroups};
use super::net::{read_f32, wait_for_maps};

/// Executes `dispatches` in order in one submission. `buffers` gives the initial contents of
/// every slot any dispatch binds (outputs too: zeros, or earlier values a kernel accumulates
/// into); returns the final contents of the slots in `read`.
pub fn run_dispatches(
    ctx: &GpuContext,
    dispatches: &[Dispatch],
    buffers: &BTreeMap<Slot, Vec<f32>>,
    read: &[Slot],
) -> Result<BTreeMap<Slot, Vec<f32>>, GpuError> {
    let device = &ctx.device;
    let mut gpu: HashMap<&Slot, wgpu::Buffer> = HashMap::new();
    for (slot, data) in buffers {
        // Zero-sized bindings are not allowed: pad empty buffers to one element.
        let bytes: &[u8] = if data.is_empty() {
            &[0; 4]
        } else {
            bytemuck::cast_slice(data)
        };
        let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(&format!("{slot:?}")),
            contents: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        });
        gpu.insert(slot, buffer);
    }
    let mut pipelines: HashMap<Kernel, wgpu::ComputePipeline> = HashMap::new();
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("run_dispatches"),
    });
    for d in dispatches {
        let pipeline = match pipelines.entry(d.kernel) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(d.kernel.pipeline(device, None)?)
            }
        };
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("params"),
            contents: &d.params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let buffers = d.slots.iter().map(|slot| {
            gpu.get(slot)
                .unwrap_or_else(|| panic!("run_dispatches: no buffer given for slot {slot:?}"))
                .as_entire_binding()
        });
        let bind_group = bind_group(device, pipeline, d.kernel.source().entry, &uniform, buffers);
        // One pass per dispatch: later dispatches see earlier writes.
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: None,
            timestamp_writes: None,
        });
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        let (x, y) = workgroups(d.invocations);
        pass.dispatch_workgroups(x, y, 1);
    }
    let mut readbacks = Vec::new();
    for slot in read {
        let src = gpu
            .get(slot)
            .unwrap_or_else(|| panic!("run_dispatches: slot {slot:?} to read was not given"));
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: src.size(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_buffer_to_buffer(src, 0, &readback, 0, src.size());
        readbacks.push(readback);
    }
    let (tx, rx) = mpsc::channel();
    for readback in &readbacks {
        let tx = tx.clone();
        encoder.map_buffer_on_submit(readback, wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
    }
    ctx.queue.submit([encoder.finish()]);
    wait_for_maps(ctx, &rx, readbacks.len())?;
    let mut out = BTreeMap::new();
    for (slot, readback) in read.iter().zip(&readbacks) {
        let mut values = read_f32(readback)?;
        values.truncate(buffers[slot].len());
        out.insert(slot.clone(), values);
    }
    Ok(out)
}
