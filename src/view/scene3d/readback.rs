//! Reading the offscreen colour target back to the CPU (headless renders, tests).

/// Why a read-back of the colour target failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadbackError {
    /// Waiting for the GPU failed.
    #[error("waiting for the GPU: {0}")]
    Poll(String),
    /// The buffer could not be mapped.
    #[error("mapping the read-back buffer: {0}")]
    Map(String),
}

/// Copies `texture` (RGBA8, `width`×`height`) out through a buffer, after the commands in
/// `encoder`, and returns its rows without wgpu's 256-byte row padding.
pub(super) fn read_rgba8(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    mut encoder: wgpu::CommandEncoder,
    texture: &wgpu::Texture,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, ReadbackError> {
    let row = width * 4;
    let padded =
        row.div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT) * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    let buffer = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("scene3d read-back"),
        size: padded as u64 * height as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
        mapped_at_creation: false,
    });
    encoder.copy_texture_to_buffer(
        texture.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buffer,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(padded),
                rows_per_image: None,
            },
        },
        wgpu::Extent3d {
            width,
            height,
            depth_or_array_layers: 1,
        },
    );
    queue.submit([encoder.finish()]);
    let (tx, rx) = std::sync::mpsc::channel();
    buffer.slice(..).map_async(wgpu::MapMode::Read, move |r| {
        let _ = tx.send(r);
    });
    device
        .poll(wgpu::PollType::Wait {
            submission_index: None,
            timeout: None,
        })
        .map_err(|e| ReadbackError::Poll(e.to_string()))?;
    rx.recv()
        .map_err(|_| ReadbackError::Map("the device dropped the request".into()))?
        .map_err(|e| ReadbackError::Map(e.to_string()))?;
    let mut out = Vec::with_capacity(row as usize * height as usize);
    {
        let view = buffer
            .slice(..)
            .get_mapped_range()
            .map_err(|e| ReadbackError::Map(e.to_string()))?;
        for y in 0..height as usize {
            let start = y * padded as usize;
            out.extend_from_slice(&view[start..start + row as usize]);
        }
    }
    buffer.unmap();
    Ok(out)
}
