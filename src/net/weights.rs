//! Network weights: initialization and safetensors files.
//!
//! A weights file holds the training-form parameters (batch-norm statistics included) under
//! names that read like the architecture (`stem.conv.weight`, `hourglass.low.res.bn1.running_var`,
//! `local.2.fc.weight`), and the [`NetConfig`] as JSON in the file's metadata, so any file is
//! self-describing. Values are stored as f32 or f16 and always computed with in f32.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::Labels;
use crate::files::{WriteError, write_atomic};

use super::config::{ConfigError, NetConfig};
use super::program::{Op, Program};
use super::tensor::{Params, Tensor};

/// Metadata key holding the config JSON.
pub const CONFIG_KEY: &str = "hourhand.config";
/// Metadata key naming the label convention the weights were trained on
/// ([`Labels::name`]); absent means [`Labels::Anatomical`], the convention of every model
/// trained before it was written.
pub const LABELS_KEY: &str = "hourhand.labels";

/// How values are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Storage {
    /// 32-bit floats: exact.
    F32,
    /// 16-bit floats: half the size; about 3 significant digits.
    F16,
}

/// What went wrong reading or writing a weights file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file exists and overwriting was not asked for.
    #[error("{path}: already exists; refusing to overwrite it (pass --force to replace it)")]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The file is not a well-formed safetensors file (truncated, corrupt header, …).
    #[error(
        "{path}: not a valid safetensors file ({source}); the file may be truncated or corrupt"
    )]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser found.
        source: safetensors::SafeTensorError,
    },
    /// The file has no hourhand config in its metadata.
    #[error(
        "{path}: no `{CONFIG_KEY}` entry in the safetensors metadata; this is not an hourhand weights \
         file (make one with `hourhand init` or `hourhand train`)"
    )]
    NoConfig {
        /// The file.
        path: PathBuf,
    },
    /// The label convention in the metadata is not one hourhand knows.
    #[error(
        "{path}: the `{LABELS_KEY}` metadata is \"{value}\"; expected {}",
        Labels::expected()
    )]
    Labels {
        /// The file.
        path: PathBuf,
        /// What it says.
        value: String,
    },
    /// The config in the metadata is not valid JSON for a [`NetConfig`].
    #[error("{path}: the `{CONFIG_KEY}` metadata is not a valid net config: {source}")]
    ConfigJson {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The config parses but describes no buildable network.
    #[error("{path}: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: ConfigError,
    },
    /// The tensors do not match what the config's network needs.
    #[error("{path}: the tensors do not match the network its config describes:{details}")]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// One line per missing, unexpected or mis-shaped tensor.
        details: String,
    },
    /// A tensor is stored in a type hourhand does not read.
    #[error("{path}: tensor `{tensor}` is stored as {dtype:?}; expected F32, F16 or BF16")]
    Dtype {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// Its stored type.
        dtype: Dtype,
    },
    /// A tensor holds NaN or infinity.
    #[error(
        "{path}: tensor `{tensor}` holds a non-finite value (NaN or infinity) at index {index}"
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The tensor.
        tensor: String,
        /// First bad element.
        index: usize,
    },
}

impl From<WriteError> for WeightsError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Exists { path } => WeightsError::Exists { path },
            WriteError::Io { path, source } => WeightsError::Io { path, source },
        }
    }
}

/// The parameters of one network, with the config that shapes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    /// The architecture these weights belong to.
    pub config: NetConfig,
    /// Training-form parameters by name.
    pub tensors: Params,
    /// The label convention of the joints they predict: the convention of the data they were
    /// trained on, which re-centring a crop on the predicted palm needs.
    pub labels: Labels,
}

impl Weights {
    /// Freshly initialized weights: He-uniform convolutions and hidden layers, PyTorch-style
    /// uniform biases, identity batch norm. The same seed gives the same weights.
    pub fn init(config: &NetConfig, seed: u64) -> Result<Self, ConfigError> {
        config.validate()?;
        let program = Program::lrhn(config).expect("a valid config builds a valid program");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut tensors = Params::new();
        let last = program.ops.iter().rev().find_map(|op| match op {
            Op::Linear(l) => Some(l.name.clone()),
            _ => None,
        });
        for op in &program.ops {
            let (fan_in, gain) = match op {
                Op::Conv2d(c) => (c.cin * c.kernel * c.kernel, 2.0),
                // The output layer is followed by no ReLU.
                Op::Linear(l) => (
                    l.inputs,
                    if Some(&l.name) == last.as_ref() {
                        1.0
                    } else {
                        2.0
                    },
                ),
                _ => (0, 0.0),
            };
            for (name, shape) in op.params() {
                let n: usize = shape.iter().product();
                let data: Vec<f32> = if name.ends_with(".weight") && fan_in > 0 {
                    let bound = (3.0 * gain / fan_in as f32).sqrt();
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                } else if name.ends_with(".bias") && fan_in > 0 {
                    let bound = 1.0 / (fan_in as f32).sqrt();
                    (0..n).map(|_| rng.random_range(-bound..bound)).collect()
                } else if name.ends_with(".weight") || name.ends_with(".running_var") {
                    vec![1.0; n]
                } else {
                    vec![0.0; n]
                };
                tensors.insert(name, Tensor::new(shape, data));
            }
        }
        Ok(Self {
            config: config.clone(),
            tensors,
            labels: Labels::Anatomical,
        })
    }

    /// Gives every batch norm random but plausible statistics and affine parameters, so that
    /// tests exercise batch-norm folding instead of an identity.
    pub fn perturb_batch_norm(&mut self, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let program = Program::lrhn(&self.config).expect("weights hold a valid config");
        for op in &program.ops {
            if let Op::BatchNorm(bn) = op {
                for (suffix, lo, hi) in [
                    ("weight", 0.5, 1.5),
                    ("bias", -0.2, 0.2),
                    ("running_mean", -0.2, 0.2),
                    ("running_var", 0.5, 2.0),
                ] {
                    let t = self
                        .tensors
                        .get_mut(&format!("{}.{suffix}", bn.name))
                        .expect("init created every parameter");
                    t.data
                        .iter_mut()
                        .for_each(|v| *v = rng.random_range(lo..hi));
                }
            }
        }
    }

    /// Number of scalar parameters (batch-norm statistics included).
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(Tensor::len).sum()
    }

    /// Serializes to safetensors bytes.
    pub fn to_bytes(&self, storage: Storage) -> Vec<u8> {
        self.to_bytes_with(storage, &Params::new(), &[])
    }

    /// Serializes with `extra` tensors (names outside the network's, e.g. `adam.m.…` in a
    /// training checkpoint) and extra metadata entries beside the config.
    pub fn to_bytes_with(
        &self,
        storage: Storage,
        extra: &Params,
        metadata: &[(&str, String)],
    ) -> Vec<u8> {
        let encoded: Vec<(String, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .chain(extra)
            .map(|(name, t)| {
                let bytes = match storage {
                    Storage::F32 => bytemuck::cast_slice(&t.data).to_vec(),
                    Storage::F16 => {
                        let h: Vec<half::f16> =
                            t.data.iter().map(|&v| half::f16::from_f32(v)).collect();
                        bytemuck::cast_slice(&h).to_vec()
                    }
                };
                (name.clone(), t.shape.clone(), bytes)
            })
            .collect();
        let dtype = match storage {
            Storage::F32 => Dtype::F32,
            Storage::F16 => Dtype::F16,
        };
        let views = encoded.iter().map(|(name, shape, bytes)| {
            (
                name.as_str(),
                TensorView::new(dtype, shape.clone(), bytes).expect("shape and byte length agree"),
            )
        });
        let config = serde_json::to_string(&self.config).expect("a config always serializes");
        // One metadata entry only: safetensors writes metadata in hash-map order, and a single
        // entry keeps the file byte-for-byte reproducible from the seed.
        let mut all = HashMap::from([(CONFIG_KEY.to_string(), config)]);
        // Written only where it is not the default, so such files stay one entry.
        if self.labels != Labels::Anatomical {
            all.insert(LABELS_KEY.to_string(), self.labels.name().to_string());
        }
        all.extend(metadata.iter().map(|(k, v)| (k.to_string(), v.clone())));
        safetensors::serialize(views, Some(all)).expect("well-formed tensors serialize")
    }

    /// Writes the weights to `path` atomically (a temporary file renamed into place), so an
    /// interrupted write never leaves a broken file. Refuses to replace an existing file unless
    /// `overwrite` is set.
    pub fn save(&self, path: &Path, storage: Storage, overwrite: bool) -> Result<(), WeightsError> {
        Ok(write_atomic(path, &self.to_bytes(storage), overwrite)?)
    }

    /// Reads weights from `path`, checking the config and every tensor's name, shape and values.
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let bytes = std::fs::read(path).map_err(|source| WeightsError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_bytes(&bytes, path)
    }

    /// Parses safetensors bytes; `path` is only used in error messages.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, WeightsError> {
        Ok(Self::from_bytes_with(bytes, path, None)?.0)
    }

    /// Like [`from_bytes`](Self::from_bytes), also accepting tensors whose names start with
    /// `extra_prefix` (returned separately, f32) and returning every metadata entry.
    pub fn from_bytes_with(
        bytes: &[u8],
        path: &Path,
        extra_prefix: Option<&str>,
    ) -> Result<(Self, Params, HashMap<String, String>), WeightsError> {
        let format = |source| WeightsError::Format {
            path: path.into(),
            source,
        };
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(format)?;
        let st = SafeTensors::deserialize(bytes).map_err(format)?;
        let json = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get(CONFIG_KEY))
            .ok_or_else(|| WeightsError::NoConfig { path: path.into() })?;
        let config: NetConfig =
            serde_json::from_str(json).map_err(|source| WeightsError::ConfigJson {
                path: path.into(),
                source,
            })?;
        config.validate().map_err(|source| WeightsError::Config {
            path: path.into(),
            source,
        })?;

        let expected: BTreeMap<String, Vec<usize>> = Program::lrhn(&config)
            .expect("a valid config builds a valid program")
            .params()
            .into_iter()
            .collect();
        let mut problems = Vec::new();
        for (name, shape) in &expected {
            match st.tensor(name) {
                Err(_) => problems.push(format!(
                    "missing tensor `{name}` (expected shape {shape:?})"
                )),
                Ok(view) if view.shape() != shape.as_slice() => problems.push(format!(
                    "tensor `{name}` has shape {:?}, expected {shape:?}",
                    view.shape()
                )),
                Ok(_) => {}
            }
        }
        let mut unexpected: Vec<&str> = st
            .names()
            .into_iter()
            .filter(|n| !expected.contains_key(*n))
            .filter(|n| !extra_prefix.is_some_and(|p| n.starts_with(p)))
            .collect();
        unexpected.sort_unstable();
        problems.extend(
            unexpected
                .iter()
                .map(|n| format!("unexpected tensor `{n}`")),
        );
        if !problems.is_empty() {
            let details = problems.iter().map(|p| format!("\n  - {p}")).collect();
            return Err(WeightsError::Mismatch {
                path: path.into(),
                details,
            });
        }

        let mut extras = Params::new();
        for name in st.names() {
            if expected.contains_key(name) {
                continue;
            }
            let view = st.tensor(name).map_err(format)?;
            let data = decode(view.dtype(), view.data()).ok_or_else(|| WeightsError::Dtype {
                path: path.into(),
                tensor: name.to_string(),
                dtype: view.dtype(),
            })?;
            extras.insert(name.to_string(), Tensor::new(view.shape().to_vec(), data));
        }
        let all_metadata = metadata.metadata().clone().unwrap_or_default();
        let labels = match all_metadata.get(LABELS_KEY) {
            None => Labels::Anatomical,
            Some(value) => Labels::from_name(value).ok_or_else(|| WeightsError::Labels {
                path: path.into(),
                value: value.clone(),
            })?,
        };
        let mut tensors = Params::new();
        for (name, shape) in expected {
            let view = st.tensor(&name).map_err(format)?;
            let data = decode(view.dtype(), view.data()).ok_or_else(|| WeightsError::Dtype {
                path: path.into(),
                tensor: name.clone(),
                dtype: view.dtype(),
            })?;
            if let Some(index) = data.iter().position(|v| !v.is_finite()) {
                return Err(WeightsError::NonFinite {
                    path: path.into(),
                    tensor: name,
                    index,
                });
            }
            tensors.insert(name, Tensor::new(shape, data));
        }
        Ok((
            Self {
                config,
                tensors,
                labels,
            },
            extras,
            all_metadata,
        ))
    }
}

/// Little-endian f32/f16/bf16 bytes to f32, or `None` for other types.
fn decode(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    let words = |n: usize| bytes.chunks_exact(n);
    Some(match dtype {
        Dtype::F32 => words(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => words(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => words(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}
