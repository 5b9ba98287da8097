//! The wasm heap: power-of-two size classes with a free list each, carved from memory grown a
//! few pages at a time. It replaces dlmalloc (about 5 KB of the browser build) because this
//! library allocates little and in few sizes (strings, small vectors, one body buffer). Freed
//! blocks are reused for the same class, so a steady workload stays flat; memory is never
//! returned (wasm memory cannot shrink; dlmalloc keeps it too).
//!
//! wasm32-unknown-unknown without threads runs one thread, so the state needs no lock (lib.rs
//! leaves this module out of a build with atomics).

use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::null_mut;

const PAGE: usize = 65_536;
/// Classes 2^4 .. 2^31 bytes; index = log2(block size).
const CLASSES: usize = 32;
const MIN_CLASS: u32 = 4;

struct Heap {
    /// Heads of the free lists; a free block holds the address of the next one.
    free: [usize; CLASSES],
    /// The untouched rest of the last grown region.
    next: usize,
    end: usize,
}

/// The global allocator of the wasm build.
pub struct SizeClasses(UnsafeCell<Heap>);

// SAFETY: wasm32-unknown-unknown (no atomics) is single-threaded.
unsafe impl Sync for SizeClasses {}

#[global_allocator]
static HEAP: SizeClasses = SizeClasses(UnsafeCell::new(Heap { free: [0; CLASSES], next: 0, end: 0 }));

/// The class of a layout: the smallest power of two holding its size and alignment.
fn class(layout: Layout) -> usize {
    let size = layout.size().max(layout.align()).max(1 << MIN_CLASS);
    (usize::BITS - (size - 1).leading_zeros()) as usize
}

unsafe impl GlobalAlloc for SizeClasses {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let k = class(layout);
        if k >= CLASSES || layout.align() > PAGE {
            return null_mut();
        }
        // SAFETY: one thread, and no allocator call re-enters another.
        let heap = unsafe { &mut *self.0.get() };
        let head = heap.free[k];
        if head != 0 {
            // SAFETY: `head` is a freed block of this class; its first word links the list.
            heap.free[k] = unsafe { *(head as *const usize) };
            return head as *mut u8;
        }
        // Blocks are aligned to their size (at most a page), so any layout of the class fits.
        let size = 1usize << k;
        let align = size.min(PAGE);
        let fits = |from: usize, end: usize| {
            let start = from.checked_add(align - 1)? & !(align - 1);
            (start.checked_add(size)? <= end).then_some(start)
        };
        let start = match fits(heap.next, heap.end) {
            Some(start) => start,
            None => {
                let pages = size.div_ceil(PAGE).max(4);
                let previous = core::arch::wasm32::memory_grow(0, pages);
                // `usize::MAX` is a failed grow; a region ending at exactly 4 GiB cannot be
                // addressed in wasm32's usize either, and is left unused.
                let Some(end) = previous.checked_add(pages).and_then(|p| p.checked_mul(PAGE)) else {
                    return null_mut();
                };
                let base = previous * PAGE;
                // Contiguous with the last region: its tail is used too.
                let from = if base == heap.end { heap.next } else { base };
                heap.end = end;
                match fits(from, end) {
                    Some(start) => start,
                    None => return null_mut(),
                }
            }
        };
        heap.next = start + size;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let k = class(layout);
        // SAFETY: one thread; `ptr` came from `alloc` with this layout, so it is a block of
        // class `k` with room for a link.
        let heap = unsafe { &mut *self.0.get() };
        unsafe { *(ptr as *mut usize) = heap.free[k] };
        heap.free[k] = ptr as usize;
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees the layout; the new one has its alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        if class(new_layout) == class(layout) {
            return ptr;
        }
        // SAFETY: as GlobalAlloc::realloc's default: a new block, the old contents, the old freed.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}
