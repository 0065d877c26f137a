//! How the threads of a forward pass share it: the whole pass is one parallel region on rayon's
//! pool (`rayon::broadcast`), every thread walks the same steps and does its [`Part`] of each,
//! and a spinning barrier separates the steps.
//!
//! At batch 1 most steps last tens of microseconds; handing each one to the pool as a new job
//! costs a thread wake-up per step, which on this kind of machine made two threads no faster
//! than one. Threads that stay in the region and spin for the next step do not pay it.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Below this many floating-point operations (or element-moves weighted like them) a step is
/// done by the first thread alone: splitting it costs more than it saves.
const MIN_SHARED_WORK: usize = 1 << 18;

/// One thread's share of every step: thread `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// This thread's index.
    pub index: usize,
    /// Threads in the region.
    pub count: usize,
}

impl Part {
    /// The whole of every step (one thread).
    pub const WHOLE: Part = Part { index: 0, count: 1 };

    /// How many threads share a step of `work`: one when it is small.
    pub fn sharers(self, work: usize) -> usize {
        if work < MIN_SHARED_WORK {
            1
        } else {
            self.count
        }
    }

    /// This thread's contiguous share of `0..n` for a step of `work`.
    pub fn range(self, n: usize, work: usize) -> Range<usize> {
        let sharers = self.sharers(work);
        if self.index >= sharers {
            return 0..0;
        }
        n * self.index / sharers..n * (self.index + 1) / sharers
    }

    /// This thread's items of `0..n` (every `count`-th) for a step of `work`.
    pub fn items(self, n: usize, work: usize) -> impl Iterator<Item = usize> {
        let sharers = self.sharers(work);
        let start = if self.index < sharers { self.index } else { n };
        (start..n).step_by(sharers)
    }
}

/// A barrier that spins (then yields) instead of sleeping: the wait between two steps is short.
pub struct SpinBarrier {
    threads: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    /// A thread of the region panicked: the others must not wait for it forever.
    broken: AtomicBool,
}

/// Marks its barrier broken if the thread unwinds while holding it (see [`SpinBarrier::guard`]).
pub struct BarrierGuard<'a>(&'a SpinBarrier);

impl Drop for BarrierGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.broken.store(true, Ordering::Release);
        }
    }
}

impl SpinBarrier {
    /// A barrier for `threads` threads.
    pub fn new(threads: usize) -> Self {
        Self {
            threads,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            broken: AtomicBool::new(false),
        }
    }

    /// Held by each thread for as long as it takes part: if the thread panics, the others
    /// waiting at the barrier panic too instead of spinning forever.
    pub fn guard(&self) -> BarrierGuard<'_> {
        BarrierGuard(self)
    }

    /// Waits until every thread has arrived; what each wrote before is visible to all after.
    pub fn wait(&self) {
        let generation = self.generation.load(Ordering::Acquire);
        if self.arrived.fetch_add(1, Ordering::AcqRel) + 1 == self.threads {
            self.arrived.store(0, Ordering::Relaxed);
            self.generation.fetch_add(1, Ordering::Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.load(Ordering::Acquire) == generation {
            assert!(
                !self.broken.load(Ordering::Acquire),
                "another thread of the forward pass panicked"
            );
            // A thread of the pool may be busy elsewhere (another caller's job): yield to it
            // rather than burn its core.
            if spins < 1 << 14 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
    }
}

/// A buffer that the threads of a region write in disjoint parts.
#[derive(Debug, Clone, Copy)]
pub struct Out<'a> {
    ptr: *mut f32,
    len: usize,
    _buffer: PhantomData<&'a mut [f32]>,
}

// SAFETY: the threads of a region write disjoint parts (each kernel's partition guarantees it)
// and the buffer outlives the region.
unsafe impl Send for Out<'_> {}
unsafe impl Sync for Out<'_> {}

impl<'a> Out<'a> {
    /// The whole of `y`.
    pub fn new(y: &'a mut [f32]) -> Self {
        Self {
            ptr: y.as_mut_ptr(),
            len: y.len(),
            _buffer: PhantomData,
        }
    }

    /// Length in elements.
    pub fn len(self) -> usize {
        self.len
    }

    /// The first `len` elements.
    pub fn prefix(self, len: usize) -> Self {
        assert!(len <= self.len);
        Self { len, ..self }
    }

    /// The base pointer, for kernels that write strided blocks.
    pub fn ptr(self) -> *mut f32 {
        self.ptr
    }

    /// The whole buffer, to read.
    ///
    /// # Safety
    /// No thread may write the buffer while the slice lives.
    pub unsafe fn view(self) -> &'a [f32] {
        // SAFETY: in bounds by construction; unwritten by the caller's promise.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// Elements `range` of the buffer.
    ///
    /// # Safety
    /// No other thread may touch `range` while the slice lives.
    #[allow(clippy::mut_from_ref)] // disjointness is the caller's promise, as above
    pub unsafe fn slice(self, range: Range<usize>) -> &'a mut [f32] {
        assert!(range.start <= range.end && range.end <= self.len);
        // SAFETY: in bounds (checked); exclusive by the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}
