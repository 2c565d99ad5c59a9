//! berth-registry: an OCI distribution-spec (v1.1) registry server.
//!
//! It serves push, pull, chunked and monolithic uploads, cross-repository mounts, tags with
//! pagination, the catalog, referrers and deletes over HTTP or HTTPS, with optional basic auth
//! from an htpasswd file, and stores everything on disk under one root (layout on
//! [`Storage`]). `berth registry serve` runs [`serve`]; the daemon can mount
//! [`router`] itself; `berth registry gc` runs [`gc()`]. [`client`] is the other side: the
//! registry client the engine pulls, pushes and logs in with.
//!
//! Invariants:
//! - a blob becomes visible only after its sha256, computed by us while it streamed in, matches
//!   the digest the client claimed; a registry killed at any instant never serves a partial
//!   blob;
//! - manifests are stored and served as the exact bytes pushed;
//! - no request can make the server panic: every input is parsed into validated types
//!   ([`RepoName`], [`Tag`], [`Digest`]) before it touches storage;
//! - blobs never pass through memory whole: transfers stream in 1 MiB buffers.

mod auth;
pub mod client;
mod digest;
mod errors;
mod gc;
pub mod manifest;
mod names;
mod range;
mod routes;
mod server;
mod sessions;
mod storage;
mod stream;
mod task;
pub mod token;

use std::path::Path;
use std::sync::Arc;

pub use auth::{AuthError, AuthPolicy, Htpasswd};
pub use digest::{Digest, DigestError};
pub use errors::{ApiError, ErrorCode, REALM};
pub use gc::{gc, GcError, GcReport};
pub use names::{NameError, Reference, RepoName, Tag};
pub use routes::router;
pub use server::{serve, shutdown_signal, ServeConfig, ServeError, Server, TlsFiles};
pub use storage::{Storage, StorageError, UploadId};

/// The registry's shared state: storage, live upload sessions, and the auth policy.
/// One per storage root; hand it to [`router`] inside an `Arc`.
pub struct Registry {
    storage: Storage,
    sessions: sessions::Sessions,
    auth: Option<Arc<AuthPolicy>>,
}

impl Registry {
    /// Opens (creating if needed) the storage root. `auth` of `None` serves everyone.
    pub fn open(root: &Path, auth: Option<AuthPolicy>) -> Result<Self, StorageError> {
        Ok(Self { storage: Storage::open(root)?, sessions: sessions::Sessions::default(), auth: auth.map(Arc::new) })
    }

    /// The storage underneath, for tools and tests that inspect it.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }
}
