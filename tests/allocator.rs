//! The global allocator against a model: random allocations, reallocations and frees of 1 B to
//! 1 MiB at alignments up to 64, checked for alignment, overlap with any live block, and
//! contents kept (across realloc too). In wasm this is the build's own allocator: the browser
//! build's (lol_alloc) under `wasm-pack test --node --no-default-features`, the full build's
//! (dlmalloc) under the plain wasm suite; natively it checks the system allocator and the test
//! itself. tests/run-all.sh runs all three.
#![allow(unsafe_code)]

use std::alloc::{alloc, dealloc, realloc, Layout};

// Linked for its #[global_allocator] (a crate nothing names is not linked at all).
use ida_refresh as _;

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// xorshift64*: reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Sizes spread evenly over orders of magnitude: mostly small, some up to 1 MiB.
    fn size(&mut self) -> usize {
        let bits = self.below(21) as u32; // 2^0 .. 2^20
        ((1usize << bits) + self.below(1 << bits) as usize).min(1 << 20)
    }
}

struct Block {
    ptr: *mut u8,
    layout: Layout,
    tag: u8,
}

/// The offsets a block is checked at: its first and last 64 bytes, and one byte in 4096
/// between (whole-block checks of 1 MiB blocks would make a debug wasm run crawl).
fn probes(len: usize) -> impl Iterator<Item = usize> {
    (0..len.min(64)).chain((64..len).step_by(4096)).chain(len.saturating_sub(64)..len)
}

fn check(block: &Block, len: usize) {
    for i in probes(len) {
        // SAFETY: `i < len <= block.layout.size()`, a live block of ours.
        let byte = unsafe { *block.ptr.add(i) };
        assert_eq!(byte, block.tag, "block {:p} ({} B) changed at {i}", block.ptr, block.layout.size());
    }
}

fn fill(block: &Block) {
    // SAFETY: a live block of `layout.size()` bytes.
    unsafe { std::ptr::write_bytes(block.ptr, block.tag, block.layout.size()) };
}

fn assert_apart(blocks: &[Block], new: &Block) {
    let (start, end) = (new.ptr as usize, new.ptr as usize + new.layout.size());
    assert_eq!(start % new.layout.align(), 0, "{:p} not aligned to {}", new.ptr, new.layout.align());
    for b in blocks {
        let (s, e) = (b.ptr as usize, b.ptr as usize + b.layout.size());
        assert!(end <= s || e <= start, "[{start:#x}, {end:#x}) overlaps a live block [{s:#x}, {e:#x})");
    }
}

#[test]
fn allocations_never_overlap_and_keep_their_contents() {
    const LIVE_BYTES_CAP: usize = 24 << 20;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut blocks: Vec<Block> = Vec::new();
    let mut live = 0usize;
    let mut tag = 0u8;
    for _ in 0..6000 {
        tag = tag.wrapping_add(1).max(1);
        let op = rng.below(10);
        if blocks.is_empty() || (op < 5 && live < LIVE_BYTES_CAP) {
            let align = 1usize << rng.below(7); // 1 .. 64
            let layout = Layout::from_size_align(rng.size(), align).unwrap();
            // SAFETY: a non-zero size.
            let ptr = unsafe { alloc(layout) };
            assert!(!ptr.is_null(), "out of memory at {live} live bytes");
            let block = Block { ptr, layout, tag };
            assert_apart(&blocks, &block);
            fill(&block);
            live += layout.size();
            blocks.push(block);
        } else if op < 8 {
            let i = rng.below(blocks.len() as u64) as usize;
            let old = blocks.swap_remove(i);
            check(&old, old.layout.size());
            let new_size = rng.size();
            // SAFETY: `old` is live with this layout; a non-zero size.
            let ptr = unsafe { realloc(old.ptr, old.layout, new_size) };
            assert!(!ptr.is_null(), "out of memory at {live} live bytes");
            let block = Block { ptr, layout: Layout::from_size_align(new_size, old.layout.align()).unwrap(), tag: old.tag };
            assert_apart(&blocks, &block);
            check(&block, old.layout.size().min(new_size));
            let block = Block { tag, ..block };
            fill(&block);
            live = live - old.layout.size() + new_size;
            blocks.push(block);
        } else {
            let i = rng.below(blocks.len() as u64) as usize;
            let old = blocks.swap_remove(i);
            check(&old, old.layout.size());
            live -= old.layout.size();
            // SAFETY: live, with this layout.
            unsafe { dealloc(old.ptr, old.layout) };
        }
    }
    for b in blocks.drain(..) {
        check(&b, b.layout.size());
        // SAFETY: live, with this layout.
        unsafe { dealloc(b.ptr, b.layout) };
    }
}
