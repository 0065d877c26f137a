//! Export to ONNX: any hourhand network as a standard graph (opset 17, batch norm folded into
//! the convolutions, pre-activation batch norms as `Mul` + `Add`, a symbolic batch dimension)
//! that ONNX Runtime, tract and other ONNX tools load. `hourhand export --onnx` writes it, and
//! `scripts/bench-vs-onnxruntime.sh` runs ONNX Runtime on exactly our network and weights.
//!
//! The graph is written from the lowered inference program, op by op, so it computes what
//! [`crate::cpu::CpuNet`] computes up to rounding (checked by `tests/onnx.rs` through tract).

mod proto;

use std::collections::HashMap;

use prost::Message;

use crate::net::{Network, Op};
use proto::{
    AttributeProto, AttributeType, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto,
};

/// The ONNX operator set the export is written against.
pub const OPSET: i64 = 17;
/// The IR version that goes with [`OPSET`].
const IR_VERSION: i64 = 8;
/// Name of the graph input (the depth crops, `N × C × S × S`).
pub const INPUT: &str = "depth";
/// Name of the graph output (`N × outputs`).
pub const OUTPUT: &str = "joints";
/// Name of the symbolic batch dimension.
pub const BATCH: &str = "batch";

/// Why a network cannot be exported.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    /// The program still holds a training-form op (it was not lowered).
    #[error("op `{0}` is training-form ({1}); export the lowered inference network")]
    TrainingOp(String, &'static str),
    /// The program takes more than one input.
    #[error("the network takes {0} inputs; the export writes networks of one depth input")]
    Inputs(usize),
    /// A parameter the program names is missing.
    #[error("the network has no parameter `{0}`")]
    MissingParam(String),
}

/// The network as a serialized ONNX model.
pub fn export(net: &Network) -> Result<Vec<u8>, ExportError> {
    Ok(model(net)?.encode_to_vec())
}

fn model(net: &Network) -> Result<ModelProto, ExportError> {
    let program = &net.program;
    let [(input, input_shape)] = program.inputs.as_slice() else {
        return Err(ExportError::Inputs(program.inputs.len()));
    };
    let mut g = Graph {
        net,
        nodes: Vec::new(),
        initializers: Vec::new(),
        names: HashMap::new(),
        flat: HashMap::new(),
    };
    g.names.insert(input.clone(), INPUT.to_string());
    g.flat.insert(input.clone(), false);
    for op in &program.ops {
        g.op(op)?;
    }
    let last = g.value(&program.output, true);
    g.node("Identity", "output", vec![last], OUTPUT, vec![]);
    let out_len = program.output_shape().len();
    let graph = GraphProto {
        node: g.nodes,
        name: "hourhand".into(),
        initializer: g.initializers,
        input: vec![value_info(
            INPUT,
            &[
                None,
                Some(input_shape.c),
                Some(input_shape.h),
                Some(input_shape.w),
            ],
        )],
        output: vec![value_info(OUTPUT, &[None, Some(out_len)])],
    };
    Ok(ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "hourhand".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!(
            "Local regression based hourglass network (hourhand), config {}",
            serde_json::to_string(&net.config).unwrap_or_default()
        ),
        graph: Some(graph),
    })
}

/// A float graph value with a symbolic batch dimension and the given other dimensions.
fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| match d {
            Some(v) => Dimension {
                dim_value: Some(*v as i64),
                dim_param: None,
            },
            None => Dimension {
                dim_value: None,
                dim_param: Some(BATCH.into()),
            },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: proto::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

fn ints(name: &str, values: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: values.iter().map(|&v| v as i64).collect(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

fn string(name: &str, value: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

struct Graph<'a> {
    net: &'a Network,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// The ONNX value holding each program tensor.
    names: HashMap<String, String>,
    /// Whether that value is `N × features` (else `N × C × H × W`).
    flat: HashMap<String, bool>,
}

impl Graph<'_> {
    fn param(&self, name: String) -> Result<&[f32], ExportError> {
        self.net
            .params
            .get(&name)
            .map(|t| t.data.as_slice())
            .ok_or(ExportError::MissingParam(name))
    }

    fn float(&mut self, name: &str, dims: &[usize], data: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: proto::FLOAT,
            name: name.into(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.into()
    }

    fn int64(&mut self, name: &str, data: &[usize]) -> String {
        self.initializers.push(TensorProto {
            dims: vec![data.len() as i64],
            data_type: proto::INT64,
            name: name.into(),
            int64_data: data.iter().map(|&v| v as i64).collect(),
            ..Default::default()
        });
        name.into()
    }

    fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: Vec<String>,
        output: &str,
        attribute: Vec<AttributeProto>,
    ) {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![output.into()],
            name: name.into(),
            op_type: op.into(),
            attribute,
        });
    }

    /// The ONNX value of program tensor `t`, flattened to `N × features` when `flat` is asked.
    fn value(&mut self, t: &str, flat: bool) -> String {
        let name = self.names[t].clone();
        if !flat || self.flat[t] {
            return name;
        }
        let flattened = format!("{t}.flat");
        if !self.names.contains_key(&flattened) {
            self.node(
                "Flatten",
                &flattened,
                vec![name],
                &flattened,
                vec![int("axis", 1)],
            );
            self.names.insert(flattened.clone(), flattened.clone());
            self.flat.insert(flattened.clone(), true);
        }
        flattened
    }

    /// Records that op output `t` is ONNX value `value`, adding a ReLU after it when asked.
    fn define(&mut self, t: &str, value: String, flat: bool, relu: bool) {
        let value = if relu {
            let r = format!("{t}.relu");
            self.node("Relu", &r, vec![value], &r, vec![]);
            r
        } else {
            value
        };
        self.names.insert(t.into(), value);
        self.flat.insert(t.into(), flat);
    }

    fn op(&mut self, op: &Op) -> Result<(), ExportError> {
        match op {
            Op::Conv2d(c) => {
                let x = self.value(&c.input, false);
                let w = self.param(format!("{}.weight", c.name))?.to_vec();
                let b = self.param(format!("{}.bias", c.name))?.to_vec();
                let w = self.float(
                    &format!("{}.weight", c.name),
                    &[c.cout, c.cin, c.kernel, c.kernel],
                    &w,
                );
                let b = self.float(&format!("{}.bias", c.name), &[c.cout], &b);
                let attrs = vec![
                    ints("kernel_shape", &[c.kernel, c.kernel]),
                    ints("strides", &[c.stride, c.stride]),
                    ints("pads", &[c.pad; 4]),
                ];
                self.node("Conv", &c.name, vec![x, w, b], &c.output, attrs);
                self.define(&c.output, c.output.clone(), false, c.relu);
            }
            Op::Linear(l) => {
                let x = self.value(&l.input, true);
                let w = self.param(format!("{}.weight", l.name))?.to_vec();
                let b = self.param(format!("{}.bias", l.name))?.to_vec();
                let w = self.float(&format!("{}.weight", l.name), &[l.outputs, l.inputs], &w);
                let b = self.float(&format!("{}.bias", l.name), &[l.outputs], &b);
                self.node(
                    "Gemm",
                    &l.name,
                    vec![x, w, b],
                    &l.output,
                    vec![int("transB", 1)],
                );
                self.define(&l.output, l.output.clone(), true, l.relu);
            }
            Op::Affine(a) => {
                let flat = self.flat[&a.input];
                let x = self.value(&a.input, flat);
                let dims: Vec<usize> = if flat {
                    vec![a.channels]
                } else {
                    vec![a.channels, 1, 1]
                };
                let scale = self.param(format!("{}.scale", a.name))?.to_vec();
                let shift = self.param(format!("{}.shift", a.name))?.to_vec();
                let s = self.float(&format!("{}.scale", a.name), &dims, &scale);
                let t = self.float(&format!("{}.shift", a.name), &dims, &shift);
                let scaled = format!("{}.scaled", a.output);
                self.node("Mul", &scaled, vec![x, s], &scaled, vec![]);
                self.node("Add", &a.output, vec![scaled, t], &a.output, vec![]);
                self.define(&a.output, a.output.clone(), flat, a.relu);
            }
            Op::MaxPool {
                name,
                input,
                output,
                kernel,
                stride,
            } => {
                let x = self.value(input, false);
                let attrs = vec![
                    ints("kernel_shape", &[*kernel; 2]),
                    ints("strides", &[*stride; 2]),
                ];
                self.node("MaxPool", name, vec![x], output, attrs);
                self.define(output, output.clone(), false, false);
            }
            Op::Upsample {
                name,
                input,
                output,
                factor,
            } => {
                let x = self.value(input, false);
                let f = *factor as f32;
                let scales = self.float(&format!("{name}.scales"), &[4], &[1.0, 1.0, f, f]);
                // `asymmetric` + `floor`: output pixel i reads input pixel ⌊i / factor⌋.
                let attrs = vec![
                    string("mode", "nearest"),
                    string("coordinate_transformation_mode", "asymmetric"),
                    string("nearest_mode", "floor"),
                ];
                self.node(
                    "Resize",
                    name,
                    vec![x, String::new(), scales],
                    output,
                    attrs,
                );
                self.define(output, output.clone(), false, false);
            }
            Op::Add { name, a, b, output } => {
                let flat = self.flat[a] && self.flat[b];
                let (a, b) = (self.value(a, flat), self.value(b, flat));
                self.node("Add", name, vec![a, b], output, vec![]);
                self.define(output, output.clone(), flat, false);
            }
            Op::Patch {
                name,
                input,
                output,
                y,
                x,
                h,
                w,
            } => {
                let v = self.value(input, false);
                let starts = self.int64(&format!("{name}.starts"), &[*y, *x]);
                let ends = self.int64(&format!("{name}.ends"), &[y + h, x + w]);
                let axes = self.int64(&format!("{name}.axes"), &[2, 3]);
                self.node("Slice", name, vec![v, starts, ends, axes], output, vec![]);
                self.define(output, output.clone(), false, false);
            }
            Op::Concat {
                name,
                inputs,
                output,
            } => {
                let values = inputs.iter().map(|t| self.value(t, true)).collect();
                self.node("Concat", name, values, output, vec![int("axis", 1)]);
                self.define(output, output.clone(), true, false);
            }
            Op::BatchNorm(b) => return Err(ExportError::TrainingOp(b.name.clone(), "batch norm")),
            Op::Relu { name, .. } => return Err(ExportError::TrainingOp(name.clone(), "relu")),
            Op::Dropout { name, .. } => {
                return Err(ExportError::TrainingOp(name.clone(), "dropout"));
            }
        }
        Ok(())
    }
}
