//! ida-refresh: keep users signed in by exchanging refresh tokens through the ida auth API.
//!
//! `core` holds the protocol (request building, response parsing, token decoding, errors) and
//! knows nothing of JavaScript; `js` adapts it to fetch, timers and JS values for WebAssembly.
#![deny(missing_docs)]

// Single-threaded wasm only: the allocator takes no lock.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
mod alloc;
pub mod core;
#[cfg(target_arch = "wasm32")]
pub mod js;
