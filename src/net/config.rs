//! The network's hyper-parameters: widths, depths and patch geometry.
//!
//! The paper leaves these open; the default follows DESIGN.md §1 (close to Newell's stacked
//! hourglass, Guo's region ensemble network and DeepPrior++). A config is stored in every
//! weights file so that a file is self-describing.

use serde::{Deserialize, Serialize};

/// Why a [`NetConfig`] cannot describe a network.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A width or size is zero.
    #[error("net config: `{field}` must be at least 1, found 0")]
    Zero {
        /// The offending field.
        field: &'static str,
    },
    /// A spatial size does not survive the pooling that the architecture applies to it.
    #[error(
        "net config: `input_size` {input_size} must be divisible by {required} \
         (three 2× poolings, then {hourglass_order} more inside the hourglass at {hourglass_size}×{hourglass_size}); \
         try {suggestion}"
    )]
    NotDivisible {
        /// The configured input size.
        input_size: u32,
        /// What the input size must be a multiple of.
        required: u32,
        /// The configured hourglass order.
        hourglass_order: u32,
        /// The feature-map size the hourglass runs at.
        hourglass_size: u32,
        /// The nearest valid input size.
        suggestion: u32,
    },
    /// The patch grid does not tile the head's feature map.
    #[error(
        "net config: a {grid}×{grid} patch grid does not tile the {size}×{size} head feature map \
         (input_size {input_size} / 8); choose a grid that divides {size}"
    )]
    PatchGrid {
        /// The configured grid.
        grid: u32,
        /// The head feature map's side.
        size: u32,
        /// The configured input size.
        input_size: u32,
    },
    /// The residual blocks halve their width in the bottleneck, so widths must be even.
    #[error(
        "net config: `{field}` must be even (residual bottlenecks use half of it), found {value}"
    )]
    Odd {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: u32,
    },
    /// The config does not fit in the sizes the GPU kernels index with.
    #[error("net config: `{field}` = {value} is larger than the supported {max}")]
    TooLarge {
        /// The offending field.
        field: &'static str,
        /// Its value.
        value: u32,
        /// The largest supported value.
        max: u32,
    },
}

/// Hyper-parameters of the local regression based hourglass network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    /// Side of the square, normalized depth crop the network sees.
    pub input_size: u32,
    /// Channels of the stem convolution.
    pub stem_channels: u32,
    /// Output channels of the first residual block.
    pub res1_channels: u32,
    /// Channels of the second residual block and of the whole hourglass.
    pub features: u32,
    /// Recursion depth of the hourglass (the paper's "third-order" hourglass is 3).
    pub hourglass_order: u32,
    /// Channels of the head's 1×1 convolution, the map that is cut into patches.
    pub head_channels: u32,
    /// The head map is cut into `patch_grid × patch_grid` patches, each regressed on its own.
    pub patch_grid: u32,
    /// Output width of each patch's fully connected layer.
    pub local_features: u32,
    /// Width of the hidden global fully connected layer.
    pub global_features: u32,
    /// Joints the network predicts (NYU: 36 minus the location prior).
    pub joints: u32,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            input_size: 128,
            stem_channels: 32,
            res1_channels: 64,
            features: 128,
            hourglass_order: 3,
            head_channels: 32,
            patch_grid: 2,
            local_features: 256,
            global_features: 1024,
            joints: 35,
        }
    }
}

impl NetConfig {
    /// A tiny configuration with the same topology, for fast tests.
    pub fn tiny() -> Self {
        Self {
            input_size: 32,
            stem_channels: 4,
            res1_channels: 6,
            features: 8,
            hourglass_order: 2,
            head_channels: 4,
            patch_grid: 2,
            local_features: 12,
            global_features: 16,
            joints: 5,
        }
    }

    /// Checks that the config describes a network that can be built.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fields = [
            ("input_size", self.input_size),
            ("stem_channels", self.stem_channels),
            ("res1_channels", self.res1_channels),
            ("features", self.features),
            ("hourglass_order", self.hourglass_order),
            ("head_channels", self.head_channels),
            ("patch_grid", self.patch_grid),
            ("local_features", self.local_features),
            ("global_features", self.global_features),
            ("joints", self.joints),
        ];
        for (field, value) in fields {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
            // Keeps every per-sample tensor size comfortably inside u32 arithmetic in WGSL.
            let max = if field == "hourglass_order" { 8 } else { 4096 };
            if value > max {
                return Err(ConfigError::TooLarge { field, value, max });
            }
        }
        for (field, value) in [
            ("res1_channels", self.res1_channels),
            ("features", self.features),
        ] {
            if !value.is_multiple_of(2) {
                return Err(ConfigError::Odd { field, value });
            }
        }
        let required = 8u32 << self.hourglass_order;
        if !self.input_size.is_multiple_of(required) {
            let suggestion = (self.input_size / required).max(1) * required;
            return Err(ConfigError::NotDivisible {
                input_size: self.input_size,
                required,
                hourglass_order: self.hourglass_order,
                hourglass_size: self.input_size / 4,
                suggestion,
            });
        }
        let head = self.head_size();
        if !head.is_multiple_of(self.patch_grid) {
            return Err(ConfigError::PatchGrid {
                grid: self.patch_grid,
                size: head,
                input_size: self.input_size,
            });
        }
        Ok(())
    }

    /// Side of the feature map the hourglass runs at (input / 4).
    pub fn hourglass_size(&self) -> u32 {
        self.input_size / 4
    }

    /// Side of the head's feature map that is cut into patches (input / 8).
    pub fn head_size(&self) -> u32 {
        self.input_size / 8
    }

    /// Side of one local-regression patch.
    pub fn patch_size(&self) -> u32 {
        self.head_size() / self.patch_grid
    }

    /// Number of network outputs (joints × 3).
    pub fn outputs(&self) -> u32 {
        self.joints * 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_and_tiny_are_valid() {
        NetConfig::default().validate().unwrap();
        NetConfig::tiny().validate().unwrap();
        assert_eq!(NetConfig::default().patch_size(), 8);
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        let c = NetConfig {
            input_size: 100,
            ..NetConfig::default()
        };
        let e = c.validate().unwrap_err();
        assert!(
            matches!(
                e,
                ConfigError::NotDivisible {
                    required: 64,
                    suggestion: 64,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("divisible by 64"));

        let c = NetConfig {
            patch_grid: 3,
            ..NetConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::PatchGrid {
                grid: 3,
                size: 16,
                ..
            })
        ));

        let c = NetConfig {
            joints: 0,
            ..NetConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::Zero { field: "joints" }));

        let c = NetConfig {
            features: 127,
            ..NetConfig::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Odd {
                field: "features",
                ..
            })
        ));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let json = r#"{"input_size":128,"stem_channels":32,"res1_channels":64,"features":128,
            "hourglass_order":3,"head_channels":32,"patch_grid":2,"local_features":256,
            "global_features":1024,"joints":35,"typo":1}"#;
        assert!(serde_json::from_str::<NetConfig>(json).is_err());
    }
}
