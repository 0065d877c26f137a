//! What the training loop needs from a backend: one step, the current parameters, Adam's
//! moments, and inference for validation. [`CpuEngine`] is the CPU backend; the GPU backend's
//! engine wraps `gpu::GpuTrainer`.

use super::error::TrainError;
use super::step::{Moments, StepOptions, cpu_step_in};
use crate::cpu::fast::FastNet;
use crate::cpu::train::Workspace;
use crate::gpu::{GpuContext, GpuNet, GpuTrainer};
use crate::net::{Network, Params, Program, Weights};

/// A backend that can train.
pub trait Engine {
    /// Backend and device, for the user.
    fn describe(&self) -> String;
    /// One optimization step on `batch` samples; returns the batch loss before the update.
    fn step(
        &mut self,
        input: &[f32],
        target: &[f32],
        batch: usize,
        options: &StepOptions,
    ) -> Result<f32, TrainError>;
    /// The current parameters (training form, running statistics included).
    fn params(&mut self) -> Result<Params, TrainError>;
    /// Adam's moments.
    fn moments(&mut self) -> Result<Moments, TrainError>;
    /// Replaces Adam's moments (resuming a run).
    fn set_moments(&mut self, moments: &Moments) -> Result<(), TrainError>;
    /// Runs `net` (inference form, made from [`params`](Self::params)) on a batch.
    fn infer(&mut self, net: &Network, input: &[f32], batch: usize)
    -> Result<Vec<f32>, TrainError>;
}

/// Training on the CPU backend.
pub struct CpuEngine {
    program: Program,
    params: Params,
    moments: Moments,
    /// Every buffer of a step, kept from step to step.
    workspace: Workspace,
    net: Option<(Params, FastNet)>,
}

impl CpuEngine {
    /// Starts from `weights`, with zero moments.
    pub fn new(weights: &Weights) -> CpuEngine {
        let program = Program::lrhn(&weights.config).expect("weights hold a valid config");
        CpuEngine {
            program,
            moments: Moments::zeros(&weights.tensors),
            params: weights.tensors.clone(),
            workspace: Workspace::new(),
            net: None,
        }
    }
}

impl Engine for CpuEngine {
    fn describe(&self) -> String {
        // The 3×3 convolutions take the register-blocked kernels where all of theirs run, and
        // Winograd's F(2×2, 3×3) where it applies (AVX-512); the stem is fused on every CPU
        // (`cpu::batch_norm::stem`, on `pulp`'s widest vectors).
        use crate::cpu::fast::conv::{weight_grad, winograd};
        let kernels = match weight_grad::best().filter(|_| weight_grad::runs(3, 1, 1)) {
            Some(isa) if winograd::runs_here() => format!(
                "3×3 convolutions as Winograd's F(2×2, 3×3) from 8 channels on planes 8 or more \
                 wide, else on {} register blocks, the rest im2col + SGEMM",
                isa.name()
            ),
            Some(isa) => format!(
                "3×3 convolutions on {} register blocks, the rest im2col + SGEMM",
                isa.name()
            ),
            None => "im2col + SGEMM".to_string(),
        };
        format!(
            "CPU backend ({} threads, {kernels}, the stem's convolution, batch norm, ReLU and \
             pooling as one op, buffers kept between steps)",
            rayon::current_num_threads()
        )
    }

    fn step(
        &mut self,
        input: &[f32],
        target: &[f32],
        batch: usize,
        options: &StepOptions,
    ) -> Result<f32, TrainError> {
        Ok(cpu_step_in(
            &mut self.workspace,
            &self.program,
            &mut self.params,
            &mut self.moments,
            input,
            target,
            batch,
            options,
        ))
    }

    fn params(&mut self) -> Result<Params, TrainError> {
        Ok(self.params.clone())
    }

    fn moments(&mut self) -> Result<Moments, TrainError> {
        Ok(self.moments.clone())
    }

    fn set_moments(&mut self, moments: &Moments) -> Result<(), TrainError> {
        self.moments = moments.clone();
        Ok(())
    }

    fn infer(
        &mut self,
        net: &Network,
        input: &[f32],
        batch: usize,
    ) -> Result<Vec<f32>, TrainError> {
        // Build the executor once per network (a validation pass runs many batches).
        if self.net.as_ref().is_none_or(|(p, _)| *p != net.params) {
            self.net = Some((net.params.clone(), FastNet::from_network(net)));
        }
        let (_, cpu) = self.net.as_mut().expect("built above");
        Ok(cpu.forward(&[input], batch)?)
    }
}

/// Training on the GPU backend: [`GpuTrainer`] runs each step on the device; validation runs
/// the lowered network with [`GpuNet`] on the same device.
pub struct GpuEngine {
    trainer: GpuTrainer,
    net: Option<(Params, GpuNet)>,
}

impl GpuEngine {
    /// Uploads `weights` and plans every buffer for steps of `batch` samples.
    pub fn new(ctx: GpuContext, weights: &Weights, batch: usize) -> Result<GpuEngine, TrainError> {
        let program = Program::lrhn(&weights.config).expect("weights hold a valid config");
        Ok(GpuEngine {
            trainer: GpuTrainer::new(ctx, program, &weights.tensors, batch)?,
            net: None,
        })
    }
}

impl Engine for GpuEngine {
    fn describe(&self) -> String {
        format!("GPU backend: {}", self.trainer.context().summary())
    }

    fn step(
        &mut self,
        input: &[f32],
        target: &[f32],
        _batch: usize,
        options: &StepOptions,
    ) -> Result<f32, TrainError> {
        Ok(self.trainer.step(input, target, options)?)
    }

    fn params(&mut self) -> Result<Params, TrainError> {
        Ok(self.trainer.params()?)
    }

    fn moments(&mut self) -> Result<Moments, TrainError> {
        Ok(self.trainer.moments()?)
    }

    fn set_moments(&mut self, moments: &Moments) -> Result<(), TrainError> {
        Ok(self.trainer.set_moments(moments)?)
    }

    fn infer(
        &mut self,
        net: &Network,
        input: &[f32],
        batch: usize,
    ) -> Result<Vec<f32>, TrainError> {
        if self.net.as_ref().is_none_or(|(p, _)| *p != net.params) {
            let gpu = GpuNet::from_network(self.trainer.context().clone(), net)?;
            self.net = Some((net.params.clone(), gpu));
        }
        let (_, gpu) = self.net.as_mut().expect("built above");
        Ok(gpu.forward(&[input], batch)?)
    }
}
