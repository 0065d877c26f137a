//! Timestamp queries around compute passes: the per-layer GPU times of `bench --per-layer`
//! (inference) and of `examples/train_speed` (a training step), read the same way.

use super::GpuError;

/// Queries and buffers for timing a run of compute passes, two timestamps each.
pub(crate) struct Timing {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    /// Mappable copy of the resolved timestamps: map it on submit, then read
    /// [`Timing::durations_ms`].
    pub readback: wgpu::Buffer,
    passes: u32,
}

impl Timing {
    /// Queries and buffers (two: resolve and read-back) for `passes` timed passes.
    pub fn new(device: &wgpu::Device, label: &str, passes: usize) -> Timing {
        let passes = passes as u32;
        let bytes = 2 * passes as u64 * 8;
        Timing {
            queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some(label),
                ty: wgpu::QueryType::Timestamp,
                count: 2 * passes,
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
            passes,
        }
    }

    /// The timestamp writes of the `k`-th timed pass.
    pub fn writes(&self, k: usize) -> wgpu::ComputePassTimestampWrites<'_> {
        wgpu::ComputePassTimestampWrites {
            query_set: &self.queries,
            beginning_of_pass_write_index: Some(2 * k as u32),
            end_of_pass_write_index: Some(2 * k as u32 + 1),
        }
    }

    /// Resolves the timestamps and copies them where they can be mapped.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        let count = 2 * self.passes;
        encoder.resolve_query_set(&self.queries, 0..count, &self.resolve, 0);
        encoder.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, count as u64 * 8);
    }

    /// Each pass's duration (ms), from the mapped read-back buffer, which is unmapped after.
    pub fn durations_ms(&self, queue: &wgpu::Queue) -> Result<Vec<f64>, GpuError> {
        let ticks: Vec<u64> = {
            let view = self
                .readback
                .get_mapped_range(..)
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            bytemuck::pod_collect_to_vec(&view)
        };
        self.readback.unmap();
        let ns_per_tick = queue.get_timestamp_period() as f64;
        Ok(ticks
            .chunks_exact(2)
            .map(|t| t[1].saturating_sub(t[0]) as f64 * ns_per_tick / 1e6)
            .collect())
    }
}
