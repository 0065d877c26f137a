//! `shaders/peak.wesl`: the adapter's measured arithmetic peak, the yardstick for the
//! network's GFLOP/s.

use std::sync::mpsc;
use std::time::Instant;

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::{Kernel, StructLayout, layout, workgroups};
use crate::gpu::net::{read_f32, wait_for_maps};
use crate::gpu::{GpuContext, GpuError};

/// Mirrors `PeakParams` in `peak.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct PeakParams {
    pub invocations: u32,
    pub iterations: u32,
    pub m: f32,
    pub c: f32,
}

/// Layout of [`PeakParams`].
pub const LAYOUT: StructLayout = layout!(PeakParams {
    invocations,
    iterations,
    m,
    c
});

/// Floating-point operations per invocation and iteration: 8 chains × vec4 × (mul + add).
pub const FLOPS_PER_ITERATION: u64 = 8 * 4 * 2;

/// What each invocation writes for `m = c = 1`: its 32 lanes, each counted up `iterations`
/// times from `idx % 1024 + chain`. The CPU reference of the kernel.
pub fn expected(idx: u32, iterations: u32) -> f32 {
    let base = (idx % 1024) as f32;
    (0..8)
        .map(|chain| 4.0 * (base + chain as f32 + iterations as f32))
        .sum()
}

/// Runs the kernel once and returns what it wrote and the wall time of the dispatch (submit to
/// completion).
pub fn run(
    ctx: &GpuContext,
    invocations: u32,
    iterations: u32,
) -> Result<(Vec<f32>, f64), GpuError> {
    let device = &ctx.device;
    let pipeline = Kernel::Peak.pipeline(device, None)?;
    let params = PeakParams {
        invocations,
        iterations,
        m: 1.0,
        c: 1.0,
    };
    let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some("peak params"),
        contents: bytemuck::bytes_of(&params),
        usage: wgpu::BufferUsages::UNIFORM,
    });
    let bytes = invocations as u64 * 4;
    let out = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("peak out"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("peak readback"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind_group = super::bind_group(
        device,
        &pipeline,
        "peak",
        &uniform,
        [out.as_entire_binding()],
    );
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        let (gx, gy) = workgroups(invocations as u64);
        pass.dispatch_workgroups(gx, gy, 1);
    }
    encoder.copy_buffer_to_buffer(&out, 0, &readback, 0, bytes);
    let (tx, rx) = mpsc::channel();
    encoder.map_buffer_on_submit(&readback, wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    let start = Instant::now();
    ctx.queue.submit([encoder.finish()]);
    wait_for_maps(ctx, &rx, 1)?;
    let secs = start.elapsed().as_secs_f64();
    Ok((read_f32(&readback)?, secs))
}

/// The adapter's FMA throughput in GFLOP/s: the best of a few runs sized to take a while.
pub fn measure(ctx: &GpuContext) -> Result<f64, GpuError> {
    let invocations = 1 << 16;
    // Grow the work until one run takes at least 50 ms, so that launch costs do not count.
    let mut iterations = 256;
    loop {
        let (_, secs) = run(ctx, invocations, iterations)?;
        if secs > 0.05 || iterations >= 1 << 20 {
            let best = (0..3)
                .map(|_| run(ctx, invocations, iterations).map(|r| r.1))
                .collect::<Result<Vec<_>, _>>()?;
            let secs = best.into_iter().fold(f64::INFINITY, f64::min);
            return Ok(
                (invocations as u64 * iterations as u64 * FLOPS_PER_ITERATION) as f64 / secs / 1e9,
            );
        }
        iterations *= 4;
    }
}
