//! Stride-1 convolutions of a batch laid out sample by sample (`N × C × H × W`, as the training
//! workspace keeps it) on the register-blocked kernel (AVX-512 or AVX2): the forward pass, and
//! the gradient with respect to the input, which for stride 1 is itself a stride-1 convolution
//! of the output's gradient (weights transposed and flipped, padding `k − 1 − pad`).
//!
//! Why: training ran these as im2col + one `gemm` GEMM per sample and tile, and the input
//! gradient as a GEMM into unfolded columns scattered back (col2im); the blocked kernel sums
//! every tap in registers over the zero-padded sample read in place, as the inference path does.
//! The weight gradient, whose sum runs over the pixels, has kernels of its own
//! ([`super::weight_grad`], and [`winograd::weight_grad`] where Winograd's applies).
//!
//! Each sample runs on one thread: a zero-padded copy of it, then the kernel over its output
//! rows straight into the output where [`blocked::rows_in_place`] says so (whole register blocks
//! of 16 columns on AVX2, whole vectors of 16 on AVX-512), else over tiles of padded-grid
//! positions into a scratch tile whose valid positions are copied out.
//!
//! Where Winograd's F(2×2, 3×3) applies ([`winograd::applies`]: 3×3, padding 1, planes 8 or
//! more wide, 8 or more input channels, AVX-512) the padded sample goes through inference's
//! [`winograd`] instead, as a batch of one ([`Prepared::Winograd`]). Both forms in one build,
//! alternating (2 cores of an Intel Xeon, batch 32, 2026-12-04), with it on planes 16 or more
//! wide: the 16×16 layers of the 64×64 network 0.73–0.75× the time forward and 0.88×
//! backward (the weight gradient then on its direct kernel), its 32×32 layer of 32 channels 0.94×
//! and 1.0×; a step 0.96×, 341.7 → 356.6 samples/s (5 rounds, medians), and 105.8 → 109.7 on
//! the 128×128 network. On the 8×8 planes too: 380.0 against 379.5 samples/s (a sample's 16
//! tiles are one vector, too thin a GEMM to gain here; the same rule as inference's kept).

use std::cell::RefCell;

use rayon::prelude::*;

use super::blocked::{self, Epilogue, NR, Operands, Packed};
use super::{pad_sample, tap_major, tap_offsets, winograd};
use crate::cpu::fast::team::{Out, Part};
use crate::net::Shape;

/// Padded-grid positions per tile: a multiple of the register block's columns, small enough
/// that a tile of 128 output channels (240 KB) stays in L2.
const TILE: usize = 10 * NR;

thread_local! {
    /// The zero-padded sample.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    /// The kernel's output tile, over padded-grid positions.
    static OUT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Whether [`forward`] and [`input_grad`] run here, on this CPU, for this geometry: stride 1
/// and a kernel wider than 1. A 1×1 convolution reads its input in place as the `gemm` crate's
/// GEMM already, which was faster here (at batch 32, 128×128 network, per layer: the blocked
/// kernel took 1.0–1.5× the time on the 1×1 layers, 0.67–0.94× on the 3×3 ones).
pub fn runs(kernel: usize, stride: usize, pad: usize) -> bool {
    blocked::available() && kernel > 1 && stride == 1 && pad < kernel
}

/// Input channels below which the AVX2 form is left to im2col + GEMM: on the 1-channel stem it
/// took 1.4× as long (2.54 against 1.78 ms, 64×64 network at batch 32, 2 cores of a Zen 3),
/// while on 32 to 128 channels it took 0.75–0.86× as long (about even on 4×4 planes).
const AVX2_MIN_CHANNELS: usize = 8;

/// Whether training takes [`forward`] for this convolution: where it [`runs`], and on AVX2
/// only from [`AVX2_MIN_CHANNELS`] input channels (AVX-512 takes every geometry it runs).
pub fn preferred(kernel: usize, stride: usize, pad: usize, input: Shape) -> bool {
    runs(kernel, stride, pad)
        && (blocked::Isa::best() == Some(blocked::Isa::Avx512) || input.c >= AVX2_MIN_CHANNELS)
}

/// Weights `cout × cin × k × k` (PyTorch's layout) packed for [`forward`], in blocks of
/// [`blocked::MR`] channels (on AVX2, two blocks of 4 × 16). Inference's wide AVX2 block (6 × 16,
/// [`Packed::for_isa`]) was no faster here: with both in one process, alternating (64×64
/// network, batch 32, 2 cores of a Zen 3), the forward was about even and the 3×3 layers'
/// backward took 1.2–1.35× as long with it.
pub fn pack_forward(w: &[f32], cout: usize, cin: usize, k: usize) -> Packed {
    Packed::new(&tap_major(w, cout, cin, k), k * k, cout, cin)
}

/// Weights `cout × cin × k × k` packed for [`input_grad`]: the convolution from `cout` channels
/// to `cin` whose tap `t` is the original's tap `k·k − 1 − t` (flipped), transposed.
pub fn pack_input_grad(w: &[f32], cout: usize, cin: usize, k: usize) -> Packed {
    let flipped = gradient_weights(w, cout, cin, k);
    Packed::new(&tap_major(&flipped, cin, cout, k), k * k, cin, cout)
}

/// The weights of the input gradient's convolution, `cin × cout × k × k` (PyTorch's layout):
/// `w` (`cout × cin × k × k`) transposed, each kernel's taps flipped.
fn gradient_weights(w: &[f32], cout: usize, cin: usize, k: usize) -> Vec<f32> {
    let taps = k * k;
    assert_eq!(w.len(), cout * cin * taps);
    let mut flipped = vec![0.0; w.len()];
    for o in 0..cout {
        for c in 0..cin {
            for t in 0..taps {
                flipped[(c * cout + o) * taps + taps - 1 - t] = w[(o * cin + c) * taps + t];
            }
        }
    }
    flipped
}

/// A convolution's weights in the form [`forward`] or [`input_grad`] runs them: packed for the
/// blocked kernel over every tap, or transformed for Winograd's F(2×2, 3×3) ([`winograd`])
/// where it applies to the convolution as it runs ([`winograd::applies`]).
#[derive(Debug, Clone)]
pub enum Prepared {
    /// [`pack_forward`] or [`pack_input_grad`].
    Blocked(Packed),
    /// [`winograd::transform_weights`] of the convolution as it runs.
    Winograd(Vec<Packed>),
}

impl Prepared {
    /// Input and output channels of the convolution as it runs.
    fn channels(&self) -> (usize, usize) {
        match self {
            Prepared::Blocked(p) => (p.cin(), p.cout()),
            Prepared::Winograd(u) => (u[0].cin(), u[0].cout()),
        }
    }
}

/// Weights `cout × cin × k × k` for [`forward`] on inputs of shape `input` with padding `pad`:
/// Winograd's where it applies, else [`pack_forward`].
pub fn prepare_forward(
    w: &[f32],
    cout: usize,
    cin: usize,
    (k, pad): (usize, usize),
    input: Shape,
) -> Prepared {
    if winograd::applies(input, k, 1, pad) {
        Prepared::Winograd(winograd::transform_weights(w, cout, cin))
    } else {
        Prepared::Blocked(pack_forward(w, cout, cin, k))
    }
}

/// Weights `cout × cin × k × k` for [`input_grad`] of a convolution with padding `pad` and
/// output shape `output` (the gradient's input): Winograd's where it applies to the gradient's
/// convolution (padding `k − 1 − pad`), else [`pack_input_grad`].
pub fn prepare_input_grad(
    w: &[f32],
    cout: usize,
    cin: usize,
    (k, pad): (usize, usize),
    output: Shape,
) -> Prepared {
    if pad < k && winograd::applies(output, k, 1, k - 1 - pad) {
        let flipped = gradient_weights(w, cout, cin, k);
        Prepared::Winograd(winograd::transform_weights(&flipped, cin, cout))
    } else {
        Prepared::Blocked(pack_input_grad(w, cout, cin, k))
    }
}

/// `y = relu?(conv(x) + bias)` for a batch: kernel `k`, stride 1, zero padding `pad`; `x` is
/// `batch × input`, `y` `batch × output` (every element written), samples in parallel.
///
/// # Panics
/// If [`runs`] is false, or the shapes do not match a stride-1 convolution with this padding.
#[allow(clippy::too_many_arguments)] // the geometry, the weights and the two tensors
pub fn forward(
    prepared: &Prepared,
    (k, pad): (usize, usize),
    bias: Option<&[f32]>,
    relu: bool,
    x: &[f32],
    batch: usize,
    (input, output): (Shape, Shape),
    y: &mut [f32],
) {
    assert!(
        runs(k, 1, pad),
        "the blocked kernel needs AVX2+FMA or AVX-512"
    );
    assert_eq!(output.h, input.h + 2 * pad + 1 - k);
    assert_eq!(output.w, input.w + 2 * pad + 1 - k);
    assert_eq!(prepared.channels(), (input.c, output.c));
    assert!(
        matches!(prepared, Prepared::Blocked(_)) || winograd::applies(input, k, 1, pad),
        "Winograd's weights for a convolution it does not apply to"
    );
    assert!(bias.is_none_or(|b| b.len() == output.c));
    assert_eq!(x.len(), batch * input.len());
    assert_eq!(y.len(), batch * output.len());
    x.par_chunks(input.len())
        .zip(y.par_chunks_mut(output.len()))
        .for_each(|(xn, yn)| {
            let epilogue = Epilogue {
                bias,
                add: None,
                relu,
            };
            sample(prepared, (k, pad), epilogue, xn, (input, output), yn)
        });
}

/// `∂L/∂x` of a stride-1 convolution (kernel `k`, padding `pad`) from `∂L/∂y`, with `packed`
/// from [`pack_input_grad`]: `dy` is `batch × output`, `dx` `batch × input` (every element
/// written).
///
/// # Panics
/// As [`forward`].
pub fn input_grad(
    prepared: &Prepared,
    (k, pad): (usize, usize),
    dy: &[f32],
    batch: usize,
    (input, output): (Shape, Shape),
    dx: &mut [f32],
) {
    // The gradient's padding: each input position collects the outputs whose window held it.
    forward(
        prepared,
        (k, k - 1 - pad),
        None,
        false,
        dy,
        batch,
        (output, input),
        dx,
    );
}

/// One sample of [`forward`] on this thread.
fn sample(
    prepared: &Prepared,
    (k, pad): (usize, usize),
    epilogue: Epilogue,
    x: &[f32],
    (input, output): (Shape, Shape),
    y: &mut [f32],
) {
    let packed = match prepared {
        Prepared::Blocked(packed) => packed,
        Prepared::Winograd(u) => {
            // The padded sample is a batch of one in the layout inference's Winograd reads.
            let plane = (input.h + 2) * (input.w + 2);
            PADDED.with_borrow_mut(|padded| {
                padded.clear();
                padded.resize(input.c * plane, 0.0);
                pad_sample(x, (input.h, input.w), 1, plane, padded);
                let epilogue = (epilogue.bias, epilogue.relu);
                let y = Out::new(y);
                winograd::conv(
                    u,
                    (input, output),
                    epilogue,
                    1,
                    padded,
                    None,
                    y,
                    Part::WHOLE,
                );
            });
            return;
        }
    };
    let (cin, cout) = (input.c, output.c);
    let (hp, wp) = (input.h + 2 * pad, input.w + 2 * pad);
    let plane = hp * wp;
    // Output (oy, ox) reads padded position oy·wp + ox + offset(tap); the last output's last
    // tap is the padded plane's last position.
    let span = (output.h - 1) * wp + output.w;
    let offsets = tap_offsets(k, wp);
    // Output rows of whole blocks (`rows_in_place`) go from the registers straight to `y` with
    // the epilogue, as inference's shifted convolutions do (`shifted.rs`): no tile to copy out,
    // no sums for the padding columns. Both variants in one process, alternating (2 cores of a
    // Zen 3, batch 32): the 32- and 16-column layers' forward took 0.85–0.90× the time, their
    // backward (whose input gradient runs here) 0.93–0.95×, a step 0.96× (64×64 network) and
    // 0.95× (128×128).
    let in_place = blocked::rows_in_place(output.w);
    PADDED.with_borrow_mut(|padded| {
        padded.clear();
        padded.resize(cin * plane, 0.0);
        pad_sample(x, (input.h, input.w), pad, plane, padded);
        if in_place {
            for oy in 0..output.h {
                // SAFETY: every tap of output row oy (padded positions oy·wp onwards) reads
                // inside the padded sample (see `span`); row oy of the `cout` channels lies
                // inside `y`, channels output.h·output.w apart.
                unsafe {
                    blocked::conv(
                        packed,
                        (0, cout),
                        Operands {
                            x: padded.as_ptr().add(oy * wp),
                            x_rs: plane,
                            offsets: &offsets,
                            width: output.w,
                            dst: y.as_mut_ptr().add(oy * output.w),
                            dst_rs: output.h * output.w,
                            epilogue,
                        },
                    )
                };
            }
            return;
        }
        OUT.with_borrow_mut(|out| {
            out.resize(cout * TILE, 0.0);
            for q0 in (0..span).step_by(TILE) {
                let width = TILE.min(span - q0);
                // SAFETY: every tap of positions q0..q0+width reads inside the padded sample
                // (see `span`); `out` is cout × TILE.
                unsafe {
                    blocked::conv(
                        packed,
                        (0, cout),
                        Operands {
                            x: padded.as_ptr().add(q0),
                            x_rs: plane,
                            offsets: &offsets,
                            width,
                            dst: out.as_mut_ptr(),
                            dst_rs: TILE,
                            epilogue,
                        },
                    )
                };
                // The tile's valid positions (ox < output.w), one padded row at a time.
                let mut q = q0;
                while q < q0 + width {
                    let (oy, ox) = (q / wp, q % wp);
                    let row_end = (q - ox + wp).min(q0 + width);
                    let valid_end = (q - ox + output.w).min(q0 + width);
                    if q < valid_end {
                        let at = oy * output.w + ox;
                        let len = valid_end - q;
                        for (o, dst) in y.chunks_exact_mut(output.h * output.w).enumerate() {
                            dst[at..at + len].copy_from_slice(&out[o * TILE + q - q0..][..len]);
                        }
                    }
                    q = row_end;
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::conv2d::{conv2d_backward, conv2d_naive};
    use crate::cpu::fast::conv::testing::{stride1, values};

    /// Forward and input gradient against the definition and the reference backward, on sizes
    /// that are not multiples of the register block or the tile: a 1-channel stem, odd channel
    /// counts, planes wider than a tile, 3×3 and 5×5 kernels, padding 0, 1 and 2, with and
    /// without ReLU.
    #[test]
    fn matches_the_reference_on_odd_sizes() {
        if !blocked::available() {
            eprintln!("no AVX2 or AVX-512 here: the kernel is not used on this CPU");
            return;
        }
        for (cin, cout, h, w, k, pad, relu) in [
            (1, 9, 23, 29, 3, 1, false),
            (5, 13, 7, 11, 3, 1, true),
            (3, 17, 9, 6, 3, 0, false),
            (16, 8, 3, 2, 3, 1, false),
            (4, 6, 12, 13, 5, 2, false),
            // Rows written in place (16 columns and their multiples on AVX2 and AVX-512):
            // forward and input gradient, with ReLU and without, padding 1 and 2.
            (5, 11, 3, 16, 3, 1, true),
            (6, 9, 4, 32, 3, 1, false),
            (3, 7, 2, 48, 3, 1, false),
            (2, 5, 5, 48, 5, 2, true),
            // Winograd's where AVX-512 runs: rows of 8 tiles (an odd number of tile rows a
            // sample), of 10, and of 16 with more channels than a register block.
            (9, 7, 6, 16, 3, 1, true),
            (9, 7, 6, 16, 3, 1, false),
            (13, 10, 4, 20, 3, 1, false),
            (17, 19, 2, 32, 3, 1, false),
        ] {
            let batch = 3;
            let input = Shape::new(cin, h, w);
            let output = Shape::new(cout, h + 2 * pad + 1 - k, w + 2 * pad + 1 - k);
            let conv = stride1(cin, cout, k, pad, relu);
            let x = values(batch * input.len(), 3);
            let wt = values(cout * cin * k * k, 5);
            let b = values(cout, 7);
            let want = conv2d_naive(&x, batch, input, output, &conv, &wt, &b);
            // The blocked kernel everywhere, and Winograd's F(2×2, 3×3) where it applies.
            let mut forms = vec![Prepared::Blocked(pack_forward(&wt, cout, cin, k))];
            let prepared = prepare_forward(&wt, cout, cin, (k, pad), input);
            let winograd = winograd::applies(input, k, 1, pad);
            assert_eq!(matches!(prepared, Prepared::Winograd(_)), winograd);
            if winograd {
                forms.push(prepared);
            }
            for prepared in &forms {
                let mut got = vec![f32::NAN; batch * output.len()];
                let geometry = (input, output);
                forward(
                    prepared,
                    (k, pad),
                    Some(&b),
                    relu,
                    &x,
                    batch,
                    geometry,
                    &mut got,
                );
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!((g - e).abs() < 1e-4, "{conv:?} forward [{i}]: {g} != {e}");
                }
            }
            if relu {
                continue;
            }
            let dy = values(batch * output.len(), 11);
            let want = conv2d_backward(&x, &dy, batch, input, output, &conv, &wt, true).dx;
            let mut forms = vec![Prepared::Blocked(pack_input_grad(&wt, cout, cin, k))];
            let prepared = prepare_input_grad(&wt, cout, cin, (k, pad), output);
            let winograd = pad < k && winograd::applies(output, k, 1, k - 1 - pad);
            assert_eq!(matches!(prepared, Prepared::Winograd(_)), winograd);
            if winograd {
                forms.push(prepared);
            }
            for prepared in &forms {
                let mut got = vec![f32::NAN; batch * input.len()];
                input_grad(prepared, (k, pad), &dy, batch, (input, output), &mut got);
                for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (g - e).abs() < 1e-4,
                        "{conv:?} input gradient [{i}]: {g} != {e}"
                    );
                }
            }
        }
    }
}
