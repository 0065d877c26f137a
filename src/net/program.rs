//! The network as data: a short program of ops over named tensors.
//!
//! [`Program::lrhn`] writes the architecture once, in its *training form* (convolution, batch
//! norm and ReLU as separate ops, batch-norm statistics as parameters). Both backends execute
//! programs; for inference the program is first lowered by [`crate::net::lower()`], which folds
//! batch norm into the preceding convolution and fuses ReLU into the op before it.
//!
//! Tensors are per sample: every activation has a [`Shape`] `C×H×W` and the batch is implicit
//! (the leading dimension of every buffer). Feature vectors are `F×1×1`.

use std::collections::BTreeMap;

use super::op::infer_shape;
pub use super::op::{Affine, BatchNorm, Conv2d, Linear, Op};

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

    /// Every parameter the program needs, `(name, shape)`, in op order.
    pub fn params(&self) -> Vec<(String, Vec<usize>)> {
        self.ops.iter().flat_map(Op::params).collect()
    }

    /// Per op, how many dropout ops come before it: a dropout op's ordinal, which keys its
    /// mask (the same on both backends, forward and backward).
    pub fn dropout_ordinals(&self) -> Vec<u32> {
        let mut seen = 0;
        self.ops
            .iter()
            .map(|op| {
                let ordinal = seen;
                seen += u32::from(matches!(op, Op::Dropout { .. }));
                ordinal
            })
            .collect()
    }

    /// Whether `tensor` is one of the program's inputs (data: backward gives it no gradient).
    pub fn is_input(&self, tensor: &str) -> bool {
        self.inputs.iter().any(|(n, _)| n == tensor)
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

#[cfg(test)]
mod tests {
    use super::*;

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
