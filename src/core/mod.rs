//! The protocol core: no wasm-bindgen, no I/O, no clock. Time and transport results come in as
//! arguments, so everything here is tested natively with `cargo test`.
#![forbid(unsafe_code)]

pub mod base64;
#[cfg(feature = "gateway")]
pub mod cookie;
pub mod dpop;
#[cfg(feature = "gateway")]
pub mod dpop_check;
pub mod error;
#[cfg(feature = "gateway")]
pub mod flight;
pub mod http_date;
pub mod json;
pub mod jwk;
#[cfg(feature = "gateway")]
pub mod keyset;
pub mod policy;
pub mod request;
pub mod response;
pub mod secret;
pub mod session;
pub mod tabs;
pub mod token;
#[cfg(feature = "gateway")]
pub mod verify;
