//! Kernel sets: which variant of a kernel runs, chosen per adapter. The WGSL kernels were first
//! written for lavapipe (software Vulkan on CPU cores), where workgroup memory and barriers are
//! slow and barrier-free register blocks win; on a GPU the usual trade holds instead, and a
//! convolution tiled through workgroup memory reuses each load across a whole workgroup, or so
//! we expected. The first real GPU to run them (an NVIDIA H200, 2026-12-04) ran every
//! register-blocked convolution 3–7 times faster than its tiled twin, and the split-K GEMVs 19–33
//! times faster than the register-blocked fully connected kernel: GPUs get
//! [`KernelSet::BlockedGemv`], the best of each.
//! Every set computes the same function and passes the same GPU-vs-CPU tests (on lavapipe,
//! which runs workgroup memory and subgroups correctly, if slowly; the "-f16" sets against
//! the CPU on the same weights rounded to f16); `bench --kernels` forces one.

use std::fmt;
use std::str::FromStr;

/// A set of kernel variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KernelSet {
    /// Barrier-free register blocks without workgroup memory: what lavapipe runs fastest.
    #[default]
    RegisterBlocked,
    /// Convolutions as implicit GEMMs tiled through workgroup memory (64 × 64 tiles, 8 × 8 per
    /// invocation), fully connected layers as split-K GEMVs at small batches and as that GEMM
    /// beyond; the other ops, and every backward in training, as in
    /// [`KernelSet::RegisterBlocked`]. For GPUs.
    Tiled,
    /// [`KernelSet::Tiled`], with the split-K GEMVs' partial sums added by subgroup operations
    /// instead of a tree of barriers. For GPUs with the `SUBGROUP` feature.
    Subgroups,
    /// [`KernelSet::Tiled`] with the convolution and fully connected weights stored as f16
    /// (read into f32, summed in f32): half the weight memory and traffic, the weights
    /// rounded to 11 significant bits. Inference only; never chosen by default.
    TiledF16,
    /// [`KernelSet::Subgroups`] with f16 weights, as [`KernelSet::TiledF16`].
    SubgroupsF16,
    /// [`KernelSet::RegisterBlocked`], with the fully connected layers as the split-K GEMVs of
    /// [`KernelSet::Tiled`] at every batch size (a workgroup per output and 4 samples, instead
    /// of an invocation looping over all inputs for 4 outputs × 4 samples). For GPUs: on an
    /// H200 at batch 1, 0.013 ms against 0.43 for a 2048 → 256 layer.
    BlockedGemv,
}

impl KernelSet {
    /// Every set, in the order reports list them.
    pub const ALL: [KernelSet; 6] = [
        KernelSet::RegisterBlocked,
        KernelSet::BlockedGemv,
        KernelSet::Tiled,
        KernelSet::Subgroups,
        KernelSet::TiledF16,
        KernelSet::SubgroupsF16,
    ];

    /// The name `bench` reports and `--kernels` takes.
    pub fn name(self) -> &'static str {
        match self {
            KernelSet::RegisterBlocked => "register-blocked",
            KernelSet::BlockedGemv => "blocked-gemv",
            KernelSet::Tiled => "tiled",
            KernelSet::Subgroups => "subgroups",
            KernelSet::TiledF16 => "tiled-f16",
            KernelSet::SubgroupsF16 => "subgroups-f16",
        }
    }

    /// Whether the convolution and fully connected weights are stored as f16.
    pub fn f16_weights(self) -> bool {
        matches!(self, KernelSet::TiledF16 | KernelSet::SubgroupsF16)
    }

    /// The same set with f32 weights: what to train with where an "-f16" set was asked for.
    pub fn with_f32_weights(self) -> KernelSet {
        match self {
            KernelSet::TiledF16 => KernelSet::Tiled,
            KernelSet::SubgroupsF16 => KernelSet::Subgroups,
            other => other,
        }
    }

    /// Whether the GEMVs reduce with subgroup operations.
    pub fn subgroups(self) -> bool {
        matches!(self, KernelSet::Subgroups | KernelSet::SubgroupsF16)
    }

    /// Whether convolutions run as tiled implicit GEMMs (and fully connected layers as GEMVs
    /// or that GEMM).
    pub fn is_tiled(self) -> bool {
        !matches!(self, KernelSet::RegisterBlocked | KernelSet::BlockedGemv)
    }

    /// Whether fully connected layers run as split-K GEMVs (in the tiled sets, up to
    /// [`SPLIT_MAX_BATCH`](super::linear::SPLIT_MAX_BATCH) samples; in
    /// [`KernelSet::BlockedGemv`], at every batch size).
    pub fn gemv(self) -> bool {
        self != KernelSet::RegisterBlocked
    }

    /// The downlevel capabilities the set's kernels need: the "-f16" sets unpack f16 pairs
    /// (`unpack2x16float`), which wgpu gates behind `SHADER_F16_IN_F32` (on lavapipe, present
    /// where `SHADER_F16` is).
    pub fn required_downlevel(self) -> wgpu::DownlevelFlags {
        if self.f16_weights() {
            wgpu::DownlevelFlags::SHADER_F16_IN_F32
        } else {
            wgpu::DownlevelFlags::empty()
        }
    }

    /// The device features the set's kernels need.
    pub fn required_features(self) -> wgpu::Features {
        if self.subgroups() {
            wgpu::Features::SUBGROUP
        } else {
            wgpu::Features::empty()
        }
    }

    /// The set for an adapter of this type: register blocks on a CPU device (lavapipe,
    /// SwiftShader) or one of unknown type; on integrated, discrete and virtual GPUs, register
    /// blocks with split-K GEMVs. The tiled sets were meant for GPUs, but on the one GPU that
    /// has run them they were 2.5–4.7 times slower over the whole network (see the module's
    /// doc); they stay for `--kernels` and for GPUs where they may yet win.
    pub fn for_adapter(device_type: wgpu::DeviceType) -> KernelSet {
        match device_type {
            wgpu::DeviceType::IntegratedGpu
            | wgpu::DeviceType::DiscreteGpu
            | wgpu::DeviceType::VirtualGpu => KernelSet::BlockedGemv,
            wgpu::DeviceType::Cpu | wgpu::DeviceType::Other => KernelSet::RegisterBlocked,
        }
    }
}

impl fmt::Display for KernelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for KernelSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KernelSet::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = KernelSet::ALL.iter().map(|k| k.name()).collect();
                format!("unknown kernel set `{s}` (known: {})", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_say_what_exists() {
        for k in KernelSet::ALL {
            assert_eq!(k.name().parse::<KernelSet>(), Ok(k));
        }
        let e = "fast".parse::<KernelSet>().unwrap_err();
        assert!(
            e.contains("register-blocked") && e.contains("tiled") && e.contains("subgroups-f16"),
            "{e}"
        );
    }

    #[test]
    fn every_set_has_an_f32_twin() {
        for set in KernelSet::ALL {
            let twin = set.with_f32_weights();
            assert!(!twin.f16_weights(), "{set}");
            assert_eq!(twin.subgroups(), set.subgroups(), "{set}");
            assert_eq!(twin.is_tiled(), set.is_tiled(), "{set}");
            if !set.f16_weights() {
                assert_eq!(twin, set);
            }
        }
    }

    #[test]
    fn lavapipe_keeps_the_register_blocks_and_gpus_add_the_gemvs() {
        use wgpu::DeviceType;
        let set = KernelSet::for_adapter;
        assert_eq!(set(DeviceType::Cpu), KernelSet::RegisterBlocked);
        assert_eq!(set(DeviceType::Other), KernelSet::RegisterBlocked);
        for gpu in [
            DeviceType::DiscreteGpu,
            DeviceType::IntegratedGpu,
            DeviceType::VirtualGpu,
        ] {
            assert_eq!(set(gpu), KernelSet::BlockedGemv);
        }
    }
}
