//! Everything one batch size needs on the device, made once and reused for every frame:
//! activation buffers, uniform parameter buffers, bind groups and the readback buffer.
//!
//! Activations share buffers by liveness: a tensor's buffer returns to a pool after its last
//! reader and is handed to the next tensor that fits. An op's inputs are still live when its
//! output is allocated, so no dispatch reads and writes the same buffer.

use crate::gpu::kernels::bind_group;
use std::collections::HashMap;

use wgpu::util::DeviceExt;

use super::GpuError;
use super::kernels::{Kernel, Slot, workgroups};
use super::schedule::Node;
use super::timing::Timing;
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
    /// The ops fused into it.
    pub fused: Vec<String>,
    /// Its kernel.
    pub kernel: Kernel,
    /// Floating-point operations it performs.
    pub flops: u64,
    pub bind_group: wgpu::BindGroup,
    pub groups: (u32, u32),
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
    /// The plan that runs `nodes`, the program's schedule at `batch` (`gpu::schedule`).
    pub fn new(
        cx: &PlanContext,
        nodes: &[Node],
        batch: usize,
        stats: &mut AllocStats,
    ) -> Result<Self, GpuError> {
        let device = cx.device;
        let program = cx.program;
        let limit = device
            .limits()
            .max_storage_buffer_binding_size
            .min(device.limits().max_buffer_size);
        let (largest, shape) = program
            .shapes
            .iter()
            .max_by_key(|(_, s)| s.len())
            .expect("a program has tensors");
        let per_sample = (shape.len() * 4) as u64;
        if batch as u64 * per_sample > limit {
            return Err(GpuError::TooLarge {
                tensor: largest.clone(),
                batch,
                bytes: batch as u64 * per_sample,
                limit,
                max_batch: (limit / per_sample) as usize,
            });
        }

        let (slot_of, slot_sizes) = assign_slots(program, nodes, batch);
        let slots: Vec<wgpu::Buffer> = slot_sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| {
                stats.buffers += 1;
                stats.activation_bytes += size;
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(&format!("activations {i}")),
                    size,
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_DST
                        | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                })
            })
            .collect();
        let bytes_of = |t: &str| (batch * program.shape(t).len() * 4) as u64;

        let mut steps = Vec::new();
        for node in nodes {
            let count = node.dispatches.len() as u64;
            for d in &node.dispatches {
                let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&node.name),
                    contents: &d.params,
                    usage: wgpu::BufferUsages::UNIFORM,
                });
                stats.buffers += 1;
                let mut resources = Vec::new();
                for slot in &d.slots {
                    resources.push(match slot {
                        Slot::Tensor(t) => wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &slots[slot_of[t.as_str()]],
                            offset: 0,
                            size: wgpu::BufferSize::new(bytes_of(t)),
                        }),
                        Slot::Param(p) => cx
                            .params
                            .get(p)
                            .ok_or_else(|| GpuError::MissingParam(p.clone()))?
                            .as_entire_binding(),
                        Slot::Grad(_) | Slot::ParamGrad(_) | Slot::Aux(_) => {
                            unreachable!("inference dispatches bind tensors and parameters only")
                        }
                    });
                }
                let pipeline = &cx.pipelines[&d.kernel];
                let bind_group = bind_group(device, pipeline, &node.name, &uniform, resources);
                stats.bind_groups += 1;
                steps.push(Step {
                    op: node.name.clone(),
                    fused: node.fused.clone(),
                    kernel: d.kernel,
                    flops: node.flops / count,
                    bind_group,
                    groups: workgroups(d.invocations),
                });
            }
        }

        let inputs = program
            .inputs
            .iter()
            .map(|(name, _)| slots[slot_of[name.as_str()]].clone())
            .collect();
        let output = slots[slot_of[program.output.as_str()]].clone();
        let output_bytes = bytes_of(&program.output);
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
        let passes = self.steps.len();
        self.timing.get_or_insert_with(|| {
            stats.buffers += 2;
            Timing::new(device, "per-layer", passes)
        })
    }
}

/// Assigns every tensor to a buffer slot so that tensors alive at the same time never share
/// one; returns the slot of each tensor and each slot's size in bytes.
///
/// A tensor lives from the node that writes it (program inputs: from the start) to the last
/// node that reads it (the output: to the end). A node's output is assigned while its inputs
/// are still alive. A new tensor takes the smallest free slot it fits in, else grows the largest
/// free slot, else opens a new one: the slot count is the peak number of live tensors.
fn assign_slots<'a>(
    program: &'a Program,
    nodes: &'a [Node],
    batch: usize,
) -> (HashMap<&'a str, usize>, Vec<u64>) {
    let mut last_use: HashMap<&str, usize> = HashMap::new();
    for (i, node) in nodes.iter().enumerate() {
        for t in &node.inputs {
            last_use.insert(t, i);
        }
    }
    last_use.insert(&program.output, usize::MAX);

    let mut sizes: Vec<u64> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut slot_of: HashMap<&str, usize> = HashMap::new();
    let assign = |t: &'_ str, sizes: &mut Vec<u64>, free: &mut Vec<usize>| -> usize {
        let bytes = (batch * program.shape(t).len() * 4) as u64;
        let fitting = free
            .iter()
            .enumerate()
            .filter(|(_, s)| sizes[**s] >= bytes)
            .min_by_key(|(_, s)| sizes[**s]);
        let pick = fitting
            .or_else(|| free.iter().enumerate().max_by_key(|(_, s)| sizes[**s]))
            .map(|(i, _)| i);
        match pick {
            Some(i) => {
                let slot = free.swap_remove(i);
                sizes[slot] = sizes[slot].max(bytes);
                slot
            }
            None => {
                sizes.push(bytes);
                sizes.len() - 1
            }
        }
    };
    for (name, _) in &program.inputs {
        let slot = assign(name, &mut sizes, &mut free);
        slot_of.insert(name, slot);
    }
    for (i, node) in nodes.iter().enumerate() {
        let slot = assign(&node.output, &mut sizes, &mut free);
        slot_of.insert(&node.output, slot);
        let mut dead: Vec<&str> = node
            .inputs
            .iter()
            .map(String::as_str)
            .filter(|t| last_use.get(t) == Some(&i))
            .collect();
        dead.sort_unstable();
        dead.dedup();
        free.extend(dead.iter().map(|t| slot_of[t]));
    }
    (slot_of, sizes)
}
