//! Everything one batch size needs on the device, made once and reused for every frame:
//! activation buffers, uniform parameter buffers, bind groups and the readback buffer.
//!
//! Activations share buffers by liveness: a tensor's buffer returns to a pool after its last
//! reader and is handed to the next tensor that fits. An op's inputs are still live when its
//! output is allocated, so no dispatch reads and writes the same buffer.

use std::collections::HashMap;

use wgpu::util::DeviceExt;

use super::GpuError;
use super::kernels::{Kernel, Slot, dispatches, workgroups};
use crate::net::Program;

/// Counts of device objects created, to show that steady-state inference creates none.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AllocStats {
    /// Buffers created (weights, activations, uniforms, readback, queries).
    pub buffers: usize,
    /// Bind groups created.
    pub bind_groups: usize,
    /// Compute pipelines created.
    pub pipelines: usize,
    /// Bytes of parameter buffers.
    pub weight_bytes: u64,
    /// Bytes of activation buffers, over all batch sizes planned.
    pub activation_bytes: u64,
}

/// One dispatch, ready to record.
pub(crate) struct Step {
    /// The op it belongs to.
    pub op: String,
    /// Its kernel.
    pub kernel: Kernel,
    /// Floating-point operations it performs.
    pub flops: u64,
    pub bind_group: wgpu::BindGroup,
    pub groups: (u32, u32),
}

/// Timestamp queries for per-layer timing, made on first use.
pub(crate) struct Timing {
    pub queries: wgpu::QuerySet,
    pub resolve: wgpu::Buffer,
    pub readback: wgpu::Buffer,
}

/// The device objects for one batch size.
pub(crate) struct Plan {
    pub inputs: Vec<wgpu::Buffer>,
    pub output: wgpu::Buffer,
    pub output_bytes: u64,
    pub readback: wgpu::Buffer,
    pub steps: Vec<Step>,
    pub timing: Option<Timing>,
}

/// What [`Plan::new`] needs from the network.
pub(crate) struct PlanContext<'a> {
    pub device: &'a wgpu::Device,
    pub program: &'a Program,
    pub params: &'a HashMap<String, wgpu::Buffer>,
    pub pipelines: &'a HashMap<Kernel, wgpu::ComputePipeline>,
}

impl Plan {
    pub fn new(cx: &PlanContext, batch: usize, stats: &mut AllocStats) -> Result<Self, GpuError> {
        let device = cx.device;
        let program = cx.program;
        let limit = device
            .limits()
            .max_storage_buffer_binding_size
            .min(device.limits().max_buffer_size);
        for (name, shape) in &program.shapes {
            let bytes = (batch * shape.len() * 4) as u64;
            if bytes > limit {
                let per_sample = (shape.len() * 4) as u64;
                return Err(GpuError::TooLarge {
                    tensor: name.clone(),
                    batch,
                    bytes,
                    limit,
                    max_batch: (limit / per_sample) as usize,
                });
            }
        }

        // Liveness: the index of the last op reading each tensor; the output lives to the end.
        let mut last_use: HashMap<&str, usize> = HashMap::new();
        for (i, op) in program.ops.iter().enumerate() {
            for t in op.inputs() {
                last_use.insert(t, i);
            }
        }
        last_use.insert(&program.output, usize::MAX);

        let mut pool: Vec<(wgpu::Buffer, u64)> = Vec::new();
        let mut assigned: HashMap<String, (wgpu::Buffer, u64)> = HashMap::new();
        let alloc = |name: &str, stats: &mut AllocStats, pool: &mut Vec<(wgpu::Buffer, u64)>| {
            let bytes = (batch * program.shape(name).len() * 4) as u64;
            let best = pool
                .iter()
                .enumerate()
                .filter(|(_, (_, size))| *size >= bytes)
                .min_by_key(|(_, (_, size))| *size)
                .map(|(i, _)| i);
            let buffer = match best {
                Some(i) => pool.swap_remove(i).0,
                None => {
                    stats.buffers += 1;
                    stats.activation_bytes += bytes;
                    device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some(name),
                        size: bytes,
                        usage: wgpu::BufferUsages::STORAGE
                            | wgpu::BufferUsages::COPY_DST
                            | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    })
                }
            };
            (buffer, bytes)
        };

        for (name, _) in &program.inputs {
            assigned.insert(name.clone(), alloc(name, stats, &mut pool));
        }
        let mut steps = Vec::new();
        for (i, op) in program.ops.iter().enumerate() {
            assigned.insert(
                op.output().to_string(),
                alloc(op.output(), stats, &mut pool),
            );
            let flops = 2 * program.op_macs(op) * batch as u64;
            let ds = dispatches(program, op, batch)?;
            let count = ds.len() as u64;
            for d in ds {
                let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(op.name()),
                    contents: &d.params,
                    usage: wgpu::BufferUsages::UNIFORM,
                });
                stats.buffers += 1;
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                }];
                for (j, slot) in d.slots.iter().enumerate() {
                    let resource = match slot {
                        Slot::Tensor(t) => {
                            let (buffer, bytes) = &assigned[t];
                            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer,
                                offset: 0,
                                size: wgpu::BufferSize::new(*bytes),
                            })
                        }
                        Slot::Param(p) => cx
                            .params
                            .get(p)
                            .ok_or_else(|| GpuError::MissingParam(p.clone()))?
                            .as_entire_binding(),
                    };
                    entries.push(wgpu::BindGroupEntry {
                        binding: j as u32 + 1,
                        resource,
                    });
                }
                let pipeline = &cx.pipelines[&d.kernel];
                let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(op.name()),
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                });
                stats.bind_groups += 1;
                steps.push(Step {
                    op: op.name().to_string(),
                    kernel: d.kernel,
                    flops: flops / count,
                    bind_group,
                    groups: workgroups(d.invocations),
                });
            }
            let mut freed: Vec<&str> = op
                .inputs()
                .into_iter()
                .filter(|t| last_use.get(t) == Some(&i))
                .collect();
            freed.dedup();
            for t in freed {
                if let Some(entry) = assigned.get(t) {
                    pool.push(entry.clone());
                }
            }
        }

        let inputs = program
            .inputs
            .iter()
            .map(|(name, _)| assigned[name].0.clone())
            .collect();
        let (output, output_bytes) = assigned[&program.output].clone();
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: output_bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        stats.buffers += 1;
        Ok(Self {
            inputs,
            output,
            output_bytes,
            readback,
            steps,
            timing: None,
        })
    }

    /// Creates the timestamp queries (two per step) on first use.
    pub fn timing(&mut self, device: &wgpu::Device, stats: &mut AllocStats) -> &Timing {
        let count = 2 * self.steps.len() as u32;
        self.timing.get_or_insert_with(|| {
            let bytes = count as u64 * 8;
            stats.buffers += 2;
            Timing {
                queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("per-layer"),
                    ty: wgpu::QueryType::Timestamp,
                    count,
                }),
                resolve: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps"),
                    size: bytes,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                readback: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("timestamps readback"),
                    size: bytes,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
            }
        })
    }
}
