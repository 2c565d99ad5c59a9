//! What the daemon persists about networks: one record per network (table `networks`) and one
//! per live endpoint, i.e. per running container and network it is plugged into (table
//! `net_endpoints`, key `<container id>/<network id>`). Endpoint records are the IP leases:
//! an address is in use exactly while an endpoint record holds it. Fields are added with
//! `#[serde(default)]` only, so older databases keep loading.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_net::ipam::Pool;
use berth_net::ports::PortMapping;
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

/// Network records by id.
pub const NETWORKS: berth_image::meta::Table = TableDefinition::new("networks");
/// Endpoint records by `<container id>/<network id>`.
pub const ENDPOINTS: berth_image::meta::Table = TableDefinition::new("net_endpoints");

/// Which driver a network uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge with NAT: the default `bridge` network and user-defined networks.
    Bridge,
    /// The host's own namespace (`host`).
    Host,
    /// A namespace with only loopback (`none`).
    Null,
}

impl Driver {
    /// Docker's name for the driver.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// Everything persisted about a network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NetworkRecord {
    pub id: String,
    pub name: String,
    pub created: String,
    pub driver: Driver,
    /// `bridge`, `host` and `none`: cannot be removed.
    pub predefined: bool,
    /// The bridge interface (bridge driver only).
    #[serde(default)]
    pub bridge: String,
    /// Subnet, gateway, range (bridge driver only).
    #[serde(default)]
    pub pool: Option<Pool>,
    /// Whether the user chose the subnet (`--ip` needs it, as in Docker).
    #[serde(default)]
    pub user_subnet: bool,
    #[serde(default)]
    pub internal: bool,
    #[serde(default)]
    pub attachable: bool,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub ipam_options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The last address handed out (allocation continues after it).
    #[serde(default)]
    pub cursor: Option<Ipv4Addr>,
}

impl NetworkRecord {
    /// Whether containers on it get name resolution from the embedded DNS server (user-defined
    /// bridge networks, as in Docker; the default bridge has none).
    pub fn has_dns(&self) -> bool {
        self.driver == Driver::Bridge && !self.predefined
    }

    /// A boolean driver option (`com.docker.network.bridge.enable_icc` ...), default `dflt`.
    pub fn bool_option(&self, key: &str, dflt: bool) -> bool {
        self.options.get(key).map(|v| matches!(v.as_str(), "true" | "1" | "yes")).unwrap_or(dflt)
    }
}

/// A container plugged into a network.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EndpointRecord {
    pub container_id: String,
    pub network_id: String,
    pub endpoint_id: String,
    /// The container's name when it was plugged in (for network inspect and DNS).
    pub container_name: String,
    pub ip: Ipv4Addr,
    pub mac: String,
    /// Host-side veth.
    pub veth: String,
    /// Container-side interface (`eth0`, ...).
    pub ifname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--link target:alias` entries resolved through this network's DNS for this container.
    #[serde(default)]
    pub links: Vec<String>,
    /// Names the embedded DNS answers for this endpoint.
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// The container's `--dns` servers (the embedded DNS forwards to them).
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Ports published through this endpoint.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
    /// Whether this endpoint carries the container's default route.
    #[serde(default)]
    pub gateway: bool,
}

impl EndpointRecord {
    /// The database key.
    pub fn key(&self) -> String {
        endpoint_key(&self.container_id, &self.network_id)
    }
}

/// The database key of an endpoint.
pub fn endpoint_key(container_id: &str, network_id: &str) -> String {
    format!("{container_id}/{network_id}")
}
