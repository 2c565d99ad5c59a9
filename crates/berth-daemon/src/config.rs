//! The daemon's configuration, from `berth daemon` flags.

use std::path::PathBuf;

/// Everything the daemon needs to know at start.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Path of the API socket.
    pub socket: PathBuf,
    /// Persistent state: images, containers' writable layers, metadata.
    pub data_root: PathBuf,
    /// Runtime state: shim dirs, mounts.
    pub exec_root: PathBuf,
    /// Name of the default bridge (used once networking lands).
    pub bridge: String,
    /// Subnet of the default bridge.
    pub bip: Option<String>,
    /// Where to write the daemon's pid.
    pub pidfile: Option<PathBuf>,
    /// Parent of every container's cgroup (absolute).
    pub cgroup_parent: String,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("/run/berth/berth.sock"),
            data_root: PathBuf::from("/var/lib/berth"),
            exec_root: PathBuf::from("/run/berth"),
            bridge: "berth0".into(),
            bip: None,
            pidfile: None,
            cgroup_parent: "/berth".into(),
        }
    }
}
