//! Compiling an inference program into the steps [`FastNet`](super::FastNet) runs: every tensor
//! gets a slot and a memory layout, weights are copied once into the form the kernels read, and
//! a few op pairs are fused (a convolution into the sum it feeds, an upsampling into the sum it
//! feeds). `steps.rs` says what a plan is made of, `compile.rs` how a program becomes one.

mod compile;
mod steps;

use super::conv::ConvKernel;
use crate::net::Shape;

pub use compile::compile;
pub use steps::{ConvMethod, ConvStep, ConvWeights, LinearStep, Step};

/// How a batch of one tensor lies in memory.
///
/// Convolutions see a batch as one wide matrix: with [`Layout::Cnhw`] (channels outermost, the
/// batch inside each channel) a 1×1 convolution of the whole batch is a single GEMM
/// `W[cout×cin] · X[cin × B·H·W]`, and a k×k one a GEMM over im2col tiles that may span samples.
/// Fully connected layers read each sample's features contiguously: [`Layout::Nchw`]. At batch
/// 1 the two are the same bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[batch][C][H][W]`: the caller's layout, and what fully connected layers read.
    Nchw,
    /// `[C][batch][H][W]`: what convolutions, pooling and per-channel maps read.
    Cnhw,
}

/// A tensor's place in the arena.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    /// Per-sample shape.
    pub shape: Shape,
    /// Memory layout of the batch.
    pub layout: Layout,
}

/// A compiled program: slots, steps (each with the label of the op it came from), the input
/// and output slots.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every tensor the steps touch.
    pub slots: Vec<Slot>,
    /// The steps, in order, each with the op label it came from.
    pub steps: Vec<(String, Step)>,
    /// The program's input slots (`Nchw`), in the order `forward` takes them.
    pub inputs: Vec<usize>,
    /// The output slot (`Nchw`).
    pub output: usize,
    /// The kernel of its pointwise, shifted and direct convolutions.
    pub conv_kernel: ConvKernel,
    /// The first step of the head: the fully connected part, from the first patch or fully
    /// connected layer on (`steps.len()` when there is none). When a batch is split between
    /// threads, the trunk runs in micro-batches and the head on the whole batch, so its weights
    /// are read once a batch rather than once a micro-batch.
    pub head: usize,
}

impl Plan {
    /// Slots the head reads that the trunk (or the caller) writes: what crosses from the
    /// micro-batches to the whole batch.
    pub fn boundary(&self) -> Vec<usize> {
        let mut written_before: Vec<bool> = vec![false; self.slots.len()];
        for &s in &self.inputs {
            written_before[s] = true;
        }
        for (_, step) in &self.steps[..self.head] {
            written_before[step.writes()] = true;
        }
        let mut out: Vec<usize> = self.steps[self.head..]
            .iter()
            .flat_map(|(_, s)| s.reads())
            .chain(std::iter::once(self.output))
            .filter(|&s| written_before[s])
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}
