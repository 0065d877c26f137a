//! The ops a program is made of, and the shape each one produces.

use super::program::Shape;

/// A 2D convolution with an optional fused ReLU. Parameters: `{name}.weight`
/// (`cout×cin×k×k`) and `{name}.bias` (`cout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conv2d {
    /// Parameter prefix and label.
    pub name: String,
    /// Input tensor.
    pub input: String,
    /// Output tensor.
    pub output: String,
    /// Input channels.
    pub cin: usize,
    /// Output channels.
    pub cout: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub pad: usize,
    /// Apply ReLU to the output (set by lowering).
    pub relu: bool,
}

/// Batch normalization with running statistics. Parameters: `{name}.weight`, `.bias`,
/// `.running_mean`, `.running_var` (each `channels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchNorm {
    /// Parameter prefix and label.
    pub name: String,
    /// Input tensor.
    pub input: String,
    /// Output tensor.
    pub output: String,
    /// Channels.
    pub channels: usize,
}

/// A per-channel affine map `y = x·scale[c] + shift[c]`, optionally followed by ReLU: batch norm
/// in inference form where it cannot be folded into a convolution (pre-activation blocks).
/// Parameters: `{name}.scale`, `{name}.shift` (each `channels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Affine {
    /// Parameter prefix and label.
    pub name: String,
    /// Input tensor.
    pub input: String,
    /// Output tensor.
    pub output: String,
    /// Channels.
    pub channels: usize,
    /// Apply ReLU after the affine map.
    pub relu: bool,
}

/// A fully connected layer over the flattened input, with an optional fused ReLU.
/// Parameters: `{name}.weight` (`outputs×inputs`, PyTorch layout) and `{name}.bias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Linear {
    /// Parameter prefix and label.
    pub name: String,
    /// Input tensor (flattened `C·H·W`).
    pub input: String,
    /// Output tensor (`outputs×1×1`).
    pub output: String,
    /// Input features.
    pub inputs: usize,
    /// Output features.
    pub outputs: usize,
    /// Apply ReLU to the output.
    pub relu: bool,
}

/// One step of a program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// 2D convolution (+ bias, + optional ReLU).
    Conv2d(Conv2d),
    /// Batch norm with running statistics (training form only; lowered away for inference).
    BatchNorm(BatchNorm),
    /// Per-channel affine (+ optional ReLU): inference-form batch norm.
    Affine(Affine),
    /// `max(x, 0)` (training form only; fused by lowering).
    Relu {
        /// Label.
        name: String,
        /// Input tensor.
        input: String,
        /// Output tensor.
        output: String,
    },
    /// Max pooling with a square window, no padding.
    MaxPool {
        /// Label.
        name: String,
        /// Input tensor.
        input: String,
        /// Output tensor.
        output: String,
        /// Window side.
        kernel: usize,
        /// Stride.
        stride: usize,
    },
    /// Nearest-neighbour upsampling by an integer factor.
    Upsample {
        /// Label.
        name: String,
        /// Input tensor.
        input: String,
        /// Output tensor.
        output: String,
        /// Scale factor.
        factor: usize,
    },
    /// Element-wise sum of two tensors of the same shape.
    Add {
        /// Label.
        name: String,
        /// First operand.
        a: String,
        /// Second operand.
        b: String,
        /// Output tensor.
        output: String,
    },
    /// A spatial window `[y, y+h) × [x, x+w)` of every channel: one local-regression patch.
    Patch {
        /// Label.
        name: String,
        /// Input tensor.
        input: String,
        /// Output tensor (`C×h×w`).
        output: String,
        /// Top row.
        y: usize,
        /// Left column.
        x: usize,
        /// Patch height.
        h: usize,
        /// Patch width.
        w: usize,
    },
    /// Concatenation of flattened tensors along features, in order.
    Concat {
        /// Label.
        name: String,
        /// Inputs, each flattened.
        inputs: Vec<String>,
        /// Output tensor.
        output: String,
    },
    /// Fully connected layer (+ bias, + optional ReLU).
    Linear(Linear),
    /// Dropout: in training, zeroes each element with the trainer's rate and scales the rest
    /// by `1/(1 − rate)`; the identity otherwise (lowering removes it). The rate is a training
    /// option, not part of the architecture, so the op only marks where dropout goes.
    Dropout {
        /// Label.
        name: String,
        /// Input tensor.
        input: String,
        /// Output tensor.
        output: String,
    },
}

impl Op {
    /// The op's label (its parameter prefix where it has parameters).
    pub fn name(&self) -> &str {
        match self {
            Op::Conv2d(c) => &c.name,
            Op::BatchNorm(b) => &b.name,
            Op::Affine(a) => &a.name,
            Op::Linear(l) => &l.name,
            Op::Relu { name, .. }
            | Op::MaxPool { name, .. }
            | Op::Upsample { name, .. }
            | Op::Add { name, .. }
            | Op::Patch { name, .. }
            | Op::Concat { name, .. }
            | Op::Dropout { name, .. } => name,
        }
    }

    /// Short name of the op's kind, for tables.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "conv2d",
            Op::BatchNorm(_) => "batch_norm",
            Op::Affine(_) => "affine",
            Op::Relu { .. } => "relu",
            Op::MaxPool { .. } => "max_pool",
            Op::Upsample { .. } => "upsample",
            Op::Add { .. } => "add",
            Op::Patch { .. } => "patch",
            Op::Concat { .. } => "concat",
            Op::Linear(_) => "linear",
            Op::Dropout { .. } => "dropout",
        }
    }

    /// Tensors the op reads.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            Op::Conv2d(c) => vec![&c.input],
            Op::BatchNorm(b) => vec![&b.input],
            Op::Affine(a) => vec![&a.input],
            Op::Linear(l) => vec![&l.input],
            Op::Relu { input, .. }
            | Op::MaxPool { input, .. }
            | Op::Upsample { input, .. }
            | Op::Patch { input, .. }
            | Op::Dropout { input, .. } => vec![input],
            Op::Add { a, b, .. } => vec![a, b],
            Op::Concat { inputs, .. } => inputs.iter().map(String::as_str).collect(),
        }
    }

    /// The tensor the op writes.
    pub fn output(&self) -> &str {
        match self {
            Op::Conv2d(c) => &c.output,
            Op::BatchNorm(b) => &b.output,
            Op::Affine(a) => &a.output,
            Op::Linear(l) => &l.output,
            Op::Relu { output, .. }
            | Op::MaxPool { output, .. }
            | Op::Upsample { output, .. }
            | Op::Add { output, .. }
            | Op::Patch { output, .. }
            | Op::Concat { output, .. }
            | Op::Dropout { output, .. } => output,
        }
    }

    /// Mutable access to the output name (lowering renames outputs when it fuses ops).
    pub(crate) fn output_mut(&mut self) -> &mut String {
        match self {
            Op::Conv2d(c) => &mut c.output,
            Op::BatchNorm(b) => &mut b.output,
            Op::Affine(a) => &mut a.output,
            Op::Linear(l) => &mut l.output,
            Op::Relu { output, .. }
            | Op::MaxPool { output, .. }
            | Op::Upsample { output, .. }
            | Op::Add { output, .. }
            | Op::Patch { output, .. }
            | Op::Concat { output, .. }
            | Op::Dropout { output, .. } => output,
        }
    }

    /// The parameters the op needs: `(name, shape)`.
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        match self {
            Op::Conv2d(c) => vec![
                (
                    format!("{}.weight", c.name),
                    vec![c.cout, c.cin, c.kernel, c.kernel],
                ),
                (format!("{}.bias", c.name), vec![c.cout]),
            ],
            Op::BatchNorm(b) => ["weight", "bias", "running_mean", "running_var"]
                .iter()
                .map(|p| (format!("{}.{p}", b.name), vec![b.channels]))
                .collect(),
            Op::Affine(a) => vec![
                (format!("{}.scale", a.name), vec![a.channels]),
                (format!("{}.shift", a.name), vec![a.channels]),
            ],
            Op::Linear(l) => vec![
                (format!("{}.weight", l.name), vec![l.outputs, l.inputs]),
                (format!("{}.bias", l.name), vec![l.outputs]),
            ],
            _ => Vec::new(),
        }
    }
}

/// Output shape of `op` given its input shapes, or what is inconsistent.
pub(crate) fn infer_shape(op: &Op, ins: &[Shape]) -> Result<Shape, String> {
    let x = ins[0];
    match op {
        Op::Conv2d(c) => {
            if x.c != c.cin {
                return Err(format!(
                    "expects {} input channels, input has shape {x}",
                    c.cin
                ));
            }
            if c.kernel == 0 || c.stride == 0 {
                return Err("kernel and stride must be at least 1".into());
            }
            if x.h + 2 * c.pad < c.kernel || x.w + 2 * c.pad < c.kernel {
                return Err(format!(
                    "kernel {} does not fit input {x} with padding {}",
                    c.kernel, c.pad
                ));
            }
            let h = (x.h + 2 * c.pad - c.kernel) / c.stride + 1;
            let w = (x.w + 2 * c.pad - c.kernel) / c.stride + 1;
            Ok(Shape::new(c.cout, h, w))
        }
        Op::BatchNorm(BatchNorm { channels, .. }) | Op::Affine(Affine { channels, .. }) => {
            if x.c != *channels {
                return Err(format!("expects {channels} channels, input has shape {x}"));
            }
            Ok(x)
        }
        Op::Relu { .. } | Op::Dropout { .. } => Ok(x),
        Op::MaxPool { kernel, stride, .. } => {
            if *kernel == 0 || *stride == 0 || x.h < *kernel || x.w < *kernel {
                return Err(format!(
                    "window {kernel} stride {stride} does not fit input {x}"
                ));
            }
            Ok(Shape::new(
                x.c,
                (x.h - kernel) / stride + 1,
                (x.w - kernel) / stride + 1,
            ))
        }
        Op::Upsample { factor, .. } => {
            if *factor == 0 {
                return Err("factor must be at least 1".into());
            }
            Ok(Shape::new(x.c, x.h * factor, x.w * factor))
        }
        Op::Add { .. } => {
            if ins[0] != ins[1] {
                return Err(format!(
                    "operands differ in shape: {} and {}",
                    ins[0], ins[1]
                ));
            }
            Ok(x)
        }
        Op::Patch { y, x: x0, h, w, .. } => {
            if *h == 0 || *w == 0 || y + h > x.h || x0 + w > x.w {
                return Err(format!(
                    "window {h}×{w} at ({y}, {x0}) is outside input {x}"
                ));
            }
            Ok(Shape::new(x.c, *h, *w))
        }
        Op::Concat { .. } => Ok(Shape::flat(ins.iter().map(Shape::len).sum())),
        Op::Linear(l) => {
            if x.len() != l.inputs {
                return Err(format!(
                    "expects {} input features, input {x} has {}",
                    l.inputs,
                    x.len()
                ));
            }
            Ok(Shape::flat(l.outputs))
        }
    }
}
