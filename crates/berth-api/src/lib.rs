//! berth-api: the Docker Engine API as Rust types, plus a client.
//!
//! Request types accept every field Docker clients send and ignore the rest; response types
//! always serialize every field (empty lists as `[]`, empty maps as `{}`), because Python
//! clients index into them directly. The daemon, the `berth` CLI and the tests share these.

pub mod client;
pub mod filters;
pub mod stdcopy;
pub mod types;

/// The newest API version we speak.
pub const API_VERSION: &str = "1.51";
/// The oldest API version we accept.
pub const MIN_API_VERSION: &str = "1.24";
/// The Docker Engine version we report being compatible with.
pub const ENGINE_VERSION: &str = "28.5.2";
