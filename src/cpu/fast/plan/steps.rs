//! The steps a [`Plan`](super::Plan) runs: convolutions and fully connected layers with their
//! weights in the form their kernels read, and the memory-bound steps between them.

use super::super::conv::blocked::Packed;
use crate::net::Shape;

/// How a convolution is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvMethod {
    /// 1×1, stride 1, no padding: one GEMM over the input as it is.
    Pointwise,
    /// Stride 1 with enough input channels: one GEMM per tap over the zero-padded input
    /// ([`Step::Pad`], or padded by the pointwise convolution that makes it:
    /// [`ConvStep::pad_output`]), each reading it shifted by the tap's offset, so nothing is
    /// unfolded.
    /// Weights are `k·k × cout × cin` (tap-major).
    Shifted,
    /// 3×3, stride 1, padding 1 on planes wide enough, with AVX-512: Winograd's F(2×2, 3×3)
    /// over the zero-padded input, as [`Shifted`](Self::Shifted) reads it (see
    /// `conv::winograd`). Weights are [`ConvWeights::Winograd`].
    Winograd,
    /// Anything else (strides, few channels): im2col of each tile, then one GEMM.
    /// Weights are `cout × cin·k·k`.
    Im2col,
    /// Stride 1 with few input taps (the 1-channel stem): each output row a sum of shifted rows
    /// of the zero-padded input, with a following 2×2 max pooling fused. Weights are
    /// `cout × cin·k·k`.
    Direct,
}

/// A convolution's geometry and weights (batch norm folded).
#[derive(Debug, Clone)]
pub struct ConvStep {
    /// How it is computed.
    pub method: ConvMethod,
    /// Input slot (`Cnhw`; zero-padded by `pad` on every side for [`ConvMethod::Shifted`]).
    pub input: usize,
    /// Output slot (`Cnhw`).
    pub output: usize,
    /// A slot added to the result before ReLU: the other operand of a fused sum.
    pub accumulate: Option<usize>,
    /// Input shape.
    pub from: Shape,
    /// Output shape.
    pub to: Shape,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
    /// ReLU after bias (and the fused sum).
    pub relu: bool,
    /// A 2×2, stride-2 max pooling fused after the ReLU ([`ConvMethod::Direct`] and
    /// [`ConvMethod::Pointwise`]): the output slot holds the pooled tensor.
    pub pool: bool,
    /// Zero padding written around the output ([`ConvMethod::Pointwise`] without a fused sum
    /// or pooling, when a shifted convolution alone reads it): the output slot holds the padded tensor the
    /// shifted one reads, so no [`Step::Pad`] copies it.
    pub pad_output: usize,
    /// The weights, in the one form the step's kernel reads.
    pub weights: ConvWeights,
    /// `cout`.
    pub bias: Vec<f32>,
}

/// A convolution's weights (batch norm folded), kept once, in the form its kernel reads.
#[derive(Debug, Clone)]
pub enum ConvWeights {
    /// For the `gemm` crate's and the portable paths: `cout × cin·k·k`, except tap-major
    /// `k·k × cout × cin` for [`ConvMethod::Shifted`].
    Plain(Vec<f32>),
    /// Packed for the register-blocked kernel, where the plan uses it
    /// ([`ConvKernel::packs`](crate::cpu::fast::conv::ConvKernel::packs)).
    Packed(Packed),
    /// Transformed for [`ConvMethod::Winograd`] and packed for the register-blocked kernel: one
    /// `cout × cin` matrix for each of the 16 elements of a transformed tile.
    Winograd(Vec<Packed>),
}

impl ConvWeights {
    /// The packed weights, if these are.
    pub fn packed(&self) -> Option<&Packed> {
        match self {
            ConvWeights::Packed(p) => Some(p),
            ConvWeights::Plain(_) | ConvWeights::Winograd(_) => None,
        }
    }

    /// The plain weights.
    ///
    /// # Panics
    /// If they are packed: a path that reads plain weights was given a step the plan packed
    /// for the blocked kernel, which the paths check first.
    pub fn plain(&self) -> &[f32] {
        match self {
            ConvWeights::Plain(w) => w,
            ConvWeights::Packed(_) | ConvWeights::Winograd(_) => {
                panic!("packed weights read as plain ones")
            }
        }
    }
}

impl ConvStep {
    /// The shape of what the step writes (pooled when a pooling is fused, padded when a
    /// padding is).
    pub fn output_shape(&self) -> Shape {
        let p = self.pad_output;
        if self.pool {
            Shape::new(self.to.c, self.to.h / 2, self.to.w / 2)
        } else {
            Shape::new(self.to.c, self.to.h + 2 * p, self.to.w + 2 * p)
        }
    }
}

/// A fully connected layer: `y = relu?(W·x + b)` per sample.
#[derive(Debug, Clone)]
pub struct LinearStep {
    /// Input slot (`Nchw`).
    pub input: usize,
    /// Output slot (`Nchw`).
    pub output: usize,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// ReLU after bias.
    pub relu: bool,
    /// `outputs × inputs`, row-major (PyTorch's layout), rows [`LinearStep::row_stride`] values
    /// apart.
    pub weight: Vec<f32>,
    /// The distance between rows of `weight`: `inputs`, or a little more where `inputs` values
    /// are a multiple of 4 KB (see `padded_row_stride` in this module).
    pub row_stride: usize,
    /// The same as f16, where that is exact and this CPU converts f16 in hardware: read instead
    /// on a few samples, where the layer waits on memory (see [`linear::half`]).
    ///
    /// [`linear::half`]: crate::cpu::fast::linear::half
    pub weight_f16: Option<Vec<::half::f16>>,
    /// `outputs`.
    pub bias: Vec<f32>,
}

/// One step of a compiled program.
#[derive(Debug, Clone)]
pub enum Step {
    /// Convolution (+ bias, + fused sum, + ReLU).
    Conv(ConvStep),
    /// Fully connected layer (+ bias, + ReLU).
    Linear(LinearStep),
    /// `y = relu?(x·scale[c] + shift[c])`, in the input's layout.
    Affine {
        /// Input slot.
        input: usize,
        /// Output slot (same layout as the input).
        output: usize,
        /// Per-channel scale.
        scale: Vec<f32>,
        /// Per-channel shift.
        shift: Vec<f32>,
        /// ReLU after the map.
        relu: bool,
    },
    /// Max pooling, plane by plane (either layout).
    MaxPool {
        /// Input slot.
        input: usize,
        /// Output slot.
        output: usize,
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Nearest-neighbour upsampling, plane by plane.
    Upsample {
        /// Input slot.
        input: usize,
        /// Output slot.
        output: usize,
        /// Scale factor.
        factor: usize,
    },
    /// `y = a + upsample(b, factor)` (factor 1: a plain sum); `a` and `b` in the same layout.
    Add {
        /// Full-size operand.
        a: usize,
        /// Operand upsampled by `factor` first.
        b: usize,
        /// Output slot.
        output: usize,
        /// Upsampling factor of `b` (1 for none).
        factor: usize,
    },
    /// The window `[y, y+h) × [x, x+w)` of every channel, from `Cnhw` to `Nchw`.
    Patch {
        /// Input slot (`Cnhw`).
        input: usize,
        /// Output slot (`Nchw`).
        output: usize,
        /// Top row.
        y: usize,
        /// Left column.
        x: usize,
    },
    /// Per-sample concatenation of `Nchw` tensors.
    Concat {
        /// Input slots.
        inputs: Vec<usize>,
        /// Output slot.
        output: usize,
    },
    /// The same `Cnhw` tensor with `pad` zeros around every plane.
    Pad {
        /// Input slot.
        input: usize,
        /// Output slot (`C×(H+2·pad)×(W+2·pad)`).
        output: usize,
        /// Zeros on each side.
        pad: usize,
    },
    /// The same tensor in the other layout.
    Relayout {
        /// Input slot.
        input: usize,
        /// Output slot.
        output: usize,
    },
}

impl Step {
    /// Slots this step reads.
    pub fn reads(&self) -> Vec<usize> {
        match self {
            Step::Conv(c) => std::iter::once(c.input).chain(c.accumulate).collect(),
            Step::Linear(l) => vec![l.input],
            Step::Add { a, b, .. } => vec![*a, *b],
            Step::Concat { inputs, .. } => inputs.clone(),
            Step::Affine { input, .. }
            | Step::MaxPool { input, .. }
            | Step::Upsample { input, .. }
            | Step::Patch { input, .. }
            | Step::Pad { input, .. }
            | Step::Relayout { input, .. } => vec![*input],
        }
    }

    /// The slot this step writes.
    pub fn writes(&self) -> usize {
        match self {
            Step::Conv(c) => c.output,
            Step::Linear(l) => l.output,
            Step::Affine { output, .. }
            | Step::MaxPool { output, .. }
            | Step::Upsample { output, .. }
            | Step::Add { output, .. }
            | Step::Patch { output, .. }
            | Step::Concat { output, .. }
            | Step::Pad { output, .. }
            | Step::Relayout { output, .. } => *output,
        }
    }

    /// Floating-point operations of the step at `batch` (multiply-adds count two).
    pub fn flops(&self, batch: usize) -> u64 {
        let flops = match self {
            Step::Conv(c) => 2 * c.to.len() * c.from.c * c.kernel * c.kernel,
            Step::Linear(l) => 2 * l.inputs * l.outputs,
            _ => 0,
        };
        (flops * batch) as u64
    }

    /// Short name of the kernel, for per-layer tables.
    pub fn kernel(&self) -> &'static str {
        match self {
            Step::Conv(c) => match (c.method, c.accumulate.is_some()) {
                (ConvMethod::Pointwise, false) if c.pool => "conv1x1+pool",
                (ConvMethod::Pointwise, true) if c.pool => "conv1x1+add+pool",
                (ConvMethod::Pointwise, false) if c.pad_output > 0 => "conv1x1+pad",
                (ConvMethod::Pointwise, false) => "conv1x1",
                (ConvMethod::Pointwise, true) => "conv1x1+add",
                (ConvMethod::Shifted, false) => "conv_shifted",
                (ConvMethod::Shifted, true) => "conv_shifted+add",
                (ConvMethod::Winograd, false) => "conv_winograd",
                (ConvMethod::Winograd, true) => "conv_winograd+add",
                (ConvMethod::Im2col, false) => "conv_im2col",
                (ConvMethod::Im2col, true) => "conv_im2col+add",
                (ConvMethod::Direct, _) if c.pool => "conv_direct+pool",
                (ConvMethod::Direct, _) => "conv_direct",
            },
            Step::Linear(_) => "linear",
            Step::Affine { .. } => "affine",
            Step::MaxPool { .. } => "max_pool",
            Step::Upsample { .. } => "upsample",
            Step::Add { factor: 1, .. } => "add",
            Step::Add { .. } => "add_upsampled",
            Step::Patch { .. } => "patch",
            Step::Concat { .. } => "concat",
            Step::Pad { .. } => "pad",
            Step::Relayout { .. } => "relayout",
        }
    }
}

/// The row stride [`LinearStep::weight`] is stored with for `inputs` features: `inputs`, or 16
/// more where rows `inputs` values apart would be a multiple of 4 KB apart. There the `gemm`
/// crate reads a block of rows that all fall in the same few cache sets: a 1024 → 1024 layer
/// at batch 32, a thread's 512 rows, took 1.82–1.96 ms against 0.54–0.63 with padded rows, and
/// a 2048 → 256 one 0.89–0.94 against 0.26–0.28 (one core of an AMD EPYC Zen 4).
pub fn padded_row_stride(inputs: usize) -> usize {
    if inputs.is_multiple_of(1024) {
        inputs + 16
    } else {
        inputs
    }
}
