//! `shaders/linear.wesl`: fully connected layer, 4 outputs × 4 samples per invocation; for the
//! tiled sets, a split-K GEMV at small batches (`shaders/linear_split.wesl`, or
//! `shaders/linear_subgroup.wesl` in the subgroups set) and the tiled convolution beyond; for
//! the blocked-gemv set, the split-K GEMV at every batch.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, KernelSet, Slot, StructLayout, WORKGROUP_SIZE, layout, u};
use crate::net::Shape;
use crate::net::program::Conv2d;
use crate::net::program::Linear;

/// Mirrors `LinearParams` in `linear.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct LinearParams {
    pub batch: u32,
    pub inputs: u32,
    pub outputs: u32,
    pub relu: u32,
}

/// Layout of [`LinearParams`].
pub const LAYOUT: StructLayout = layout!(LinearParams {
    batch,
    inputs,
    outputs,
    relu
});

/// Largest batch the tiled sets run as a split-K GEMV (`lib/gemv.wesl`); past it a fully
/// connected layer is a GEMM with enough columns for the tiled convolution, as a 1×1 one.
pub const SPLIT_MAX_BATCH: usize = 16;

/// The dispatch for one fully connected layer with the variant of `set`.
pub fn dispatch(l: &Linear, batch: usize, set: KernelSet) -> Dispatch {
    if set.is_tiled() && batch > SPLIT_MAX_BATCH {
        // x (N×I), w (O×I) and y (N×O) are a 1×1 convolution's N×I×1×1 input, O×I×1×1
        // weights and N×O×1×1 output.
        let conv = Conv2d {
            name: l.name.clone(),
            input: l.input.clone(),
            output: l.output.clone(),
            cin: l.inputs,
            cout: l.outputs,
            kernel: 1,
            stride: 1,
            pad: 0,
            relu: l.relu,
        };
        let (input, output) = (Shape::new(l.inputs, 1, 1), Shape::new(l.outputs, 1, 1));
        return super::conv2d::dispatch(&conv, input, output, batch, set, &Default::default());
    }
    let (kernel, invocations) = if set.gemv() {
        // Split-K GEMV (`lib/gemv.wesl`): a workgroup per output and block of 4 samples.
        let groups = (l.outputs * batch.div_ceil(4)) as u64 * WORKGROUP_SIZE as u64;
        let kernel = match (set.subgroups(), set.f16_weights()) {
            (false, false) => Kernel::LinearSplit,
            (false, true) => Kernel::LinearSplitF16,
            (true, false) => Kernel::LinearSubgroup,
            (true, true) => Kernel::LinearSubgroupF16,
        };
        (kernel, groups)
    } else {
        // An invocation per 4 outputs × 4 samples.
        let blocks = l.outputs.div_ceil(4) * batch.div_ceil(4);
        (Kernel::Linear, blocks as u64)
    };
    let params = LinearParams {
        batch: u(batch),
        inputs: u(l.inputs),
        outputs: u(l.outputs),
        relu: l.relu as u32,
    };
    Dispatch {
        kernel,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations,
        slots: vec![
            Slot::Tensor(l.input.clone()),
            Slot::Param(format!("{}.weight", l.name)),
            Slot::Param(format!("{}.bias", l.name)),
            Slot::Tensor(l.output.clone()),
        ],
    }
}
