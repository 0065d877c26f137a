//! [`GpuNet`]: a program with its parameters resident on the device.

use std::collections::HashMap;
use std::sync::mpsc;

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::kernels::Kernel;
use super::plan::{AllocStats, Plan, PlanContext};
use super::schedule::{Node, schedule};
use super::{GpuError, half_weights};
use crate::net::{Network, Params, Program};
use crate::run::check_inputs;

/// GPU time of one dispatch, from timestamp queries.
#[derive(Debug, Clone)]
pub struct LayerTime {
    /// The op (several dispatches of one op share its name).
    pub op: String,
    /// The ops fused into its kernel ([`crate::gpu::schedule`]).
    pub fused: Vec<String>,
    /// The kernel that ran.
    pub kernel: Kernel,
    /// Milliseconds on the GPU.
    pub ms: f64,
    /// Floating-point operations performed.
    pub flops: u64,
}

/// The GPU time of each kernel over `times`: `(entry point, milliseconds, dispatches)`, the
/// longest first (what `bench --train --per-layer` and the training-speed example print).
pub fn time_by_kernel(times: &[LayerTime]) -> Vec<(&'static str, f64, usize)> {
    let mut kernels: HashMap<&'static str, (f64, usize)> = HashMap::new();
    for t in times {
        let k = kernels.entry(t.kernel.source().entry).or_default();
        k.0 += t.ms;
        k.1 += 1;
    }
    let mut rows: Vec<_> = kernels.into_iter().map(|(k, (ms, n))| (k, ms, n)).collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    rows
}

/// An inference-form program on the GPU: parameters uploaded and pipelines compiled once,
/// buffers and bind groups made once per batch size.
pub struct GpuNet {
    ctx: GpuContext,
    program: Program,
    params: HashMap<String, wgpu::Buffer>,
    pipelines: HashMap<Kernel, wgpu::ComputePipeline>,
    plans: HashMap<usize, Plan>,
    stats: AllocStats,
}

impl GpuNet {
    /// Uploads `params` and compiles the kernels `program` uses. The program must be in
    /// inference form (see [`crate::net::lower()`]).
    pub fn new(ctx: GpuContext, program: Program, params: &Params) -> Result<Self, GpuError> {
        ctx.check_kernels()?;
        let mut stats = AllocStats::default();
        let mut buffers = HashMap::new();
        let halves = if ctx.kernels.f16_weights() {
            half_weights::names(&program)
        } else {
            Default::default()
        };
        for (name, _) in program.params() {
            let t = params
                .get(&name)
                .ok_or_else(|| GpuError::MissingParam(name.clone()))?;
            let contents = if halves.contains(&name) {
                half_weights::pack(&t.data).map_err(|value| GpuError::F16Range {
                    param: name.clone(),
                    value,
                })?
            } else {
                bytemuck::cast_slice(&t.data).to_vec()
            };
            let buffer = ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some(&name),
                    contents: &contents,
                    usage: wgpu::BufferUsages::STORAGE,
                });
            stats.buffers += 1;
            stats.weight_bytes += contents.len() as u64;
            buffers.insert(name, buffer);
        }
        let mut net = Self {
            ctx,
            program,
            params: buffers,
            pipelines: HashMap::new(),
            plans: HashMap::new(),
            stats,
        };
        // A shader the device rejects is reported here, not at the first inference.
        let nodes = schedule(&net.program, 1, net.ctx.kernels)?;
        net.compile_kernels(&nodes)?;
        Ok(net)
    }

    /// Uploads an inference network.
    pub fn from_network(ctx: GpuContext, net: &Network) -> Result<Self, GpuError> {
        Self::new(ctx, net.program.clone(), &net.params)
    }

    /// The device this network runs on.
    pub fn context(&self) -> &GpuContext {
        &self.ctx
    }

    /// The program executed.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// Device objects created so far.
    pub fn stats(&self) -> AllocStats {
        self.stats
    }

    /// Compiles the kernels `nodes` run that are not compiled yet (a kernel set may pick other
    /// variants at other batch sizes).
    fn compile_kernels(&mut self, nodes: &[Node]) -> Result<(), GpuError> {
        let cache = self.ctx.pipeline_cache.as_deref();
        let mut compiled = false;
        for node in nodes {
            for d in &node.dispatches {
                if !self.pipelines.contains_key(&d.kernel) {
                    let pipeline = d
                        .kernel
                        .pipeline(&self.ctx.device, cache.map(|c| c.wgpu()))?;
                    self.stats.pipelines += 1;
                    self.pipelines.insert(d.kernel, pipeline);
                    compiled = true;
                }
            }
        }
        if let (true, Some(cache)) = (compiled, cache) {
            cache.save_or_warn();
        }
        Ok(())
    }

    fn plan(&mut self, batch: usize) -> Result<&mut Plan, GpuError> {
        if !self.plans.contains_key(&batch) {
            let nodes = schedule(&self.program, batch, self.ctx.kernels)?;
            self.compile_kernels(&nodes)?;
            let cx = PlanContext {
                device: &self.ctx.device,
                program: &self.program,
                params: &self.params,
                pipelines: &self.pipelines,
            };
            let plan = Plan::new(&cx, &nodes, batch, &mut self.stats)?;
            self.plans.insert(batch, plan);
        }
        Ok(self.plans.get_mut(&batch).expect("inserted above"))
    }

    /// Runs the program on a batch: one slice per program input, each `batch × shape.len()`
    /// values. One command encoder, one submission, and only the output read back.
    pub fn forward(&mut self, inputs: &[&[f32]], batch: usize) -> Result<Vec<f32>, GpuError> {
        Ok(self.run(inputs, batch, false)?.0)
    }

    /// Like [`forward`](Self::forward), with each dispatch in its own timed pass. Slower than
    /// `forward` (a pass per dispatch); for profiling only.
    pub fn forward_timed(
        &mut self,
        inputs: &[&[f32]],
        batch: usize,
    ) -> Result<(Vec<f32>, Vec<LayerTime>), GpuError> {
        if !self.ctx.has_timestamps() {
            return Err(GpuError::NoTimestamps(self.ctx.info.name.clone()));
        }
        self.run(inputs, batch, true)
    }

    fn run(
        &mut self,
        inputs: &[&[f32]],
        batch: usize,
        timed: bool,
    ) -> Result<(Vec<f32>, Vec<LayerTime>), GpuError> {
        check_inputs(&self.program, inputs, batch)?;
        self.ctx.check()?;
        let device = self.ctx.device.clone();
        let queue = self.ctx.queue.clone();
        self.plan(batch)?;
        let pipelines = &self.pipelines;
        let plan = self.plans.get_mut(&batch).expect("planned above");
        if timed {
            plan.timing(&device, &mut self.stats);
        }

        for (buffer, x) in plan.inputs.iter().zip(inputs) {
            queue.write_buffer(buffer, 0, bytemuck::cast_slice(x));
        }
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("forward"),
        });
        if let (true, Some(timing)) = (timed, &plan.timing) {
            for (i, step) in plan.steps.iter().enumerate() {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some(&step.op),
                    timestamp_writes: Some(timing.writes(i)),
                });
                pass.set_pipeline(&pipelines[&step.kernel]);
                pass.set_bind_group(0, &step.bind_group, &[]);
                pass.dispatch_workgroups(step.groups.0, step.groups.1, 1);
            }
            timing.resolve(&mut encoder);
        } else {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("forward"),
                timestamp_writes: None,
            });
            for step in &plan.steps {
                pass.set_pipeline(&pipelines[&step.kernel]);
                pass.set_bind_group(0, &step.bind_group, &[]);
                pass.dispatch_workgroups(step.groups.0, step.groups.1, 1);
            }
        }
        encoder.copy_buffer_to_buffer(&plan.output, 0, &plan.readback, 0, plan.output_bytes);

        let (tx, rx) = mpsc::channel();
        let tx_output = tx.clone();
        encoder.map_buffer_on_submit(&plan.readback, wgpu::MapMode::Read, .., move |r| {
            let _ = tx_output.send(r);
        });
        let mut expected = 1;
        if let (true, Some(timing)) = (timed, &plan.timing) {
            encoder.map_buffer_on_submit(&timing.readback, wgpu::MapMode::Read, .., move |r| {
                let _ = tx.send(r);
            });
            expected += 1;
        }
        queue.submit([encoder.finish()]);
        wait_for_maps(&self.ctx, &rx, expected)?;

        let output = read_f32(&plan.readback)?;
        let mut layers = Vec::new();
        if let (true, Some(timing)) = (timed, &plan.timing) {
            let times = timing.durations_ms(&queue)?;
            for (step, ms) in plan.steps.iter().zip(times) {
                layers.push(LayerTime {
                    op: step.op.clone(),
                    fused: step.fused.clone(),
                    kernel: step.kernel,
                    ms,
                    flops: step.flops,
                });
            }
        }
        Ok((output, layers))
    }
}

/// Waits until the device is idle and `count` buffer mappings requested with
/// `map_buffer_on_submit` (each reporting on `rx`) have completed; then, or when it could not
/// wait, says whether the device was lost or reported an error meanwhile (which explains a
/// failed mapping better than the mapping's own error).
pub(crate) fn wait_for_maps(
    ctx: &GpuContext,
    rx: &mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
    count: usize,
) -> Result<(), GpuError> {
    let waited = ctx
        .device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: None,
        })
        .map_err(|e| GpuError::Readback(e.to_string()))
        .and_then(|_| {
            for _ in 0..count {
                rx.recv()
                    .map_err(|_| {
                        GpuError::Readback("the device dropped the mapping request".into())
                    })?
                    .map_err(|e| GpuError::Readback(e.to_string()))?;
            }
            Ok(())
        });
    ctx.check()?;
    waited
}

/// Copies a mapped buffer's f32 contents out and unmaps it.
pub(crate) fn read_f32(buffer: &wgpu::Buffer) -> Result<Vec<f32>, GpuError> {
    let out = {
        let view = buffer
            .get_mapped_range(..)
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        bytemuck::pod_collect_to_vec(&view)
    };
    buffer.unmap();
    Ok(out)
}
