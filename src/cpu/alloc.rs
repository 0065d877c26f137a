//! The global allocator the `hourhand` binary installs: the system's, with every block of 4 KB
//! or more on a 64-byte boundary (a cache line, and one AVX-512 vector).
//!
//! Why: glibc's `malloc` aligns blocks to 16 bytes only (a large one, mapped on its own, lands 16
//! bytes past a page boundary), so a tensor the CPU backend keeps in a `Vec<f32>` started
//! anywhere in a cache line, and every 16-lane vector read or written over its planes (all of
//! whose sizes in the network are multiples of 16 values) straddled two lines, which costs a
//! second access on each. With the tensors on line boundaries, alternating the two in one build
//! (2 cores of an Intel Xeon with AVX-512; `bench --train --batch 32`, 5 rounds, medians): a
//! training step 0.955× the time at 64×64 and 0.95× at 128×128, the convolutions' backward
//! 0.94×, their forward 0.96×, the batch norms' 0.92–0.98× (3 rounds of `--per-layer`);
//! inference 0.95× at batch 1 and 0.97× at batch 32. Small blocks keep the system's alignment and its in-place `realloc`. The price: a large
//! zeroed block (`vec![0.0; n]`) is zeroed by a write through it, where `calloc` would have
//! handed out the kernel's untouched zero pages; hourhand writes its large buffers whole anyway.
//! The library's own users (tests, other binaries) get whatever allocator they install.

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks from this size up are aligned to [`LINE`] bytes.
pub const LARGE: usize = 4096;

/// A cache line: the alignment of large blocks.
pub const LINE: usize = 64;

/// [`System`], with blocks of [`LARGE`] bytes or more aligned to [`LINE`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheAligned;

impl CacheAligned {
    /// The layout asked of the system for `layout`: the same, aligned to [`LINE`] if large.
    /// Deterministic, so `dealloc` and `realloc` see the layout the block was made with.
    fn system_layout(layout: Layout) -> Layout {
        if layout.size() >= LARGE && layout.align() < LINE {
            Layout::from_size_align(layout.size(), LINE).expect("a line is a power of two")
        } else {
            layout
        }
    }
}

// SAFETY: every call goes to `System` with a layout of the same size and an alignment at least
// the one asked for; `system_layout` is a pure function of the layout, so a block is freed or
// resized with the layout it was allocated with.
unsafe impl GlobalAlloc for CacheAligned {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's promise (a layout of nonzero size) holds for the same size.
        unsafe { System.alloc(Self::system_layout(layout)) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(Self::system_layout(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` with this layout, so from `System` with this one.
        unsafe { System.dealloc(ptr, Self::system_layout(layout)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = Self::system_layout(layout);
        // SAFETY: the caller's promise: `new_size`, rounded up to the alignment, does not
        // overflow `isize`.
        let new = Self::system_layout(unsafe {
            Layout::from_size_align_unchecked(new_size, layout.align())
        });
        if old.align() == new.align() {
            // SAFETY: `ptr` came from `System` with `old`; the system keeps its alignment.
            return unsafe { System.realloc(ptr, old, new_size) };
        }
        // Crossing `LARGE`: a new block with the other alignment, the contents copied.
        // SAFETY: `new` has a nonzero size; both blocks hold the bytes copied; `ptr` came from
        // `System` with `old`.
        unsafe {
            let moved = System.alloc(new);
            if !moved.is_null() {
                std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                System.dealloc(ptr, old);
            }
            moved
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large blocks land on lines, small ones keep their own alignment, and `realloc` keeps
    /// the contents across every change of size class (small → large → larger → small).
    #[test]
    fn aligns_large_blocks_and_keeps_contents_across_realloc() {
        let a = CacheAligned;
        for size in [LARGE, LARGE + 4, 3 * LARGE + 12, 1 << 20] {
            let layout = Layout::from_size_align(size, 4).unwrap();
            // SAFETY: nonzero sizes; each block freed with its layout.
            unsafe {
                let p = a.alloc(layout);
                assert!(!p.is_null());
                assert_eq!(p as usize % LINE, 0, "{size} bytes at {p:?}");
                a.dealloc(p, layout);
                let z = a.alloc_zeroed(layout);
                assert_eq!(z as usize % LINE, 0);
                assert!(std::slice::from_raw_parts(z, size).iter().all(|&b| b == 0));
                a.dealloc(z, layout);
            }
        }
        let layout = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: as above; every size given to realloc is nonzero, each pointer is the last
        // one returned, freed with the layout of its last size.
        unsafe {
            let mut p = a.alloc(layout);
            assert_eq!(p as usize % 8, 0);
            for i in 0..100 {
                *p.add(i) = i as u8;
            }
            let mut size = 100;
            for new_size in [LARGE - 1, LARGE, 5 * LARGE, 2 * LARGE + 3, 60, 7] {
                p = a.realloc(p, Layout::from_size_align(size, 8).unwrap(), new_size);
                assert!(!p.is_null());
                if new_size >= LARGE {
                    assert_eq!(p as usize % LINE, 0, "{new_size} bytes");
                }
                let kept = size.min(new_size).min(100);
                for i in 0..kept {
                    assert_eq!(*p.add(i), i as u8, "byte {i} after {size} → {new_size}");
                }
                size = new_size;
            }
            a.dealloc(p, Layout::from_size_align(size, 8).unwrap());
        }
    }
}
