//! ida-refresh: keep users signed in by exchanging refresh tokens through the ida auth API.
//!
//! `core` holds the protocol (request building, response parsing, token decoding, errors) and
//! knows nothing of JavaScript; `js` adapts it to fetch, timers and JS values for WebAssembly.
#![deny(missing_docs)]

// The browser build's heap: lol_alloc's free list (coalescing, single-threaded: no lock), the
// smallest of the allocators measured for that build at the same peak memory (README, "The
// package and its size"). The full build (Node, workerd) keeps the standard library's dlmalloc,
// which kept the gateway soak's memory lowest. tests/allocator.rs checks both against a model.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics"), not(feature = "gateway")))]
#[global_allocator]
// SAFETY: wasm32 without the atomics feature runs one thread.
static HEAP: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };
pub mod core;
#[cfg(target_arch = "wasm32")]
pub mod js;
