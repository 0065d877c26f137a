//! The network as data: a short program of ops over named tensors.
//!
//! [`Program::lrhn`] writes the architecture once, in its *training form* (convolution, batch
//! norm and ReLU as separate ops, batch-norm statistics as parameters). Both backends execute
//! programs; for inference the program is first lowered by [`crate::net::lower`], which folds
//! batch norm into the preceding convolution and fuses ReLU into the op before it.
//!
//! Tensors are per sample: every activation has a [`Shape`] `C×H×W` and the batch is implicit
//! (the leading dimension of every buffer). Feature vectors are `F×1×1`.

use std::collections::BTreeMap;

use super::config::NetConfig;

/// Per-sample shape of an activation, `C×H×W` (feature vectors are `F×1×1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Channels (or features).
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Shape {
    /// A `C×H×W` shape.
    pub const fn new(c: usize, h: usize, w: usize) -> Self {
        Self { c, h, w }
    }

    /// A feature vector of `f` elements.
    pub const fn flat(f: usize) -> Self {
        Self { c: f, h: 1, w: 1 }
    }

    /// Elements per sample.
    pub const fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// Whether the shape holds no elements.
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.h == 1 && self.w == 1 {
            write!(f, "{}", self.c)
        } else {
            write!(f, "{}×{}×{}", self.c, self.h, self.w)
        }
    }
}

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
            | Op::Concat { name, .. } => name,
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
            | Op::Patch { input, .. } => vec![input],
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
            | Op::Concat { output, .. } => output,
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
            | Op::Concat { output, .. } => output,
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

/// Why a program is malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProgramError {
    /// An op reads a tensor nobody wrote.
    #[error("op `{op}` reads `{tensor}`, which is neither an input nor written by an earlier op")]
    Undefined {
        /// The op.
        op: String,
        /// The missing tensor.
        tensor: String,
    },
    /// Two ops write the same tensor.
    #[error("op `{op}` writes `{tensor}`, which already exists")]
    Redefined {
        /// The op.
        op: String,
        /// The tensor.
        tensor: String,
    },
    /// An op's declared sizes disagree with its input's shape.
    #[error("op `{op}`: {what}")]
    Shape {
        /// The op.
        op: String,
        /// What disagreed.
        what: String,
    },
}

/// A straight-line program over named tensors: the network definition both backends execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    /// Input tensors with their per-sample shapes, in the order `forward` takes them.
    pub inputs: Vec<(String, Shape)>,
    /// The ops, in execution order.
    pub ops: Vec<Op>,
    /// The tensor returned by `forward`.
    pub output: String,
    /// Every tensor's per-sample shape (inputs included).
    pub shapes: BTreeMap<String, Shape>,
}

impl Program {
    /// Builds a program from ops, inferring and checking every shape.
    pub fn new(
        inputs: Vec<(String, Shape)>,
        ops: Vec<Op>,
        output: &str,
    ) -> Result<Self, ProgramError> {
        let mut shapes: BTreeMap<String, Shape> = inputs.iter().cloned().collect();
        for op in &ops {
            let mut ins = Vec::new();
            for t in op.inputs() {
                match shapes.get(t) {
                    Some(s) => ins.push(*s),
                    None => {
                        return Err(ProgramError::Undefined {
                            op: op.name().into(),
                            tensor: t.into(),
                        });
                    }
                }
            }
            let out = infer_shape(op, &ins).map_err(|what| ProgramError::Shape {
                op: op.name().into(),
                what,
            })?;
            if shapes.insert(op.output().to_string(), out).is_some() {
                return Err(ProgramError::Redefined {
                    op: op.name().into(),
                    tensor: op.output().into(),
                });
            }
        }
        if !shapes.contains_key(output) {
            return Err(ProgramError::Undefined {
                op: "<output>".into(),
                tensor: output.into(),
            });
        }
        Ok(Self {
            inputs,
            ops,
            output: output.to_string(),
            shapes,
        })
    }

    /// The LRHN in training form, built from `config` (which must be valid).
    pub fn lrhn(config: &NetConfig) -> Result<Self, ProgramError> {
        let mut b = Builder::default();
        let s = config.input_size as usize;
        let input = "input".to_string();
        b.shapes.insert(input.clone(), Shape::new(1, s, s));

        let x = b.conv("stem.conv", &input, config.stem_channels as usize, 3, 1);
        let x = b.bn("stem.bn", &x);
        let x = b.relu("stem.relu", &x);
        let x = b.pool("stem.pool", &x);
        let x = b.residual("res1", &x, config.res1_channels as usize);
        let x = b.pool("res1.pool", &x);
        let x = b.residual("res2", &x, config.features as usize);
        let x = b.hourglass("hourglass", &x, config.hourglass_order);
        let x = b.bn("head.bn", &x);
        let x = b.relu("head.relu", &x);
        let x = b.pool("head.pool", &x);
        let x = b.conv("head.conv", &x, config.head_channels as usize, 1, 0);
        let x = b.bn("head.conv_bn", &x);
        let x = b.relu("head.conv_relu", &x);

        let grid = config.patch_grid as usize;
        let p = config.patch_size() as usize;
        let mut locals = Vec::new();
        for i in 0..grid {
            for j in 0..grid {
                let k = i * grid + j;
                let patch = format!("local.{k}.patch");
                b.push(Op::Patch {
                    name: patch.clone(),
                    input: x.clone(),
                    output: patch.clone(),
                    y: i * p,
                    x: j * p,
                    h: p,
                    w: p,
                });
                let y = b.linear(
                    &format!("local.{k}.fc"),
                    &patch,
                    config.local_features as usize,
                );
                locals.push(b.relu(&format!("local.{k}.relu"), &y));
            }
        }
        b.push(Op::Concat {
            name: "local.concat".into(),
            inputs: locals,
            output: "local.concat".into(),
        });
        let x = b.linear(
            "global.fc1",
            "local.concat",
            config.global_features as usize,
        );
        let x = b.relu("global.relu", &x);
        let out = b.linear("global.fc2", &x, config.outputs() as usize);
        Program::new(vec![(input, Shape::new(1, s, s))], b.ops, &out)
    }

    /// Every parameter the program needs, `(name, shape)`, in op order.
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.ops.iter().flat_map(Op::params).collect()
    }

    /// Per-sample shape of a tensor.
    pub fn shape(&self, tensor: &str) -> Shape {
        self.shapes[tensor]
    }

    /// Shape of the output.
    pub fn output_shape(&self) -> Shape {
        self.shapes[&self.output]
    }

    /// Multiply-accumulates per sample of one op (element-wise ops count as 0).
    pub fn op_macs(&self, op: &Op) -> u64 {
        match op {
            Op::Conv2d(c) => {
                let out = self.shapes[&c.output];
                (out.len() * c.cin * c.kernel * c.kernel) as u64
            }
            Op::Linear(l) => (l.inputs * l.outputs) as u64,
            _ => 0,
        }
    }

    /// Multiply-accumulates per sample of the whole program.
    pub fn macs(&self) -> u64 {
        self.ops.iter().map(|op| self.op_macs(op)).sum()
    }
}

/// Output shape of `op` given its input shapes, or what is inconsistent.
fn infer_shape(op: &Op, ins: &[Shape]) -> Result<Shape, String> {
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
        Op::Relu { .. } => Ok(x),
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

/// Appends ops while tracking shapes, so the architecture reads like the table in DESIGN.md.
#[derive(Default)]
struct Builder {
    ops: Vec<Op>,
    shapes: BTreeMap<String, Shape>,
}

impl Builder {
    fn push(&mut self, op: Op) {
        let ins: Vec<Shape> = op.inputs().iter().map(|t| self.shapes[*t]).collect();
        let out = infer_shape(&op, &ins).expect("the LRHN builder only emits consistent ops");
        self.shapes.insert(op.output().to_string(), out);
        self.ops.push(op);
    }

    fn conv(&mut self, name: &str, x: &str, cout: usize, kernel: usize, pad: usize) -> String {
        let cin = self.shapes[x].c;
        self.push(Op::Conv2d(Conv2d {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            cin,
            cout,
            kernel,
            stride: 1,
            pad,
            relu: false,
        }));
        name.into()
    }

    fn bn(&mut self, name: &str, x: &str) -> String {
        let channels = self.shapes[x].c;
        self.push(Op::BatchNorm(BatchNorm {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            channels,
        }));
        name.into()
    }

    fn relu(&mut self, name: &str, x: &str) -> String {
        self.push(Op::Relu {
            name: name.into(),
            input: x.into(),
            output: name.into(),
        });
        name.into()
    }

    fn pool(&mut self, name: &str, x: &str) -> String {
        self.push(Op::MaxPool {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            kernel: 2,
            stride: 2,
        });
        name.into()
    }

    fn linear(&mut self, name: &str, x: &str, outputs: usize) -> String {
        let inputs = self.shapes[x].len();
        self.push(Op::Linear(Linear {
            name: name.into(),
            input: x.into(),
            output: name.into(),
            inputs,
            outputs,
            relu: false,
        }));
        name.into()
    }

    /// Newell's pre-activation bottleneck: BN-ReLU-conv1×1(out/2), BN-ReLU-conv3×3(out/2),
    /// BN-ReLU-conv1×1(out), plus the input (through a 1×1 convolution when widths differ).
    fn residual(&mut self, p: &str, x: &str, cout: usize) -> String {
        let cin = self.shapes[x].c;
        let mid = cout / 2;
        let y = self.bn(&format!("{p}.bn1"), x);
        let y = self.relu(&format!("{p}.relu1"), &y);
        let y = self.conv(&format!("{p}.conv1"), &y, mid, 1, 0);
        let y = self.bn(&format!("{p}.bn2"), &y);
        let y = self.relu(&format!("{p}.relu2"), &y);
        let y = self.conv(&format!("{p}.conv2"), &y, mid, 3, 1);
        let y = self.bn(&format!("{p}.bn3"), &y);
        let y = self.relu(&format!("{p}.relu3"), &y);
        let y = self.conv(&format!("{p}.conv3"), &y, cout, 1, 0);
        let skip = if cin == cout {
            x.to_string()
        } else {
            self.conv(&format!("{p}.skip"), x, cout, 1, 0)
        };
        let out = format!("{p}.out");
        self.push(Op::Add {
            name: out.clone(),
            a: y,
            b: skip,
            output: out.clone(),
        });
        out
    }

    /// Hourglass of order `n`: `up = res(x)`; `low = res(pool(x))`, then a hourglass of order
    /// `n − 1` (or one more residual at the bottom), then `res`; `out = up + upsample2(low)`.
    fn hourglass(&mut self, p: &str, x: &str, n: u32) -> String {
        let c = self.shapes[x].c;
        let up = self.residual(&format!("{p}.up"), x, c);
        let pooled = self.pool(&format!("{p}.pool"), x);
        let down = self.residual(&format!("{p}.down"), &pooled, c);
        let low = if n > 1 {
            self.hourglass(&format!("{p}.low"), &down, n - 1)
        } else {
            self.residual(&format!("{p}.res"), &down, c)
        };
        let back = self.residual(&format!("{p}.back"), &low, c);
        let upsampled = format!("{p}.upsample");
        self.push(Op::Upsample {
            name: upsampled.clone(),
            input: back,
            output: upsampled.clone(),
            factor: 2,
        });
        let out = format!("{p}.out");
        self.push(Op::Add {
            name: out.clone(),
            a: up,
            b: upsampled,
            output: out.clone(),
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_network_matches_the_design_table() {
        let p = Program::lrhn(&NetConfig::default()).unwrap();
        assert_eq!(p.shape("stem.pool"), Shape::new(32, 64, 64));
        assert_eq!(p.shape("res1.pool"), Shape::new(64, 32, 32));
        assert_eq!(p.shape("res2.out"), Shape::new(128, 32, 32));
        assert_eq!(p.shape("hourglass.out"), Shape::new(128, 32, 32));
        assert_eq!(p.shape("head.conv_relu"), Shape::new(32, 16, 16));
        assert_eq!(p.shape("local.3.patch"), Shape::new(32, 8, 8));
        assert_eq!(p.shape("local.concat"), Shape::flat(1024));
        assert_eq!(p.output_shape(), Shape::flat(105));
        let params: usize = p
            .params()
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert!(
            (3_800_000..4_000_000).contains(&params),
            "{params} parameters"
        );
        let gmac = p.macs() as f64 / 1e9;
        assert!((0.23..0.24).contains(&gmac), "{gmac} GMAC");
        assert!(
            p.params()
                .iter()
                .any(|(n, _)| n == "hourglass.low.low.res.bn1.running_var")
        );
        assert!(p.params().iter().any(|(n, _)| n == "local.2.fc.weight"));
    }

    #[test]
    fn malformed_programs_are_rejected() {
        let inputs = vec![("x".to_string(), Shape::new(3, 4, 4))];
        let add = Op::Add {
            name: "a".into(),
            a: "x".into(),
            b: "y".into(),
            output: "z".into(),
        };
        assert!(matches!(
            Program::new(inputs.clone(), vec![add], "z"),
            Err(ProgramError::Undefined { .. })
        ));
        let lin = Op::Linear(Linear {
            name: "l".into(),
            input: "x".into(),
            output: "l".into(),
            inputs: 47,
            outputs: 2,
            relu: false,
        });
        let e = Program::new(inputs.clone(), vec![lin], "l").unwrap_err();
        assert!(e.to_string().contains("expects 47 input features"), "{e}");
        let relu = |o: &str| Op::Relu {
            name: o.into(),
            input: "x".into(),
            output: o.into(),
        };
        assert!(matches!(
            Program::new(inputs, vec![relu("r"), relu("r")], "r"),
            Err(ProgramError::Redefined { .. })
        ));
    }
}
