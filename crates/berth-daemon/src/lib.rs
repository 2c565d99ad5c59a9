//! berth-daemon: the Docker Engine API server and the engine behind it.
//!
//! - [`server`] parses HTTP requests (routing, version prefixes, the hijack protocol) into calls
//!   on the engine and renders results and errors the way Docker clients expect. It owns no
//!   state.
//! - [`engine`] owns the state: containers (records in the metadata database, one shim per
//!   running container), execs, volumes, events, and the image store.
//!
//! [`run`] is the composition root: it builds the engine from the [`DaemonConfig`], restores
//! containers whose shims outlived a previous daemon, and serves the socket.

pub mod config;
pub mod engine;
pub mod error;
pub mod memory;
pub mod server;

pub use config::DaemonConfig;
pub use error::EngineError;

use std::sync::Arc;

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: DaemonConfig) -> Result<(), EngineError> {
    let engine = Arc::new(engine::Engine::open(config).await?);
    engine.restore().await;
    engine.restore_network().await;
    memory::spawn_trimmer();
    server::serve(engine).await
}
