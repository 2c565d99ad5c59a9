//! berth-net: container networking on the host.
//!
//! Today: network namespaces with loopback up, made by the daemon and handed to the runtime by
//! path, so the daemon owns the namespace's lifetime (and can later plug veths into it before
//! the container starts).

pub mod netns;
