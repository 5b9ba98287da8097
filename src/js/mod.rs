//! Thin wasm-bindgen adapters around the core: JS values, fetch, timers.

pub mod client;
#[cfg(feature = "gateway")]
pub mod crypto;
pub mod dpop;
pub mod error;
pub mod fetch;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod global;
pub mod options;
pub mod refresh;
pub mod storage;
