//! berth-runtime: everything between "run this image config with these options" and a process
//! in a container.
//!
//! - [`spec`] turns a typed [`spec::RuntimeConfig`] into an OCI runtime spec with Docker's
//!   security defaults (capabilities, masked paths, seccomp).
//! - [`shim`] is the per-container supervisor process (`berth shim`). It is single-threaded,
//!   drives youki's `libcontainer`, owns the container's stdio, writes its json-file log, reaps
//!   the container and every exec and records exit codes on disk. Containers outlive the daemon
//!   because the shim, not the daemon, is their parent.
//! - [`protocol`] is the framing spoken on the shim's unix socket, and [`client`] the daemon's
//!   async side of it.
//! - [`seal`] makes the sealed in-memory copy of our own binary that shims are executed from
//!   (CVE-2019-5736).
//!
//! Invariant: nothing in this crate that runs inside the shim may spawn threads; libcontainer
//! clones the calling process.

pub mod client;
pub mod heap;
pub mod layout;
pub mod protocol;
pub mod seal;
pub mod shim;
pub mod spec;
pub mod status;
