//! ida-refresh: keep users signed in by exchanging refresh tokens through the ida auth API.
//!
//! `core` holds the protocol (request building, response parsing, token decoding, errors) and
//! knows nothing of JavaScript; `js` adapts it to fetch, timers and JS values for WebAssembly.
#![deny(missing_docs)]

// Single-threaded wasm only: the allocator takes no lock. The browser build only: gateway
// isolates live long and allocate in many sizes, where classes that never coalesce keep
// creeping up (measured in the gateway soak); dlmalloc, the default, stays flat there.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics"), not(feature = "gateway")))]
mod alloc;
pub mod core;
#[cfg(target_arch = "wasm32")]
pub mod js;
