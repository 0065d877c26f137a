//! The driver's compiled kernels kept on disk between runs, where the backend has a pipeline
//! cache (wgpu's `PIPELINE_CACHE`: Vulkan). Compiling every kernel of the network is most of
//! what starting the GPU backend costs; with the cache the driver skips its own compilation of
//! kernels it has seen.
//!
//! One file per adapter and driver (`wgpu::util::pipeline_cache_key`), in
//! `$HOURHAND_CACHE_DIR` or the platform's cache folder (`~/.cache/hourhand` on Linux).
//! `HOURHAND_PIPELINE_CACHE=off` turns it off. A file that is unreadable, truncated or
//! altered is ignored (it carries a CRC-32 of its data, which wgpu does not check) and
//! replaced at the next save; a failed save is logged, never fatal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The file's first bytes.
const MAGIC: &[u8; 8] = b"HHPCACHE";

/// A device's pipeline cache and the file it persists to.
#[derive(Debug)]
pub struct PipelineCache {
    cache: wgpu::PipelineCache,
    path: PathBuf,
    /// The CRC of the data last read or written, so unchanged data is not written again.
    saved: Mutex<Option<u32>>,
}

impl PipelineCache {
    /// The cache for `device` on the adapter `info` describes, filled from its file if one
    /// is there; `None` where the device has no pipeline cache, the adapter has no cache key,
    /// no cache folder is known, or `HOURHAND_PIPELINE_CACHE=off`.
    pub fn open(device: &wgpu::Device, info: &wgpu::AdapterInfo) -> Option<Self> {
        if !device.features().contains(wgpu::Features::PIPELINE_CACHE)
            || std::env::var("HOURHAND_PIPELINE_CACHE").is_ok_and(|v| v == "off")
        {
            return None;
        }
        let key = wgpu::util::pipeline_cache_key(info)?;
        let dir = std::env::var_os("HOURHAND_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| dirs::cache_dir().map(|d| d.join("hourhand")))?;
        let path = dir.join(key);
        let data = std::fs::read(&path).ok().and_then(|bytes| {
            let data = unframe(&bytes);
            if data.is_none() {
                log::warn!(
                    "{}: not a pipeline cache this version wrote, or damaged; ignored, and replaced at the next save",
                    path.display()
                );
            }
            data.map(<[u8]>::to_vec)
        });
        let saved = data.as_deref().map(crc32fast::hash);
        // SAFETY: `data` is what `get_data` returned for an adapter with this cache key (the
        // file name), as its CRC, checked above, shows; wgpu checks its own header in it too,
        // and `fallback` makes data it cannot use an empty cache rather than an error.
        let cache = unsafe {
            device.create_pipeline_cache(&wgpu::PipelineCacheDescriptor {
                label: Some("hourhand pipelines"),
                data: data.as_deref(),
                fallback: true,
            })
        };
        Some(Self {
            cache,
            path,
            saved: Mutex::new(saved),
        })
    }

    /// The wgpu cache, for pipeline creation.
    pub fn wgpu(&self) -> &wgpu::PipelineCache {
        &self.cache
    }

    /// The file it persists to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the cache's data to its file when it changed since it was read or last written:
    /// to a temporary file first, renamed over the old one, so a reader never sees half a file.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(data) = self.cache.get_data() else {
            return Ok(());
        };
        let crc = crc32fast::hash(&data);
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if *saved == Some(crc) {
            return Ok(());
        }
        let dir = self.path.parent().expect("a file in a folder");
        std::fs::create_dir_all(dir)?;
        // Unique per process and save, so concurrent savers never write one temporary file.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        let n = SAVES.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .path
            .with_extension(format!("tmp{}-{n}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&frame(&data))?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        *saved = Some(crc);
        Ok(())
    }

    /// [`save`](Self::save), logging a failure instead of returning it.
    pub fn save_or_warn(&self) {
        if let Err(e) = self.save() {
            log::warn!(
                "could not save the GPU pipeline cache to {}: {e}",
                self.path.display()
            );
        }
    }
}

/// The file's bytes: the magic, the data's CRC-32 and length, the data.
fn frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    out
}

/// The data of a file [`frame`] wrote, or `None` if these bytes are not one, whole.
fn unframe(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (crc, rest) = rest.split_first_chunk::<4>()?;
    let (len, data) = rest.split_first_chunk::<4>()?;
    (data.len() == u32::from_le_bytes(*len) as usize
        && crc32fast::hash(data) == u32::from_le_bytes(*crc))
    .then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_damage_is_refused() {
        let data = b"some driver bytes".to_vec();
        let f = frame(&data);
        assert_eq!(unframe(&f), Some(&data[..]));
        assert_eq!(unframe(&frame(&[])), Some(&[][..]));
        // Truncated, extended, a bit flipped, another magic, empty.
        assert_eq!(unframe(&f[..f.len() - 1]), None);
        assert_eq!(unframe(&[f.as_slice(), b"x"].concat()), None);
        let mut flipped = f.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(unframe(&flipped), None);
        let mut other = f.clone();
        other[0] = b'X';
        assert_eq!(unframe(&other), None);
        assert_eq!(unframe(&[]), None);
        assert_eq!(unframe(&f[..10]), None);
    }
}
