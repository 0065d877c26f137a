//! Training sets: annotated frames turned into batches of augmented network inputs and targets.
//!
//! [`TrainSet`] wraps any [`Source`] whose frames all have the 36 NYU joints, keeps decoded
//! depth in memory as u16 millimetres up to a budget (PNG decoding costs far more than making a
//! sample, and every epoch reads every frame), and fills batch buffers in parallel. Every sample
//! draws its augmentation from its own seeded RNG, so the bytes of a batch depend only on
//! (seed, frames), not on thread count or timing. [`Loader`] makes batches on its own thread,
//! a couple ahead of the consumer, so loading overlaps training.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::augment::{Augment, Jitter, make_sample};
use crate::data::crop::OUTPUTS;
use crate::data::depth::DepthLookup;
use crate::data::open::{OpenOptions, open};
use crate::data::source::Source;
use crate::data::{DataError, Intrinsics, Joints, Labels, PRIOR_JOINT};

/// The default memory for cached depth: 4 GiB holds about 7,000 NYU frames (614 kB each as
/// u16), a tenth of the training split; synthetic sets of that size fit whole.
pub const DEFAULT_CACHE_BUDGET: usize = 4 << 30;

/// A decoded frame kept in memory: whole millimetres as u16, half the memory of f32.
struct CachedDepth {
    width: usize,
    height: usize,
    mm: Box<[u16]>,
}

impl DepthLookup for CachedDepth {
    fn at(&self, u: i64, v: i64) -> Option<f32> {
        if u < 0 || v < 0 || u as usize >= self.width || v as usize >= self.height {
            return None;
        }
        Some(self.mm[v as usize * self.width + u as usize] as f32)
    }
}

/// Frames with all 36 joints, ready to be made into training samples.
pub struct TrainSet {
    source: Box<dyn Source>,
    path: PathBuf,
    intrinsics: Intrinsics,
    joints: Vec<Joints>,
    cache: Vec<OnceLock<CachedDepth>>,
    budget: usize,
    cached: AtomicUsize,
}

impl TrainSet {
    /// Opens `path` like every other command ([`open`]) and checks that every frame has all 36
    /// joints: the 35 targets need them, and a results-format subset has only 14.
    pub fn open(path: &Path, options: &OpenOptions) -> Result<TrainSet, DataError> {
        TrainSet::from_source(open(path, options)?, path)
    }

    /// A training set over an already opened `source`; `path` names it in errors.
    pub fn from_source(source: Box<dyn Source>, path: &Path) -> Result<TrainSet, DataError> {
        let intrinsics = source.intrinsics();
        let problem = |index: usize, what: String| DataError::Folder {
            path: path.into(),
            problem: format!(
                "training needs all 36 joints of every frame, and frame {} ({}) {what}",
                index + 1,
                source.frame_path(index).display()
            ),
        };
        let mut joints = Vec::with_capacity(source.len());
        for index in 0..source.len() {
            let annotation = source.ground_truth(index).ok_or_else(|| {
                let what = "has no annotation (an NYU split with joint_data.mat has them)";
                problem(index, what.into())
            })?;
            let uvd = annotation.full_uvd().ok_or_else(|| {
                let what = "has only the 14 evaluation joints of a results-format file";
                problem(index, what.into())
            })?;
            let xyz = uvd.map(|p| intrinsics.uvd_to_xyz(p));
            let prior = xyz[PRIOR_JOINT];
            if !prior.is_finite() || prior.z <= 0.0 {
                return Err(problem(
                    index,
                    format!("has its palm centre at {prior} mm, not in front of the camera"),
                ));
            }
            joints.push(xyz);
        }
        Ok(TrainSet {
            cache: (0..joints.len()).map(|_| OnceLock::new()).collect(),
            source,
            path: path.into(),
            intrinsics,
            joints,
            budget: DEFAULT_CACHE_BUDGET,
            cached: AtomicUsize::new(0),
        })
    }

    /// Sets how many bytes of decoded depth to keep (0: decode every time). Frames are kept
    /// first come, first served until the budget is spent; the rest are decoded on each use.
    pub fn with_cache_budget(mut self, bytes: usize) -> TrainSet {
        self.budget = bytes;
        self
    }

    /// Bytes of depth cached so far (for the user: how much of the set stays in memory).
    pub fn cached_bytes(&self) -> usize {
        self.cached.load(Ordering::Relaxed)
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.joints.len()
    }

    /// Whether there are no frames (no source is empty; kept for the convention).
    pub fn is_empty(&self) -> bool {
        self.joints.is_empty()
    }

    /// What the set is, for the user.
    pub fn describe(&self) -> String {
        self.source.describe()
    }

    /// The label convention of its joints, which a model trained on them predicts.
    pub fn labels(&self) -> Labels {
        self.source.labels()
    }

    /// The folder the set was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hand cube (mm) of frame `index`, as the source's protocol says.
    pub fn cube(&self, index: usize) -> f32 {
        self.source.cube(index)
    }

    /// The 36 joints of frame `index`, camera space (mm).
    pub fn joints(&self, index: usize) -> &Joints {
        &self.joints[index]
    }

    /// Makes the samples of frames `indices` into `inputs` (`indices.len() × size × size`) and
    /// `targets` (`indices.len() × 105`), in parallel. Sample `k` draws its jitter from a
    /// ChaCha8 RNG seeded with `seed` on stream `k`, so the result depends only on the
    /// arguments; with [`Augment::NONE`] it is the plain crop of each frame.
    pub fn fill(
        &self,
        indices: &[usize],
        size: usize,
        augment: &Augment,
        seed: u64,
        inputs: &mut [f32],
        targets: &mut [f32],
    ) -> Result<(), DataError> {
        assert!(size > 0, "the input size must be positive");
        assert_eq!(
            inputs.len(),
            indices.len() * size * size,
            "inputs: n × size²"
        );
        assert_eq!(
            targets.len(),
            indices.len() * OUTPUTS,
            "targets: n × {OUTPUTS}"
        );
        inputs
            .par_chunks_mut(size * size)
            .zip(targets.par_chunks_mut(OUTPUTS))
            .zip(indices.par_iter())
            .enumerate()
            .try_for_each(|(k, ((input, target), &index))| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(k as u64);
                let jitter = augment.draw(&mut rng);
                self.sample(index, size, &jitter, input, target)
            })
    }

    /// One sample of frame `index`, from the cache or decoded (and then cached if there is
    /// room).
    fn sample(
        &self,
        index: usize,
        size: usize,
        jitter: &Jitter,
        input: &mut [f32],
        target: &mut [f32],
    ) -> Result<(), DataError> {
        let (k, joints, cube) = (&self.intrinsics, &self.joints[index], self.cube(index));
        let made = match self.cache[index].get() {
            Some(depth) => make_sample(depth, k, joints, cube, size, jitter, input, target),
            None => {
                let depth = self.source.load(index)?.depth;
                let made = make_sample(&depth, k, joints, cube, size, jitter, input, target);
                self.keep(index, depth.values(), depth.width(), depth.height());
                made
            }
        };
        made.map_err(|e| DataError::Corrupt {
            path: self.source.frame_path(index),
            problem: format!("cannot make a training sample: {e}"),
        })
    }

    /// Caches frame `index` if the budget allows and u16 holds it exactly.
    fn keep(&self, index: usize, mm: &[f32], width: usize, height: usize) {
        let bytes = mm.len() * 2;
        let reserved = self
            .cached
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + bytes <= self.budget).then_some(used + bytes)
            });
        if reserved.is_err() {
            return;
        }
        let exact = |d: f32| d.fract() == 0.0 && d <= u16::MAX as f32;
        let stored = mm.iter().all(|&d| exact(d)) && {
            let mm = mm.iter().map(|&d| d as u16).collect();
            self.cache[index]
                .set(CachedDepth { width, height, mm })
                .is_ok()
        };
        if !stored {
            // Not whole millimetres, or another thread cached it first.
            self.cached.fetch_sub(bytes, Ordering::Relaxed);
        }
    }
}

/// A seed for part `k` of a run seeded `seed` (an epoch, a batch): a pure function, so a
/// resumed run derives the same seeds, and nearby `k` give unrelated seeds.
pub fn derive_seed(seed: u64, k: u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(k);
    rng.next_u64()
}

/// The order of the frames in `epoch`: a Fisher–Yates shuffle seeded by (seed, epoch), the
/// same on every machine and on resumption.
pub fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(seed, epoch as u64));
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        order.swap(i, rng.random_range(0..=i));
    }
    order
}

/// One batch: the frames it holds, their inputs (`indices.len() × size × size`) and targets
/// (`indices.len() × 105`).
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Frame indices in the set, in batch order.
    pub indices: Vec<usize>,
    /// Network inputs, row-major per sample.
    pub inputs: Vec<f32>,
    /// Normalized joint targets, 105 per sample.
    pub targets: Vec<f32>,
}

/// How many batches of `batch` frames `frames` make: the last partial one counts unless
/// `drop_last`.
pub fn batch_count(frames: usize, batch: usize, drop_last: bool) -> usize {
    if drop_last {
        frames / batch
    } else {
        frames.div_ceil(batch)
    }
}

/// Batches made on a background thread, at most two ahead of the consumer (bounded memory, and
/// the next batch is ready when the network asks). Dropping it stops the thread.
pub struct Loader {
    batches: Option<Receiver<Result<Batch, DataError>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    count: usize,
}

impl Loader {
    /// Starts making batches of `batch` frames taken in `order` (e.g. [`epoch_order`]).
    /// Batch `k` is [`TrainSet::fill`] with seed `derive_seed(seed, k)`, so a run resumed at the
    /// same epoch (same `order` and `seed`) sees the same batches. `drop_last` drops a final
    /// partial batch — training does, since batch-norm statistics of a batch of one are
    /// meaningless; validation keeps it so every frame is scored.
    pub fn spawn(
        set: Arc<TrainSet>,
        order: Vec<usize>,
        batch: usize,
        size: usize,
        augment: Augment,
        seed: u64,
        drop_last: bool,
    ) -> Loader {
        assert!(batch > 0, "a batch holds at least one frame");
        let count = batch_count(order.len(), batch, drop_last);
        let (send, receive) = sync_channel(2);
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let produce = move || {
            let chunks = order.chunks(batch).take(count).enumerate();
            for (k, indices) in chunks {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let made = make_batch(&set, indices, size, &augment, derive_seed(seed, k as u64));
                if !send_or_stop(&send, made) {
                    return;
                }
            }
        };
        let thread = std::thread::Builder::new()
            .name("hourhand-loader".into())
            .spawn(produce)
            .expect("the loader thread starts");
        Loader {
            batches: Some(receive),
            stop,
            thread: Some(thread),
            count,
        }
    }

    /// How many batches this loader yields in all.
    pub fn batches(&self) -> usize {
        self.count
    }
}

fn make_batch(
    set: &TrainSet,
    indices: &[usize],
    size: usize,
    augment: &Augment,
    seed: u64,
) -> Result<Batch, DataError> {
    let mut inputs = vec![0.0; indices.len() * size * size];
    let mut targets = vec![0.0; indices.len() * OUTPUTS];
    set.fill(indices, size, augment, seed, &mut inputs, &mut targets)?;
    Ok(Batch {
        indices: indices.to_vec(),
        inputs,
        targets,
    })
}

/// Sends a batch; false when the consumer has gone or the batch was an error (nothing follows
/// an error).
fn send_or_stop(
    send: &SyncSender<Result<Batch, DataError>>,
    made: Result<Batch, DataError>,
) -> bool {
    let failed = made.is_err();
    send.send(made).is_ok() && !failed
}

impl Iterator for Loader {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let batch = self.batches.as_ref()?.recv().ok();
        if batch.is_none() {
            // The thread is done; if it panicked, say so here rather than end the epoch early.
            if let Some(Err(panic)) = self.thread.take().map(JoinHandle::join) {
                std::panic::resume_unwind(panic);
            }
        }
        batch
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver fails the thread's pending send, so it never blocks forever.
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
