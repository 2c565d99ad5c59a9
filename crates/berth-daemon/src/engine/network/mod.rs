//! The engine's networks: records in the metadata database, the host state they imply
//! (bridges, veths, one nftables table, proxies, DNS servers), and the container hooks.
//!
//! - [`NetworkManager`] owns the state. One lock serialises every change to the host, so IP
//!   allocation, the firewall table (always re-rendered whole from the state) and the DNS
//!   snapshots never disagree. Proxies and DNS servers are tokio tasks owned by handles kept
//!   here; dropping a handle stops its task.
//! - `attach` plugs a starting container in and unplugs a stopped one; `api` serves
//!   `/networks`; `connect` is connect/disconnect; `view` renders networks and containers'
//!   `NetworkSettings`; `etc` writes `/etc/hosts`, `/etc/resolv.conf` and link variables;
//!   `restore` reconciles the host with the database after a restart.
//!
//! Every change follows validate, apply, roll back what was applied; teardown is best effort
//! and logs every failure.

mod api;
mod attach;
mod connect;
mod etc;
mod hooks;
pub(crate) use etc::host_resolv_conf;
pub(crate) use hooks::PendingPlug;
mod plan;
pub mod records;
mod restore;
#[cfg(test)]
mod tests;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use berth_image::meta::MetaDb;
use berth_net::bridge::{self, BridgeSpec};
use berth_net::dns::{DnsServer, Records};
use berth_net::firewall::{self, BridgeRules, DnatRule, Nft, Ruleset};
use berth_net::host::HostLock;
use berth_net::ipam::{self, Pool};
use berth_net::ipnet::{IfAddr, Ipv4Net};
use berth_net::naming::{valid_ifname, Tag};
use berth_net::netlink::NetlinkOpener;
use berth_net::proxy::ProxyHandle;
use tokio::runtime::Handle;

use crate::config::DaemonConfig;
use crate::error::EngineError;
use records::{Driver, EndpointRecord, NetworkRecord, ENDPOINTS, NETWORKS};

/// The host-wide lock every berth daemon takes while choosing a subnet.
const HOST_LOCK: &str = "/run/lock/berth-net.lock";
/// Where the embedded DNS servers listen.
const DNS_PORT: u16 = 53;

/// The networks and endpoints, guarded together.
#[derive(Debug, Default)]
pub struct NetState {
    /// Networks by id.
    pub networks: BTreeMap<String, NetworkRecord>,
    /// Live endpoints by `<container id>/<network id>`.
    pub endpoints: BTreeMap<String, EndpointRecord>,
}

impl NetState {
    /// A network by exact id, exact name, or unique id prefix.
    pub fn find(&self, name_or_id: &str) -> Result<&NetworkRecord, EngineError> {
        if let Some(n) = self.networks.get(name_or_id) {
            return Ok(n);
        }
        if let Some(n) = self.networks.values().find(|n| n.name == name_or_id) {
            return Ok(n);
        }
        let matches: Vec<&NetworkRecord> =
            if name_or_id.is_empty() { Vec::new() } else { self.networks.values().filter(|n| n.id.starts_with(name_or_id)).collect() };
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(EngineError::NotFound(format!("network {name_or_id} not found"))),
            _ => Err(EngineError::Invalid(format!("network {name_or_id} is ambiguous ({} matches found based on ID prefix)", matches.len()))),
        }
    }

    /// The predefined network of a driver (`bridge`, `host`, `none`).
    pub fn predefined(&self, name: &str) -> Option<&NetworkRecord> {
        self.networks.values().find(|n| n.predefined && n.name == name)
    }

    /// Endpoints on network `id`.
    pub fn on_network<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints.values().filter(move |e| e.network_id == id)
    }

    /// Endpoints of container `id`.
    pub fn of_container<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints.values().filter(move |e| e.container_id == id)
    }
}

/// The concrete host operations the manager uses (real in the daemon, fakes in tests).
pub struct HostOps {
    pub netlink: Arc<dyn NetlinkOpener>,
    pub nft: Arc<dyn Nft>,
    /// Path of the host-wide subnet lock.
    pub lock_path: PathBuf,
    /// Port of the embedded DNS servers (53).
    pub dns_port: u16,
}

impl HostOps {
    /// The real kernel and `nft`.
    pub fn kernel() -> Self {
        HostOps {
            netlink: Arc::new(berth_net::netlink::KernelNetlink),
            nft: Arc::new(firewall::NftCommand::default()),
            lock_path: PathBuf::from(HOST_LOCK),
            dns_port: DNS_PORT,
        }
    }
}

/// Owner of networks, endpoints and their host state.
pub struct NetworkManager {
    meta: Arc<MetaDb>,
    ops: HostOps,
    tag: Tag,
    rt: Handle,
    state: Mutex<NetState>,
    proxies: Mutex<HashMap<String, Vec<ProxyHandle>>>,
    dns: Mutex<HashMap<String, DnsServer>>,
    /// The nft script last swapped in: most container starts and stops (no published ports)
    /// leave the ruleset as it was, and spawning `nft` for nothing costs more than the rest of
    /// the network setup together.
    applied_firewall: Mutex<Option<String>>,
}

/// Maps a host-side failure to a 500 with context.
pub(crate) fn host_err(context: &str, e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("{context}: {e}"))
}

impl NetworkManager {
    /// Loads networks and endpoints, makes sure the predefined networks and every bridge exist,
    /// and brings the firewall, DNS servers and proxies in line with what was loaded.
    pub fn open(config: &DaemonConfig, meta: Arc<MetaDb>, ops: HostOps, rt: Handle) -> Result<Self, EngineError> {
        if !valid_ifname(&config.bridge) || config.bridge.len() > 12 {
            return Err(EngineError::Invalid(format!("invalid --bridge {:?}: 1 to 12 characters of [A-Za-z0-9_.-]", config.bridge)));
        }
        let bip: Option<IfAddr> = match config.bip.as_deref().filter(|b| !b.is_empty()) {
            Some(b) => Some(b.parse().map_err(|e| EngineError::Invalid(format!("invalid --bip: {e}")))?),
            None => None,
        };
        let mut st = NetState::default();
        for (_, n) in meta.list::<NetworkRecord>(NETWORKS)? {
            st.networks.insert(n.id.clone(), n);
        }
        for (_, e) in meta.list::<EndpointRecord>(ENDPOINTS)? {
            st.endpoints.insert(e.key(), e);
        }
        let mgr = NetworkManager {
            meta,
            ops,
            tag: Tag::new(&config.bridge),
            rt,
            state: Mutex::new(NetState::default()),
            proxies: Mutex::default(),
            dns: Mutex::default(),
            applied_firewall: Mutex::default(),
        };
        mgr.ensure_predefined(&mut st, config, bip)?;
        for n in st.networks.values().filter(|n| n.driver == Driver::Bridge && !n.predefined) {
            if let Err(e) = mgr.ensure_bridge(n) {
                tracing::error!(network = %n.name, "restore bridge {}: {e}", n.bridge);
            }
        }
        match berth_net::host::enable_ip_forward() {
            Ok(true) => tracing::info!("enabled IPv4 forwarding (net.ipv4.ip_forward=1)"),
            Ok(false) => {}
            Err(e) => tracing::warn!("enable IPv4 forwarding: {e}"),
        }
        *mgr.lock() = st;
        let st = mgr.lock();
        if let Err(e) = mgr.sync_firewall(&st) {
            tracing::error!("restore firewall: {e}");
        }
        mgr.restart_dns(&st);
        mgr.restart_proxies(&st);
        drop(st);
        Ok(mgr)
    }

    /// Locks the state.
    pub fn lock(&self) -> MutexGuard<'_, NetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The daemon's ownership tag.
    pub fn tag(&self) -> &Tag {
        &self.tag
    }

    /// Creates the `bridge`, `host` and `none` records if missing, and sets up the default
    /// bridge with `--bip`, its recorded subnet, or a free default pool.
    fn ensure_predefined(&self, st: &mut NetState, config: &DaemonConfig, bip: Option<IfAddr>) -> Result<(), EngineError> {
        for (name, driver) in [("host", Driver::Host), ("none", Driver::Null)] {
            if st.predefined(name).is_none() {
                let rec = new_record(name, driver, true);
                self.meta.put(NETWORKS, &rec.id, &rec)?;
                st.networks.insert(rec.id.clone(), rec);
            }
        }
        let mut rec = st.predefined("bridge").cloned().unwrap_or_else(|| new_record("bridge", Driver::Bridge, true));
        rec.bridge = config.bridge.clone();
        rec.options = default_bridge_options(&config.bridge);
        if let Some(b) = bip {
            let pool = Pool::new(b.net, Some(b.ip), None, Vec::new()).map_err(|e| EngineError::Invalid(format!("invalid --bip: {e}")))?;
            if rec.pool.as_ref() != Some(&pool) {
                rec.pool = Some(pool);
                rec.cursor = None;
            }
            rec.user_subnet = true;
        } else {
            rec.user_subnet = false;
        }
        let others: Vec<Ipv4Net> = st.networks.values().filter(|n| n.id != rec.id).filter_map(|n| n.pool.as_ref().map(|p| p.subnet)).collect();
        self.setup_default_bridge(&mut rec, &others, bip.is_some())?;
        self.meta.put(NETWORKS, &rec.id, &rec)?;
        st.networks.insert(rec.id.clone(), rec);
        Ok(())
    }

    /// Creates (or adopts) the default bridge, choosing its subnet under the host lock.
    fn setup_default_bridge(&self, rec: &mut NetworkRecord, others: &[Ipv4Net], explicit: bool) -> Result<(), EngineError> {
        let _lock = HostLock::acquire(&self.ops.lock_path).map_err(|e| host_err("take the host network lock", e))?;
        let mut nl = self.ops.netlink.host().map_err(|e| host_err("netlink", e))?;
        let exists = nl.link(&rec.bridge).map_err(|e| host_err("netlink", e))?.is_some_and(|l| self.tag.owns(l.alias.as_deref()));
        if !exists {
            let mut taken = host_subnets(nl.as_mut())?;
            taken.extend_from_slice(others);
            match &rec.pool {
                Some(p) if explicit && taken.iter().any(|t| t.overlaps(&p.subnet)) => {
                    return Err(EngineError::Invalid(format!("--bip {}: subnet {} overlaps with an existing network or route", p.gateway, p.subnet)));
                }
                Some(p) if taken.iter().any(|t| t.overlaps(&p.subnet)) => rec.pool = None,
                _ => {}
            }
            if rec.pool.is_none() {
                let subnet = ipam::pick_subnet(&taken).map_err(|e| EngineError::Internal(format!("default bridge: {e}")))?;
                rec.pool = Some(Pool::new(subnet, None, None, Vec::new()).map_err(|e| EngineError::Internal(e.to_string()))?);
                rec.cursor = None;
            }
        }
        let pool = rec.pool.clone().ok_or_else(|| EngineError::Internal("default bridge has no subnet".into()))?;
        let spec = BridgeSpec { name: rec.bridge.clone(), alias: self.tag.prefix(), gateway: pool.gateway, subnet: pool.subnet };
        bridge::ensure(nl.as_mut(), &spec, &self.tag).map_err(|e| host_err(&format!("default bridge {}", rec.bridge), e))?;
        Ok(())
    }

    /// Creates (or adopts) a user-defined network's bridge.
    fn ensure_bridge(&self, n: &NetworkRecord) -> Result<bridge::Ensured, EngineError> {
        let pool = n.pool.as_ref().ok_or_else(|| EngineError::Internal(format!("network {} has no subnet", n.name)))?;
        let spec = BridgeSpec { name: n.bridge.clone(), alias: self.tag.bridge_alias(&n.id), gateway: pool.gateway, subnet: pool.subnet };
        let mut nl = self.ops.netlink.host().map_err(|e| host_err("netlink", e))?;
        bridge::ensure(nl.as_mut(), &spec, &self.tag).map_err(|e| match e {
            bridge::BridgeError::InvalidName(_) | bridge::BridgeError::NotOurs(_) => EngineError::Conflict(e.to_string()),
            e => host_err(&format!("bridge {}", n.bridge), e),
        })
    }

    /// Re-renders the daemon's nftables table from `st` and swaps it in.
    pub(crate) fn sync_firewall(&self, st: &NetState) -> Result<(), EngineError> {
        let script = firewall::render(&self.tag.table(), &ruleset(st)).map_err(|e| host_err("firewall", e))?;
        let mut applied = self.applied_firewall.lock().unwrap_or_else(|p| p.into_inner());
        if applied.as_deref() == Some(script.as_str()) {
            return Ok(());
        }
        // Forget the old script first: if this apply fails, the next sync must not skip.
        *applied = None;
        self.ops.nft.apply(&script).map_err(|e| host_err("firewall", e))?;
        *applied = Some(script);
        Ok(())
    }

    /// Swaps fresh records into the DNS server of each network in `ids`.
    pub(crate) fn sync_dns<'a>(&self, st: &NetState, ids: impl IntoIterator<Item = &'a str>) {
        let servers = self.dns.lock().unwrap_or_else(|p| p.into_inner());
        for id in ids {
            if let (Some(server), Some(n)) = (servers.get(id), st.networks.get(id)) {
                server.update(dns_records(st, n));
            }
        }
    }

    /// Starts the DNS server of a user-defined network (a failure only costs name resolution).
    fn start_dns(&self, st: &NetState, n: &NetworkRecord) {
        let Some(pool) = n.pool.as_ref().filter(|_| n.has_dns()) else { return };
        match DnsServer::start(&self.rt, pool.gateway, self.ops.dns_port, dns_records(st, n)) {
            Ok(server) => {
                self.dns.lock().unwrap_or_else(|p| p.into_inner()).insert(n.id.clone(), server);
            }
            Err(e) => tracing::error!(network = %n.name, "embedded DNS on {}:{}: {e}", pool.gateway, self.ops.dns_port),
        }
    }

    fn stop_dns(&self, network_id: &str) {
        self.dns.lock().unwrap_or_else(|p| p.into_inner()).remove(network_id);
    }

    fn restart_dns(&self, st: &NetState) {
        for n in st.networks.values() {
            self.start_dns(st, n);
        }
    }

    /// Whether network `id` has a running DNS server.
    pub(crate) fn dns_running(&self, id: &str) -> bool {
        self.dns.lock().unwrap_or_else(|p| p.into_inner()).contains_key(id)
    }
}

fn new_record(name: &str, driver: Driver, predefined: bool) -> NetworkRecord {
    NetworkRecord {
        id: berth_image::random_hex(32),
        name: name.into(),
        created: berth_image::now_rfc3339(),
        driver,
        predefined,
        bridge: String::new(),
        pool: None,
        user_subnet: false,
        internal: false,
        attachable: false,
        options: BTreeMap::new(),
        ipam_options: BTreeMap::new(),
        labels: BTreeMap::new(),
        cursor: None,
    }
}

/// The options Docker shows on its default bridge.
fn default_bridge_options(bridge: &str) -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.enable_ip_masquerade", "true"),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
        ("com.docker.network.bridge.name", bridge),
        ("com.docker.network.driver.mtu", "1500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Subnets already routed or addressed on the host (the default route excluded).
pub(crate) fn host_subnets(nl: &mut dyn berth_net::netlink::Netlink) -> Result<Vec<Ipv4Net>, EngineError> {
    let mut taken = nl.routes().map_err(|e| host_err("netlink", e))?;
    for a in nl.addresses().map_err(|e| host_err("netlink", e))? {
        if !a.ip.is_loopback() {
            if let Some(n) = Ipv4Net::new(a.ip, a.prefix) {
                taken.push(n);
            }
        }
    }
    Ok(taken)
}

/// What the firewall must express for `st`.
pub(crate) fn ruleset(st: &NetState) -> Ruleset {
    let mut rs = Ruleset::default();
    for n in st.networks.values().filter(|n| n.driver == Driver::Bridge) {
        let Some(pool) = &n.pool else { continue };
        rs.bridges.push(BridgeRules {
            bridge: n.bridge.clone(),
            subnet: pool.subnet,
            internal: n.internal,
            masquerade: n.bool_option("com.docker.network.bridge.enable_ip_masquerade", true),
            icc: n.bool_option("com.docker.network.bridge.enable_icc", true),
            ports: st.on_network(&n.id).map(|e| e.veth.clone()).collect(),
        });
    }
    for e in st.endpoints.values() {
        for p in &e.ports {
            rs.dnat.push(DnatRule { proto: p.proto, host_ip: p.host_ip, host_port: p.host_port, container_ip: e.ip, container_port: p.container_port });
        }
    }
    rs
}

/// The DNS snapshot of network `n`.
pub(crate) fn dns_records(st: &NetState, n: &NetworkRecord) -> Records {
    let mut r = Records { network: n.name.clone(), subnet: n.pool.as_ref().map(|p| p.subnet), ..Default::default() };
    let eps: Vec<&EndpointRecord> = st.on_network(&n.id).collect();
    for e in &eps {
        for name in &e.dns_names {
            r.add(name, e.ip);
        }
        r.reverse.insert(e.ip, format!("{}.{}", e.container_name, n.name));
        let servers: Vec<SocketAddr> = e.dns_servers.iter().filter_map(|s| s.parse::<Ipv4Addr>().ok()).map(|ip| SocketAddr::from((ip, 53))).collect();
        if !servers.is_empty() {
            r.upstreams.insert(e.ip, servers);
        }
        for link in &e.links {
            let (target, alias) = plan::split_link(link);
            if let Some(t) = eps.iter().find(|t| t.container_name == target || t.container_id.starts_with(target)) {
                r.scoped.entry(e.ip).or_default().insert(alias.to_ascii_lowercase(), vec![t.ip]);
            }
        }
    }
    r.default_upstreams = etc::host_nameservers().into_iter().map(|ip| SocketAddr::from((ip, 53))).collect();
    r
}
