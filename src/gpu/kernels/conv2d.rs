//! `shaders/conv2d.wesl`: direct convolution, 4 output channels × 4 positions per invocation;
//! stride-1 unpadded 1×1 convolutions take the `conv2d_1x1` entry point, stride-1 3×3 ones
//! `conv2d_3x3`. `shaders/conv2d_tiled.wesl`: the tiled set's implicit GEMM. Both take the
//! parameters, bindings, prologue and epilogue of `shaders/lib/conv2d.wesl`.

use bytemuck::{Pod, Zeroable};

use super::{Dispatch, Kernel, KernelSet, Slot, StructLayout, WORKGROUP_SIZE, layout, u};
use crate::net::Shape;
use crate::net::program::Conv2d;

/// Mirrors `Conv2dParams` in `lib/conv2d.wesl`.
#[allow(missing_docs)] // the fields mirror the WGSL struct, documented there
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct Conv2dParams {
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
    pub relu: u32,
    pub col_blocks: u32,
    pub pre: u32,
    pub residual: u32,
    pub pool: u32,
    pub _pad0: u32,
}

/// Layout of [`Conv2dParams`].
pub const LAYOUT: StructLayout = layout!(Conv2dParams {
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
    relu,
    col_blocks,
    pre,
    residual,
    pool,
    _pad0
});

/// What the GPU's inference schedule fuses into a convolution (`gpu::schedule`): the
/// per-channel affine before it, a sum after it, and a pooling after that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fusion {
    /// The affine op (parameters `{name}.scale`, `{name}.shift`) applied to every input tap,
    /// and whether its ReLU follows.
    pub pre: Option<(String, bool)>,
    /// A tensor shaped like the output, added after the bias and before the ReLU.
    pub residual: Option<String>,
    /// A 2×2 max pooling of stride 2 after everything else ([`takes_pool`]); the output
    /// tensor is then the pooling's.
    pub pool: bool,
}

/// Output channels and pixels of one workgroup's tile in `conv2d_tiled.wesl`, whose layout
/// assumes 64 invocations per workgroup (8 × 8 each).
const TILE: usize = 64;
const _: () = assert!(WORKGROUP_SIZE as usize == TILE);

/// Whether the kernel that `set` runs `c` with applies a [`Fusion::pre`] prologue: the tiled
/// kernel and the register-blocked 1×1 one do, once per staged or loaded input; the
/// register-blocked 3×3 and general ones do not, as a check per tap slowed them down by a
/// third on lavapipe.
pub fn takes_prologue(c: &Conv2d, set: KernelSet) -> bool {
    set.is_tiled() || is_pointwise(c)
}

/// Whether the kernels of `set` can apply a [`Fusion::pool`] to a convolution's `output`: the
/// tiled kernel can, on an output of even height and width (each invocation then holds whole
/// 2×2 windows); the register-blocked ones, whose blocks lie along one row, cannot.
pub fn takes_pool(set: KernelSet, output: Shape) -> bool {
    set.is_tiled() && output.h.is_multiple_of(2) && output.w.is_multiple_of(2)
}

/// Stride-1 unpadded 1×1: a matrix product per sample.
fn is_pointwise(c: &Conv2d) -> bool {
    c.kernel == 1 && c.stride == 1 && c.pad == 0
}

/// The dispatch for one convolution with the variant of `set`; `col_blocks` counts blocks of
/// 4 output positions (register-blocked), or tiles of 64 output channels (`conv2d_tiled.wesl`,
/// one workgroup per 64 channels × 64 output pixels of the batch). `fusion` says what else it
/// computes; `output` is the convolution's own output shape, before any pooling.
pub fn dispatch(
    c: &Conv2d,
    input: Shape,
    output: Shape,
    batch: usize,
    set: KernelSet,
    fusion: &Fusion,
) -> Dispatch {
    assert!(
        fusion.pre.is_none() || takes_prologue(c, set),
        "a prologue is fused only into kernels that apply it"
    );
    assert!(
        !fusion.pool || takes_pool(set, output),
        "a pooling is fused only into kernels that apply it"
    );
    let (kernel, col_blocks, invocations) = if set.is_tiled() {
        let channel_tiles = c.cout.div_ceil(TILE);
        let pixel_tiles = (batch * output.h * output.w).div_ceil(TILE);
        let invocations = channel_tiles * pixel_tiles * TILE;
        let kernel = if set.f16_weights() {
            Kernel::Conv2dTiledF16
        } else {
            Kernel::Conv2dTiled
        };
        (kernel, channel_tiles, invocations)
    } else {
        let pointwise = is_pointwise(c);
        // Blocks of 4 positions: per output row in general, per flattened plane for 1×1.
        let (col_blocks, rows) = if pointwise {
            ((output.h * output.w).div_ceil(4), 1)
        } else {
            (output.w.div_ceil(4), output.h)
        };
        let kernel = if pointwise {
            Kernel::Conv2dPointwise
        } else if c.kernel == 3 && c.stride == 1 {
            Kernel::Conv2d3x3
        } else {
            Kernel::Conv2d
        };
        let invocations = batch * c.cout.div_ceil(4) * rows * col_blocks;
        (kernel, col_blocks, invocations)
    };
    let params = Conv2dParams {
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
        relu: c.relu as u32,
        col_blocks: u(col_blocks),
        pre: match &fusion.pre {
            None => 0,
            Some((_, false)) => 1,
            Some((_, true)) => 2,
        },
        residual: fusion.residual.is_some() as u32,
        pool: fusion.pool as u32,
        _pad0: 0,
    };
    // Bindings the dispatch does not use are bound to the bias, which is never read for them.
    let bias = Slot::Param(format!("{}.bias", c.name));
    let (scale, shift) = match &fusion.pre {
        Some((affine, _)) => (
            Slot::Param(format!("{affine}.scale")),
            Slot::Param(format!("{affine}.shift")),
        ),
        None => (bias.clone(), bias.clone()),
    };
    let residual = match &fusion.residual {
        Some(t) => Slot::Tensor(t.clone()),
        None => bias.clone(),
    };
    Dispatch {
        kernel,
        params: bytemuck::bytes_of(&params).to_vec(),
        invocations: invocations as u64,
        slots: vec![
            Slot::Tensor(c.input.clone()),
            Slot::Param(format!("{}.weight", c.name)),
            bias,
            scale,
            shift,
            residual,
            Slot::Tensor(c.output.clone()),
        ],
    }
}
