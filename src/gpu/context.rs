//! Choosing an adapter and holding the device the network runs on.
//!
//! A [`GpuContext`] either creates its own device from the user's choice (`--backend`,
//! `--adapter`, or `WGPU_BACKEND` / `WGPU_ADAPTER_NAME`) or wraps a device and queue that
//! somebody else created — the viewer passes its own, so inference and drawing share one device.

use std::fmt;
use std::sync::{Arc, Mutex};

use super::GpuError;
use super::kernels::KernelSet;
use super::pipeline_cache::PipelineCache;

/// What the user asked for; empty means "the best adapter there is".
#[derive(Debug, Clone, Default)]
pub struct AdapterRequest {
    /// Restrict the search to these backends (default: `WGPU_BACKEND`, else all).
    pub backends: Option<wgpu::Backends>,
    /// Pick the first adapter whose name contains this (case-insensitive).
    pub adapter: Option<String>,
}

impl AdapterRequest {
    fn backends(&self) -> wgpu::Backends {
        self.backends
            .or_else(wgpu::Backends::from_env)
            .unwrap_or(wgpu::Backends::all())
    }
}

/// Why no device could be had.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// No adapter on the requested backends.
    #[error(
        "no GPU adapter found on backends {backends:?}. On a CPU-only Linux machine install Debian's \
         `mesa-vulkan-drivers` (lavapipe, a software Vulkan device), or run with `--backend cpu`"
    )]
    NoAdapter {
        /// The backends searched.
        backends: wgpu::Backends,
    },
    /// No adapter matches the requested name.
    #[error("no adapter name contains {wanted:?}; available adapters:{available}")]
    NoMatch {
        /// The requested name.
        wanted: String,
        /// One line per adapter found.
        available: String,
    },
    /// The adapter refused to create a device.
    #[error("adapter {adapter:?} could not create a device: {source}")]
    Device {
        /// The adapter's name.
        adapter: String,
        /// wgpu's reason.
        source: wgpu::RequestDeviceError,
    },
}

/// One adapter, described for people.
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    /// wgpu's description.
    pub info: wgpu::AdapterInfo,
    /// Whether it can time GPU work (per-layer timings).
    pub timestamps: bool,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.info;
        let driver = [i.driver.as_str(), i.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        write!(
            f,
            "{} ({:?}, {}, driver: {})",
            i.name,
            i.backend,
            device_type_name(i.device_type),
            if driver.is_empty() {
                "unknown"
            } else {
                &driver
            }
        )
    }
}

/// Human name of a device type.
pub fn device_type_name(t: wgpu::DeviceType) -> &'static str {
    match t {
        wgpu::DeviceType::DiscreteGpu => "discrete GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software (CPU)",
        wgpu::DeviceType::Other => "other",
    }
}

/// Preference when nothing is named: real GPUs before virtual and software ones.
fn rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Native backends before GL, which lacks compute features on some drivers.
fn backend_rank(b: wgpu::Backend) -> u8 {
    match b {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu finds on the requested backends.
pub fn list_adapters(request: &AdapterRequest) -> Vec<AdapterSummary> {
    let instance = instance(request.backends());
    pollster::block_on(instance.enumerate_adapters(request.backends()))
        .iter()
        .map(|a| AdapterSummary {
            info: a.get_info(),
            timestamps: a.features().contains(wgpu::Features::TIMESTAMP_QUERY),
        })
        .collect()
}

/// The device and queue the network runs on, with what they are.
#[derive(Debug, Clone)]
pub struct GpuContext {
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter behind it.
    pub info: wgpu::AdapterInfo,
    /// Why this adapter was picked (for `info` and logs).
    pub reason: String,
    /// What the adapter could do (what later kernel variants may use: `SHADER_F16`,
    /// `SUBGROUP`, `PIPELINE_CACHE`), whether or not the device asked for it.
    pub adapter_features: wgpu::Features,
    /// What the adapter can do below WebGPU's baseline, or beside it (`SHADER_F16_IN_F32`,
    /// which the "-f16" kernel sets need).
    pub downlevel: wgpu::DownlevelFlags,
    /// The kernel variants networks built on this context run: by default the adapter's
    /// ([`KernelSet::for_adapter`]), or what [`with_kernels`](Self::with_kernels) set.
    pub kernels: KernelSet,
    /// Compiled kernels kept on disk between runs, where the device has a pipeline cache.
    pub pipeline_cache: Option<Arc<PipelineCache>>,
    /// What the device reported outside any error scope: its loss, or an error. wgpu's default
    /// for such an error is a panic; here it is kept and turned into an error by
    /// [`check`](Self::check), so a driver reset or a bad dispatch never takes the process (or
    /// the viewer's window) down.
    health: Arc<Health>,
}

/// What went wrong on a device, as its callbacks reported it.
#[derive(Debug, Default)]
struct Health {
    lost: Mutex<Option<String>>,
    error: Mutex<Option<String>>,
}

impl Health {
    /// Installs the device's lost callback and uncaptured-error handler, which record here.
    fn watch(device: &wgpu::Device) -> Arc<Health> {
        let health = Arc::new(Health::default());
        let lost = Arc::downgrade(&health);
        device.set_device_lost_callback(move |reason, message| {
            log::error!("the GPU device was lost ({reason:?}): {message}");
            if let Some(h) = lost.upgrade() {
                let why = if message.is_empty() {
                    format!("{reason:?}")
                } else {
                    message
                };
                h.lost
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(why);
            }
        });
        let errors = Arc::downgrade(&health);
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            log::error!("GPU error: {error}");
            if let Some(h) = errors.upgrade() {
                let mut first = h.error.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| error.to_string());
            }
        }));
        health
    }
}

impl GpuContext {
    /// Picks an adapter as `request` says and creates a device on it, asking for timestamp
    /// queries where the adapter has them and for WebGPU's default limits where it meets them.
    pub fn new(request: &AdapterRequest) -> Result<Self, ContextError> {
        let backends = request.backends();
        let instance = instance(backends);
        let adapters = pollster::block_on(instance.enumerate_adapters(backends));
        if adapters.is_empty() {
            return Err(ContextError::NoAdapter { backends });
        }
        let wanted = request.adapter.clone().or_else(|| {
            std::env::var("WGPU_ADAPTER_NAME")
                .ok()
                .filter(|s| !s.is_empty())
        });
        let count = adapters.len();
        let (adapter, reason) = match &wanted {
            Some(name) => {
                let lower = name.to_lowercase();
                let found = adapters
                    .iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&lower));
                match found {
                    Some(a) => (
                        a.clone(),
                        format!("its name matches the requested adapter {name:?}"),
                    ),
                    None => {
                        let available = adapters
                            .iter()
                            .map(|a| {
                                format!(
                                    "\n  - {}",
                                    AdapterSummary {
                                        info: a.get_info(),
                                        timestamps: false
                                    }
                                )
                            })
                            .collect();
                        return Err(ContextError::NoMatch {
                            wanted: name.clone(),
                            available,
                        });
                    }
                }
            }
            None => {
                let best = adapters
                    .iter()
                    .min_by_key(|a| {
                        let i = a.get_info();
                        (rank(i.device_type), backend_rank(i.backend))
                    })
                    .expect("not empty");
                let t = device_type_name(best.get_info().device_type);
                let reason = if count == 1 {
                    "the only adapter found".to_string()
                } else {
                    format!(
                        "the most capable device type ({t}) among {count} adapters; pass --adapter NAME to choose another"
                    )
                };
                (best.clone(), reason)
            }
        };
        let info = adapter.get_info();
        let mut features = wgpu::Features::empty();
        // Timestamps for per-layer timing; subgroups for the subgroups kernel set; a pipeline
        // cache to keep compiled kernels between runs.
        for wanted in [
            wgpu::Features::TIMESTAMP_QUERY,
            wgpu::Features::SUBGROUP,
            wgpu::Features::PIPELINE_CACHE,
        ] {
            if adapter.features().contains(wanted) {
                features |= wanted;
            }
        }
        let defaults = wgpu::Limits::default();
        // Stay inside WebGPU's defaults so the same shaders run everywhere; GL adapters that
        // fall short get what they have.
        let limits = if adapter.limits().check_limits(&defaults) {
            defaults
        } else {
            adapter.limits()
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("hourhand"),
            required_features: features,
            required_limits: limits,
            ..Default::default()
        }))
        .map_err(|source| ContextError::Device {
            adapter: info.name.clone(),
            source,
        })?;
        let health = Health::watch(&device);
        Ok(Self {
            adapter_features: adapter.features(),
            downlevel: adapter.get_downlevel_capabilities().flags,
            kernels: KernelSet::for_adapter(info.device_type),
            pipeline_cache: PipelineCache::open(&device, &info).map(Arc::new),
            device,
            queue,
            info,
            reason,
            health,
        })
    }

    /// Wraps a device and queue created elsewhere (the viewer's).
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue, info: wgpu::AdapterInfo) -> Self {
        let health = Health::watch(&device);
        Self {
            adapter_features: device.features(),
            // Unknown without the adapter: sets that need a downlevel capability are refused.
            downlevel: wgpu::DownlevelFlags::empty(),
            kernels: KernelSet::for_adapter(info.device_type),
            pipeline_cache: PipelineCache::open(&device, &info).map(Arc::new),
            device,
            queue,
            info,
            reason: "shared with the caller".into(),
            health,
        }
    }

    /// The same device with networks built on it running the variants of `kernels` (which
    /// [`check_kernels`](Self::check_kernels) holds to the device's features).
    pub fn with_kernels(mut self, kernels: KernelSet) -> Self {
        self.kernels = kernels;
        self
    }

    /// An error when the device lacks a feature the kernel set needs (a set forced with
    /// [`with_kernels`](Self::with_kernels)); networks and trainers check this when made.
    pub fn check_kernels(&self) -> Result<(), GpuError> {
        let needs = if !self
            .device
            .features()
            .contains(self.kernels.required_features())
        {
            "subgroup operations (the SUBGROUP feature)"
        } else if !self.downlevel.contains(self.kernels.required_downlevel()) {
            "f16 unpacking in shaders (the SHADER_F16_IN_F32 capability)"
        } else {
            return Ok(());
        };
        Err(GpuError::KernelsUnsupported {
            kernels: self.kernels,
            adapter: self.info.name.clone(),
            needs,
        })
    }

    /// Whether the device is still usable: an error once it was lost, or once it reported an
    /// error outside an error scope (kept until then by the handlers this context installed).
    pub fn check(&self) -> Result<(), GpuError> {
        let adapter = self.info.name.clone();
        if let Some(reason) = self
            .health
            .lost
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Err(GpuError::DeviceLost { adapter, reason });
        }
        let error = self
            .health
            .error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        match error {
            Some(message) => Err(GpuError::Device { adapter, message }),
            None => Ok(()),
        }
    }

    /// Whether GPU work can be timed per layer.
    pub fn has_timestamps(&self) -> bool {
        self.device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    /// The adapter, described for people.
    pub fn summary(&self) -> AdapterSummary {
        AdapterSummary {
            info: self.info.clone(),
            timestamps: self.has_timestamps(),
        }
    }
}
