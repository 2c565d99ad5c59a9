//! The daemon's configuration, from `berth daemon` flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
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
    /// Name of the default bridge (also names this daemon's nftables table and interface tags).
    pub bridge: String,
    /// Subnet of the default bridge.
    pub bip: Option<String>,
    /// Where to write the daemon's pid.
    pub pidfile: Option<PathBuf>,
    /// Parent of every container's cgroup (absolute).
    pub cgroup_parent: String,
    /// Log driver of containers that name none (`--log-driver`; `json-file` when empty).
    pub log_driver: String,
    /// Daemon-wide log options (`--log-opt`), merged into containers of the default driver.
    pub log_opts: BTreeMap<String, String>,
    /// Root of per-service log directories (`--log-service-root`); the feature is off unset.
    pub log_service_root: Option<PathBuf>,
    /// Where to serve Prometheus metrics (`--metrics-addr`); off when unset.
    pub metrics_addr: Option<SocketAddr>,
    /// Registries reached over plain HTTP or unverified TLS besides 127.0.0.0/8 and ::1
    /// (`--insecure-registry`): `host[:port]` or a CIDR.
    pub insecure_registries: Vec<String>,
    /// Docker Hub mirrors tried before Docker Hub on pulls (`--registry-mirror`): URLs.
    pub registry_mirrors: Vec<String>,
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
            log_driver: "json-file".into(),
            log_opts: BTreeMap::new(),
            log_service_root: None,
            metrics_addr: None,
            insecure_registries: Vec::new(),
            registry_mirrors: Vec::new(),
        }
    }
}
