//! Engine API types, one module per resource.

mod container;
mod exec;
mod image;
mod network;
mod serde_util;
mod stats;
mod system;
mod volume;

pub use container::*;
pub use exec::*;
pub use image::*;
pub use network::*;
pub use stats::*;
pub use system::*;
pub use volume::*;

/// The body of every error response.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    pub message: String,
}
