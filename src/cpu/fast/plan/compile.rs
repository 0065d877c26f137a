//! From an inference-form program to a [`Plan`]: slots and layouts for every tensor, a method
//! and weight layout for every convolution, and the fusions.

use std::collections::HashMap;

use super::steps::{ConvMethod, ConvStep, ConvWeights, LinearStep, Step, padded_row_stride};
use super::{Layout, Plan, Slot};
use crate::cpu::fast::conv::blocked::{Isa, Packed};
use crate::cpu::fast::conv::{ConvKernel, DIRECT_MAX_TAPS, tap_major, winograd};
use crate::cpu::fast::linear;
use crate::net::program::Conv2d;
use crate::net::{Op, Params, Program, Shape};

/// Input channels from which [`ConvMethod::Shifted`] beats im2col (below, each tap's GEMM is
/// too thin).
const SHIFTED_MIN_CHANNELS: usize = 8;

/// Compiles an inference-form program (see [`crate::net::lower()`]); `params` must hold every
/// parameter it names.
///
/// # Panics
/// If `kernel` is one this CPU cannot run.
pub fn compile(program: &Program, params: &Params, kernel: ConvKernel) -> Plan {
    assert!(
        ConvKernel::runnable().contains(&kernel),
        "the register-blocked kernel needs AVX2+FMA or AVX-512"
    );
    let mut c = Compiler {
        program,
        params,
        kernel,
        slots: Vec::new(),
        steps: Vec::new(),
        by_tensor: HashMap::new(),
        uses: HashMap::new(),
        producer: HashMap::new(),
    };
    for op in &program.ops {
        for t in op.inputs() {
            *c.uses.entry(t.to_string()).or_default() += 1;
        }
    }
    *c.uses.entry(program.output.clone()).or_default() += 1;
    let inputs = program
        .inputs
        .iter()
        .map(|(name, shape)| c.define(name, *shape, Layout::Nchw))
        .collect();
    for op in &program.ops {
        c.op(op);
    }
    let output = c.read(&program.output, Layout::Nchw);
    let head = c
        .steps
        .iter()
        .position(|(_, s)| matches!(s, Step::Patch { .. } | Step::Linear(_)))
        .unwrap_or(c.steps.len());
    Plan {
        conv_kernel: kernel,
        slots: c.slots,
        steps: c.steps,
        inputs,
        output,
        head,
    }
}

struct Compiler<'a> {
    program: &'a Program,
    params: &'a Params,
    kernel: ConvKernel,
    slots: Vec<Slot>,
    steps: Vec<(String, Step)>,
    /// The slots holding each tensor, one per layout it has been needed in.
    by_tensor: HashMap<String, Vec<usize>>,
    /// How many ops read each tensor (the program output counts as one).
    uses: HashMap<String, usize>,
    /// The step index that writes each slot.
    producer: HashMap<usize, usize>,
}

impl Compiler<'_> {
    fn param(&self, name: String) -> Vec<f32> {
        self.params
            .get(&name)
            .unwrap_or_else(|| panic!("the CPU backend was given no parameter `{name}`"))
            .data
            .clone()
    }

    fn define(&mut self, tensor: &str, shape: Shape, layout: Layout) -> usize {
        self.slots.push(Slot { shape, layout });
        let slot = self.slots.len() - 1;
        self.by_tensor.entry(tensor.into()).or_default().push(slot);
        slot
    }

    fn push(&mut self, label: &str, step: Step) {
        self.producer.insert(step.writes(), self.steps.len());
        self.steps.push((label.into(), step));
    }

    /// The slot holding `tensor` in `layout`, adding a relayout step the first time it is needed.
    fn read(&mut self, tensor: &str, layout: Layout) -> usize {
        let have = &self.by_tensor[tensor];
        if let Some(&s) = have.iter().find(|&&s| self.slots[s].layout == layout) {
            return s;
        }
        let from = have[0];
        let to = self.define(tensor, self.slots[from].shape, layout);
        self.push(
            tensor,
            Step::Relayout {
                input: from,
                output: to,
            },
        );
        to
    }

    /// The single step that wrote `tensor`, when nothing else reads it.
    fn sole_producer(&self, tensor: &str) -> Option<usize> {
        if self.uses.get(tensor).copied() != Some(1) {
            return None;
        }
        match self.by_tensor.get(tensor)?.as_slice() {
            [slot] => self.producer.get(slot).copied(),
            _ => None,
        }
    }

    /// A convolution's weights in the form its kernel reads: packed for the register-blocked
    /// kernel where the plan uses it ([`ConvKernel::packs`]: shifted convolutions (already
    /// tap-major) for this CPU's widest block, pointwise ones likewise, direct ones (reordered)
    /// in blocks of [`MR`](crate::cpu::fast::conv::blocked::MR), as their kernel walks them),
    /// else as they are.
    fn weights(&self, method: ConvMethod, weight: Vec<f32>, conv: &Conv2d) -> ConvWeights {
        let (taps, cout, cin) = (conv.kernel * conv.kernel, conv.cout, conv.cin);
        if method == ConvMethod::Winograd {
            return ConvWeights::Winograd(winograd::transform_weights(&weight, cout, cin));
        }
        if !self.kernel.packs(method) {
            return ConvWeights::Plain(weight);
        }
        if method == ConvMethod::Direct {
            let weight = tap_major(&weight, cout, cin, conv.kernel);
            return ConvWeights::Packed(Packed::new(&weight, taps, cout, cin));
        }
        let isa = Isa::best().expect("the blocked kernel is runnable here (checked by compile)");
        ConvWeights::Packed(Packed::for_isa(isa, &weight, taps, cout, cin))
    }

    fn op(&mut self, op: &Op) {
        let p = self.program;
        let shape = p.shape(op.output());
        match op {
            Op::Conv2d(conv) => {
                let from = p.shape(&conv.input);
                let method = if conv.kernel == 1 && conv.stride == 1 && conv.pad == 0 {
                    ConvMethod::Pointwise
                } else if conv.stride == 1
                    && conv.cin * conv.kernel * conv.kernel <= DIRECT_MAX_TAPS
                {
                    ConvMethod::Direct
                } else if self.kernel == ConvKernel::Blocked
                    && winograd::applies(from, conv.kernel, conv.stride, conv.pad)
                {
                    ConvMethod::Winograd
                } else if conv.stride == 1 && conv.cin >= SHIFTED_MIN_CHANNELS {
                    ConvMethod::Shifted
                } else {
                    ConvMethod::Im2col
                };
                let mut input = self.read(&conv.input, Layout::Cnhw);
                let mut weight = self.param(format!("{}.weight", conv.name));
                if matches!(
                    method,
                    ConvMethod::Shifted | ConvMethod::Winograd | ConvMethod::Direct
                ) {
                    let padded = Shape::new(from.c, from.h + 2 * conv.pad, from.w + 2 * conv.pad);
                    let slot = self.define(&format!("{}.padded", conv.input), padded, Layout::Cnhw);
                    // A pointwise convolution that nothing else reads writes the padded tensor
                    // itself: on the `gemm` crate in its epilogue pass (on 2 cores of a Zen 3,
                    // two plans in one process, interleaved, the pad steps and those
                    // convolutions 0.88× the time at batch 1, 0.1 ms a frame, and 0.96× at
                    // batch 32), on the blocked kernel from a tile in cache (the network 0.969×
                    // and 0.975× the time at batch 1, 0.988× at batch 32, on 2 cores of a Zen 4);
                    // outputs bit for bit the same.
                    if let Some(i) = self.sole_producer(&conv.input)
                        && let Step::Conv(producer) = &mut self.steps[i].1
                        && producer.output == input
                        && producer.method == ConvMethod::Pointwise
                        && !producer.pool
                        && producer.accumulate.is_none()
                        && producer.pad_output == 0
                    {
                        producer.pad_output = conv.pad;
                        producer.output = slot;
                        self.producer.insert(slot, i);
                    } else {
                        let pad = Step::Pad {
                            input,
                            output: slot,
                            pad: conv.pad,
                        };
                        self.push(&conv.name, pad);
                    }
                    input = slot;
                    if method == ConvMethod::Shifted {
                        weight = tap_major(&weight, conv.cout, conv.cin, conv.kernel);
                    }
                }
                let output = self.define(&conv.output, shape, Layout::Cnhw);
                let step = ConvStep {
                    method,
                    input,
                    output,
                    accumulate: None,
                    from,
                    to: shape,
                    kernel: conv.kernel,
                    stride: conv.stride,
                    pad: conv.pad,
                    relu: conv.relu,
                    pool: false,
                    pad_output: 0,
                    weights: self.weights(method, weight, conv),
                    bias: self.param(format!("{}.bias", conv.name)),
                };
                self.push(&conv.name, Step::Conv(step));
            }
            Op::Linear(l) => {
                let input = self.read(&l.input, Layout::Nchw);
                let output = self.define(&l.output, shape, Layout::Nchw);
                let weight = self.param(format!("{}.weight", l.name));
                let row_stride = padded_row_stride(l.inputs);
                let mut padded = vec![0.0; l.outputs * row_stride];
                for (row, w) in padded
                    .chunks_exact_mut(row_stride)
                    .zip(weight.chunks(l.inputs))
                {
                    row[..l.inputs].copy_from_slice(w);
                }
                let step = LinearStep {
                    input,
                    output,
                    inputs: l.inputs,
                    outputs: l.outputs,
                    relu: l.relu,
                    weight_f16: linear::half::exact(&weight),
                    weight: padded,
                    row_stride,
                    bias: self.param(format!("{}.bias", l.name)),
                };
                self.push(&l.name, Step::Linear(step));
            }
            Op::Affine(a) => {
                let input = self.by_tensor[&a.input][0];
                let layout = self.slots[input].layout;
                let output = self.define(&a.output, shape, layout);
                let step = Step::Affine {
                    input,
                    output,
                    scale: self.param(format!("{}.scale", a.name)),
                    shift: self.param(format!("{}.shift", a.name)),
                    relu: a.relu,
                };
                self.push(&a.name, step);
            }
            Op::MaxPool {
                name,
                input,
                output,
                kernel,
                stride,
            } => {
                // A 2×2 pooling of a direct or pointwise convolution nothing else reads: pooled
                // on the fly.
                if let Some(i) = self.sole_producer(input)
                    && let Step::Conv(conv) = &mut self.steps[i].1
                    && matches!(conv.method, ConvMethod::Direct | ConvMethod::Pointwise)
                    && !conv.pool
                    && (*kernel, *stride) == (2, 2)
                    && conv.to.h % 2 == 0
                    && conv.to.w % 2 == 0
                {
                    conv.pool = true;
                    let slot = self.define(output, shape, Layout::Cnhw);
                    let Step::Conv(conv) = &mut self.steps[i].1 else {
                        unreachable!("matched above")
                    };
                    conv.output = slot;
                    self.producer.insert(slot, i);
                    return;
                }
                let input = self.read(input, Layout::Cnhw);
                let output = self.define(output, shape, Layout::Cnhw);
                let step = Step::MaxPool {
                    input,
                    output,
                    kernel: *kernel,
                    stride: *stride,
                };
                self.push(name, step);
            }
            Op::Upsample {
                name,
                input,
                output,
                factor,
            } => {
                let input = self.read(input, Layout::Cnhw);
                let output = self.define(output, shape, Layout::Cnhw);
                let step = Step::Upsample {
                    input,
                    output,
                    factor: *factor,
                };
                self.push(name, step);
            }
            Op::Add { name, a, b, output } => self.add(name, a, b, output, shape),
            Op::Patch {
                name,
                input,
                output,
                y,
                x,
                ..
            } => {
                let input = self.read(input, Layout::Cnhw);
                let output = self.define(output, shape, Layout::Nchw);
                let step = Step::Patch {
                    input,
                    output,
                    y: *y,
                    x: *x,
                };
                self.push(name, step);
            }
            Op::Concat {
                name,
                inputs,
                output,
            } => {
                let inputs = inputs.iter().map(|t| self.read(t, Layout::Nchw)).collect();
                let output = self.define(output, shape, Layout::Nchw);
                self.push(name, Step::Concat { inputs, output });
            }
            Op::BatchNorm(_) | Op::Relu { .. } | Op::Dropout { .. } => panic!(
                "the fast CPU path runs inference-form programs; `{}` should have been lowered",
                op.name()
            ),
        }
    }

    /// `a + b`: fused into the convolution that makes one operand when nothing else reads it
    /// (the convolution then starts from the other operand instead of zero), or into the
    /// upsampling that makes one operand; otherwise a plain sum.
    fn add(&mut self, name: &str, a: &str, b: &str, output: &str, shape: Shape) {
        for (mine, other) in [(a, b), (b, a)] {
            let Some(i) = self.sole_producer(mine) else {
                continue;
            };
            if let Step::Conv(conv) = &self.steps[i].1
                && !conv.relu
                && !conv.pool
                && conv.method != ConvMethod::Direct
                && conv.accumulate.is_none()
            {
                // The convolution moves here, after `other` is made; its own input stays live.
                let (label, Step::Conv(mut conv)) = self.steps.remove(i) else {
                    unreachable!("matched above")
                };
                self.reindex_after_removal(i);
                conv.accumulate = Some(self.read(other, Layout::Cnhw));
                conv.output = self.define(output, shape, Layout::Cnhw);
                self.push(&label, Step::Conv(conv));
                return;
            }
        }
        for (mine, other) in [(b, a), (a, b)] {
            let Some(i) = self.sole_producer(mine) else {
                continue;
            };
            if let Step::Upsample { input, factor, .. } = self.steps[i].1 {
                self.steps.remove(i);
                self.reindex_after_removal(i);
                let a = self.read(other, Layout::Cnhw);
                let output = self.define(output, shape, Layout::Cnhw);
                let step = Step::Add {
                    a,
                    b: input,
                    output,
                    factor,
                };
                self.push(name, step);
                return;
            }
        }
        let layout = self.slots[self.by_tensor[a][0]].layout;
        let (a, b) = (self.read(a, layout), self.read(b, layout));
        let output = self.define(output, shape, layout);
        let step = Step::Add {
            a,
            b,
            output,
            factor: 1,
        };
        self.push(name, step);
    }

    /// Step indices after a removed step move down by one.
    fn reindex_after_removal(&mut self, removed: usize) {
        self.producer.retain(|_, i| *i != removed);
        for i in self.producer.values_mut() {
            if *i > removed {
                *i -= 1;
            }
        }
    }
}
