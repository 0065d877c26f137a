//! `shaders/conv2d_grad.wesl`: backward of the convolution (training form, no fused ReLU).
//!
//! - [`dispatch_dx`]: the input gradient, one dispatch: a convolution of the output gradient
//!   with the transposed, flipped weights, optionally added to what the input gradient already
//!   holds (a tensor several ops read).
//! - [`dispatch_dw`]: the weight and bias gradients, summed over the batch. The reduction over
//!   batch × output pixels (up to 1M products per weight) would serialize one invocation per
//!   weight, so it is split into chunks of output rows: a first pass writes one partial sum per
//!   chunk into [`scratch`] buffers, a second adds the partials in chunk order. The split
//!   depends only on the shapes, so the result is deterministic. When one chunk is enough the
//!   first pass writes the gradients directly and no scratch is needed.
//!
//! Every convolution of the network (stride-1 3×3 with padding 1, stride-1 unpadded 1×1, all
//! widths multiples of 4) takes a dedicated entry point that views the tensors as vec4s: on
//! lavapipe a load costs about the same whatever its width, so these run 2–3× faster than
//! scalar ones. Any other geometry takes a general, scalar entry point.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, Slot, StructLayout, layout, u};
use crate::net::Shape;
use crate::net::program::Conv2d;

/// Mirrors `Conv2dGradParams` in `conv2d_grad.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct Conv2dGradParams {
    pub batch: u32,
    pub cin: u32,
    pub hin: u32,
    pub win: u32,
    pub cout: u32,
    pub hout: u32,
    pub wout: u32,
    pub kernel: u32,
    pub stride: u32,
    pub pad: u32,
    pub accumulate: u32,
    pub col_blocks: u32,
    pub units: u32,
    pub units_per_chunk: u32,
    pub chunks: u32,
    pub seg_len: u32,
}

/// Layout of [`Conv2dGradParams`].
pub const LAYOUT: StructLayout = layout!(Conv2dGradParams {
    batch,
    cin,
    hin,
    win,
    cout,
    hout,
    wout,
    kernel,
    stride,
    pad,
    accumulate,
    col_blocks,
    units,
    units_per_chunk,
    chunks,
    seg_len
});

/// Invocations the first dw pass aims at: enough to fill the SIMD lanes of a CPU adapter many
/// times over and a GPU reasonably, while keeping partial sums long and the scratch small.
const DW_TARGET_INVOCATIONS: usize = 16_384;

/// Most `f32` elements of dw partials (16 MiB), well inside WebGPU's 128 MiB per binding.
const DW_SCRATCH_LIMIT: usize = 1 << 22;

/// Longest stretch of a 1×1 plane one reduction unit covers, in pixels: planes are split into
/// segments so that small batches of large planes can still be chunked finely.
const POINTWISE_SEGMENT: usize = 256;

/// Which entry points a convolution takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    General,
    ThreeByThree,
    Pointwise,
}

/// The path of the input gradient. The fast paths view dy, w and dx as vec4s, so they need
/// the rows (3×3) or planes (1×1) and Cin to be multiples of 4, as in every layer of the
/// network whose input gradient is needed.
fn dx_path(c: &Conv2d, input: Shape) -> Path {
    if !c.cin.is_multiple_of(4) || c.stride != 1 {
        Path::General
    } else if c.kernel == 1 && c.pad == 0 && (input.h * input.w).is_multiple_of(4) {
        Path::Pointwise
    } else if c.kernel == 3 && c.pad == 1 && input.w.is_multiple_of(4) {
        Path::ThreeByThree
    } else {
        Path::General
    }
}

/// The path of the weight gradient: the fast paths view x and dy as vec4s (rows or planes
/// multiples of 4; any channel counts, the stem's single input channel included).
fn dw_path(c: &Conv2d, input: Shape) -> Path {
    if c.stride != 1 {
        Path::General
    } else if c.kernel == 1 && c.pad == 0 && (input.h * input.w).is_multiple_of(4) {
        Path::Pointwise
    } else if c.kernel == 3 && c.pad == 1 && input.w.is_multiple_of(4) {
        Path::ThreeByThree
    } else {
        Path::General
    }
}

/// How the dw reduction is split.
#[derive(Debug, Clone, Copy)]
struct DwPlan {
    /// Units of the reduction (output rows; segments of the plane for 1×1).
    units: usize,
    /// Pixels per unit (1×1 only).
    seg_len: usize,
    units_per_chunk: usize,
    chunks: usize,
    /// Invocations per chunk.
    blocks: usize,
}

fn dw_plan(c: &Conv2d, input: Shape, output: Shape, batch: usize) -> DwPlan {
    let taps = c.cin * c.kernel * c.kernel;
    let oc_blocks = c.cout.div_ceil(4);
    let (units, seg_len, blocks) = match dw_path(c, input) {
        Path::Pointwise => {
            // A multiple of 4 (the kernel steps by vec4s).
            let pixels = output.h * output.w;
            let seg_len = pixels.min(POINTWISE_SEGMENT);
            (
                batch * pixels.div_ceil(seg_len),
                seg_len,
                oc_blocks * c.cin.div_ceil(4),
            )
        }
        Path::ThreeByThree => (batch * output.h, output.w, oc_blocks * c.cin),
        Path::General => (batch * output.h, output.w, oc_blocks * taps.div_ceil(4)),
    };
    let most = (DW_SCRATCH_LIMIT / (c.cout * taps + c.cout)).max(1);
    let wanted = DW_TARGET_INVOCATIONS
        .div_ceil(blocks)
        .min(most)
        .clamp(1, units);
    let units_per_chunk = units.div_ceil(wanted);
    DwPlan {
        units,
        seg_len,
        units_per_chunk,
        chunks: units.div_ceil(units_per_chunk),
        blocks,
    }
}

fn params(c: &Conv2d, input: Shape, output: Shape, batch: usize) -> Conv2dGradParams {
    Conv2dGradParams {
        batch: u(batch),
        cin: u(c.cin),
        hin: u(input.h),
        win: u(input.w),
        cout: u(c.cout),
        hout: u(output.h),
        wout: u(output.w),
        kernel: u(c.kernel),
        stride: u(c.stride),
        pad: u(c.pad),
        accumulate: 0,
        col_blocks: 0,
        units: 0,
        units_per_chunk: 0,
        chunks: 0,
        seg_len: 0,
    }
}

fn dw_partial(c: &Conv2d) -> Slot {
    Slot::Aux(format!("{}.dw_partial", c.name))
}

fn db_partial(c: &Conv2d) -> Slot {
    Slot::Aux(format!("{}.db_partial", c.name))
}

/// The input gradient of a convolution: reads `Grad(c.output)` and `Param("{name}.weight")`,
/// writes `Grad(c.input)`. With `accumulate` the result is added to what `Grad(c.input)`
/// holds (for a tensor read by several ops) instead of overwriting it. One dispatch.
pub fn dispatch_dx(
    c: &Conv2d,
    input: Shape,
    output: Shape,
    batch: usize,
    accumulate: bool,
) -> Vec<Dispatch> {
    // Blocks of columns per input row (8 wide for 3×3, 4 in general), or of 8 pixels per
    // flattened plane for 1×1.
    let (col_blocks, rows, kernel) = match dx_path(c, input) {
        Path::Pointwise => (
            (input.h * input.w).div_ceil(8),
            1,
            Kernel::Conv2dDxPointwise,
        ),
        Path::ThreeByThree => (input.w.div_ceil(8), input.h, Kernel::Conv2dDx3x3),
        Path::General => (input.w.div_ceil(4), input.h, Kernel::Conv2dDx),
    };
    let p = Conv2dGradParams {
        accumulate: accumulate as u32,
        col_blocks: u(col_blocks),
        ..params(c, input, output, batch)
    };
    vec![Dispatch {
        kernel,
        params: bytemuck::bytes_of(&p).to_vec(),
        invocations: (batch * c.cin.div_ceil(4) * rows * col_blocks) as u64,
        slots: vec![
            Slot::Grad(c.output.clone()),
            Slot::Param(format!("{}.weight", c.name)),
            Slot::Grad(c.input.clone()),
        ],
    }]
}

/// The weight and bias gradients of a convolution, summed over the batch: reads
/// `Tensor(c.input)` and `Grad(c.output)`, writes `ParamGrad("{name}.weight")` and
/// `ParamGrad("{name}.bias")` (overwritten, not accumulated). One dispatch, or two with the
/// partial sums in the buffers [`scratch`] names.
pub fn dispatch_dw(c: &Conv2d, input: Shape, output: Shape, batch: usize) -> Vec<Dispatch> {
    let plan = dw_plan(c, input, output, batch);
    let p = Conv2dGradParams {
        units: u(plan.units),
        units_per_chunk: u(plan.units_per_chunk),
        chunks: u(plan.chunks),
        seg_len: u(plan.seg_len),
        ..params(c, input, output, batch)
    };
    let dw = Slot::ParamGrad(format!("{}.weight", c.name));
    let db = Slot::ParamGrad(format!("{}.bias", c.name));
    let direct = plan.chunks == 1;
    let (first_dw, first_db) = if direct {
        (dw.clone(), db.clone())
    } else {
        (dw_partial(c), db_partial(c))
    };
    let mut out = vec![Dispatch {
        kernel: match dw_path(c, input) {
            Path::Pointwise => Kernel::Conv2dDwPointwise,
            Path::ThreeByThree => Kernel::Conv2dDw3x3,
            Path::General => Kernel::Conv2dDw,
        },
        params: bytemuck::bytes_of(&p).to_vec(),
        invocations: (plan.chunks * plan.blocks) as u64,
        slots: vec![
            Slot::Tensor(c.input.clone()),
            Slot::Grad(c.output.clone()),
            first_dw,
            first_db,
        ],
    }];
    if !direct {
        out.push(Dispatch {
            kernel: Kernel::Conv2dDwReduce,
            params: bytemuck::bytes_of(&p).to_vec(),
            invocations: (c.cout * c.cin * c.kernel * c.kernel + c.cout) as u64,
            slots: vec![dw_partial(c), db_partial(c), dw, db],
        });
    }
    out
}

/// The scratch buffers [`dispatch_dw`] needs, with their sizes in `f32` elements, for the
/// executor to allocate: `Aux("{name}.dw_partial")` (chunks × weights) and
/// `Aux("{name}.db_partial")` (chunks × cout); none when the reduction is one chunk.
/// [`dispatch_dx`] needs none.
pub fn scratch(c: &Conv2d, input: Shape, output: Shape, batch: usize) -> Vec<(Slot, usize)> {
    let plan = dw_plan(c, input, output, batch);
    if plan.chunks == 1 {
        return Vec::new();
    }
    vec![
        (
            dw_partial(c),
            plan.chunks * c.cout * c.cin * c.kernel * c.kernel,
        ),
        (db_partial(c), plan.chunks * c.cout),
    ]
}
