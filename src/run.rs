//! What both backends share about running a program: which backend runs it, and checking the
//! caller's inputs.

use crate::net::Program;

/// Where a program runs: a wgpu backend, or the CPU reference. `--backend` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Vulkan (Linux, Windows, Android; lavapipe on CPU-only Linux).
    #[value(alias = "vk")]
    Vulkan,
    /// Metal (macOS, iOS).
    #[value(alias = "mtl")]
    Metal,
    /// Direct3D 12 (Windows).
    #[value(alias = "d3d12")]
    Dx12,
    /// OpenGL / OpenGL ES (where nothing else exists).
    #[value(alias = "gles", alias = "opengl")]
    Gl,
    /// The plain-Rust CPU reference (no GPU at all).
    Cpu,
}

impl Backend {
    /// The wgpu backend set, or `None` for the CPU reference.
    pub fn wgpu_backends(self) -> Option<wgpu::Backends> {
        match self {
            Backend::Vulkan => Some(wgpu::Backends::VULKAN),
            Backend::Metal => Some(wgpu::Backends::METAL),
            Backend::Dx12 => Some(wgpu::Backends::DX12),
            Backend::Gl => Some(wgpu::Backends::GL),
            Backend::Cpu => None,
        }
    }
}

/// The inputs handed to `forward` do not fit the program.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    /// Batch size zero.
    #[error("batch size must be at least 1")]
    EmptyBatch,
    /// Wrong number of input tensors.
    #[error("the program takes {expected} input tensor(s), {found} were given")]
    Count {
        /// Inputs the program takes.
        expected: usize,
        /// Inputs given.
        found: usize,
    },
    /// An input has the wrong number of values.
    #[error(
        "input `{name}` ({shape} per sample) at batch {batch} needs {expected} values, {found} were given"
    )]
    Length {
        /// The input.
        name: String,
        /// Its per-sample shape.
        shape: String,
        /// The batch size.
        batch: usize,
        /// Values needed.
        expected: usize,
        /// Values given.
        found: usize,
    },
}

/// Checks that `inputs` hold one correctly sized slice per program input.
pub fn check_inputs(program: &Program, inputs: &[&[f32]], batch: usize) -> Result<(), InputError> {
    if batch == 0 {
        return Err(InputError::EmptyBatch);
    }
    if inputs.len() != program.inputs.len() {
        return Err(InputError::Count {
            expected: program.inputs.len(),
            found: inputs.len(),
        });
    }
    for ((name, shape), x) in program.inputs.iter().zip(inputs) {
        let expected = batch * shape.len();
        if x.len() != expected {
            return Err(InputError::Length {
                name: name.clone(),
                shape: shape.to_string(),
                batch,
                expected,
                found: x.len(),
            });
        }
    }
    Ok(())
}
