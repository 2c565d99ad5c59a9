//! Plugging containers in and out: addresses from IPAM, veth pairs, published ports (bound
//! first, so a port in use is refused before anything changes), the firewall table, the DNS
//! snapshots and the endpoint records, in that order, with everything applied undone if a
//! later step fails. Unplugging is best effort and logs every failure.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;

use berth_api::types::EndpointSettings;
use berth_net::endpoint::{self, VethSpec};
use berth_net::ipam::IpamError;
use berth_net::naming::{format_mac, mac_for};
use berth_net::ports::{PortMapping, PortRequest};
use berth_net::proxy::{self, Bound};

use super::plan::static_ip;
use super::records::{endpoint_key, EndpointRecord, NetworkRecord, ENDPOINTS, NETWORKS};
use super::{host_err, NetState, NetworkManager};
use crate::error::EngineError;

/// What a container brings to [`NetworkManager::plug`].
pub struct PlugRequest<'a> {
    pub container_id: &'a str,
    pub container_name: &'a str,
    pub netns: &'a Path,
    /// Networks with their endpoint settings, primary first.
    pub networks: Vec<(NetworkRecord, EndpointSettings)>,
    /// Ports to publish on the endpoint that carries the default route.
    pub ports: Vec<PortRequest>,
    /// `--link` entries (resolved by DNS on user-defined networks).
    pub links: Vec<String>,
    /// `--dns` servers.
    pub dns_servers: Vec<String>,
}

/// Maps an IPAM refusal to its HTTP kind.
pub(crate) fn ipam_err(network: &str, e: IpamError) -> EngineError {
    match e {
        IpamError::InUse(_) => EngineError::Conflict(format!("{e} on network {network}")),
        IpamError::Invalid(_) => EngineError::Invalid(e.to_string()),
        IpamError::Exhausted(_) | IpamError::NoPool => EngineError::Conflict(e.to_string()),
    }
}

impl NetworkManager {
    /// Plugs a container into its networks; on error nothing is left behind.
    pub fn plug(&self, req: &PlugRequest<'_>) -> Result<Vec<EndpointRecord>, EngineError> {
        let mut st = self.lock();
        let mut planned = plan_endpoints(&st, req)?;
        let bound = match planned.iter_mut().find(|e| e.gateway) {
            Some(gw) => {
                let bound = bind_ports(&req.ports, req.container_name, &gw.endpoint_id)?;
                gw.ports = bound.iter().map(|(m, _)| m.clone()).collect();
                bound
            }
            None => Vec::new(),
        };
        self.apply_endpoints(&mut st, &planned, req.netns)?;
        let proxies: Vec<_> = bound
            .into_iter()
            .filter_map(|(m, b)| {
                let ip = planned.iter().find(|e| e.gateway).map(|e| e.ip)?;
                let target = SocketAddrV4::new(ip, m.container_port);
                proxy::start(&self.rt, b, target, m).map_err(|e| tracing::error!("start proxy: {e}")).ok()
            })
            .collect();
        if !proxies.is_empty() {
            self.proxies.lock().unwrap_or_else(|p| p.into_inner()).insert(req.container_id.to_string(), proxies);
        }
        let ids: Vec<String> = planned.iter().map(|e| e.network_id.clone()).collect();
        self.sync_dns(&st, ids.iter().map(String::as_str));
        Ok(planned)
    }

    /// Creates the veths, then records the endpoints (state, firewall, database); undoes the
    /// veths and the state if any step fails.
    fn apply_endpoints(&self, st: &mut NetState, planned: &[EndpointRecord], netns: &Path) -> Result<(), EngineError> {
        let mut done: Vec<EndpointRecord> = Vec::new();
        for ep in planned {
            let Some(n) = st.networks.get(&ep.network_id) else { continue };
            let (spec, name) = (veth_spec(self, n, ep, netns)?, n.name.clone());
            if let Err(e) = endpoint::attach(self.ops.netlink.as_ref(), &spec) {
                self.undo(st, &done);
                return Err(host_err(&format!("attach to network {name}"), e));
            }
            done.push(ep.clone());
        }
        for ep in planned {
            st.endpoints.insert(ep.key(), ep.clone());
        }
        let persisted = self.sync_firewall(st).and_then(|()| self.persist_endpoints(st, planned));
        if let Err(e) = persisted {
            self.undo(st, planned);
            return Err(e);
        }
        Ok(())
    }

    /// Writes the endpoints and the networks' allocation cursors in one transaction.
    fn persist_endpoints(&self, st: &mut NetState, eps: &[EndpointRecord]) -> Result<(), EngineError> {
        for ep in eps {
            if let Some(n) = st.networks.get_mut(&ep.network_id) {
                n.cursor = Some(ep.ip);
            }
        }
        let nets: Vec<NetworkRecord> = eps.iter().filter_map(|e| st.networks.get(&e.network_id).cloned()).collect();
        self.meta.write(|txn| -> Result<(), EngineError> {
            for ep in eps {
                berth_image::meta::put_in(txn, ENDPOINTS, &ep.key(), ep)?;
            }
            for n in &nets {
                berth_image::meta::put_in(txn, NETWORKS, &n.id, n)?;
            }
            Ok(())
        })
    }

    /// Removes endpoints from the state, the firewall, the host and the database; returns every
    /// failure instead of stopping at the first.
    pub(crate) fn undo(&self, st: &mut NetState, eps: &[EndpointRecord]) -> Vec<String> {
        self.undo_with(st, eps, Links::Delete)
    }

    fn undo_with(&self, st: &mut NetState, eps: &[EndpointRecord], links: Links) -> Vec<String> {
        let mut errors = Vec::new();
        for ep in eps {
            st.endpoints.remove(&ep.key());
        }
        if let Err(e) = self.sync_firewall(st) {
            errors.push(e.to_string());
        }
        match self.ops.netlink.host() {
            _ if links == Links::GoWithNamespace => {}
            Ok(mut host) => {
                for ep in eps {
                    if let Err(e) = endpoint::detach(host.as_mut(), &ep.veth) {
                        errors.push(format!("delete veth {}: {e}", ep.veth));
                    }
                }
            }
            Err(e) => errors.push(e.to_string()),
        }
        let deleted = self.meta.write(|txn| -> Result<(), EngineError> {
            for ep in eps {
                berth_image::meta::delete_in(txn, ENDPOINTS, &ep.key())?;
            }
            Ok(())
        });
        if let Err(e) = deleted {
            errors.push(e.to_string());
        }
        let ids: Vec<String> = eps.iter().map(|e| e.network_id.clone()).collect();
        self.sync_dns(st, ids.iter().map(String::as_str));
        for e in &errors {
            tracing::warn!("network teardown: {e}");
        }
        errors
    }

    /// Unplugs every endpoint of a container and stops its proxies; every step runs even when
    /// an earlier one failed, and every failure is returned (they are also logged).
    pub fn unplug(&self, container_id: &str) -> Vec<String> {
        self.unplug_all(container_id, Links::Delete)
    }

    /// Unplugs a container whose network namespace is released right after, with no process
    /// left in it: the kernel deletes its veth pairs when the namespace goes, off this path,
    /// instead of one deletion per pair here, each waiting out an RCU grace period (10-20 ms
    /// of every container exit).
    pub fn unplug_dying(&self, container_id: &str) -> Vec<String> {
        self.unplug_all(container_id, Links::GoWithNamespace)
    }

    fn unplug_all(&self, container_id: &str, links: Links) -> Vec<String> {
        let proxies = self.proxies.lock().unwrap_or_else(|p| p.into_inner()).remove(container_id);
        drop(proxies);
        let mut st = self.lock();
        let eps: Vec<EndpointRecord> = st.of_container(container_id).cloned().collect();
        if eps.is_empty() {
            return Vec::new();
        }
        self.undo_with(&mut st, &eps, links)
    }

    /// Unplugs one endpoint (disconnect of a running container).
    pub fn unplug_one(&self, container_id: &str, network_id: &str) -> Vec<String> {
        let mut st = self.lock();
        let Some(ep) = st.endpoints.get(&endpoint_key(container_id, network_id)).cloned() else { return Vec::new() };
        if !ep.ports.is_empty() {
            self.proxies.lock().unwrap_or_else(|p| p.into_inner()).remove(container_id);
        }
        self.undo(&mut st, &[ep])
    }
}

/// Who removes the veth pairs of endpoints being undone.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Links {
    /// Deleted here (the namespace lives on, or a plug is rolled back).
    Delete,
    /// Left to the kernel, which deletes them with the namespace about to be released.
    GoWithNamespace,
}

/// Addresses, names and interface names for every endpoint of a plug request.
fn plan_endpoints(st: &NetState, req: &PlugRequest<'_>) -> Result<Vec<EndpointRecord>, EngineError> {
    let mut used_ifnames: BTreeSet<String> = st.of_container(req.container_id).map(|e| e.ifname.clone()).collect();
    let mut has_gateway = st.of_container(req.container_id).any(|e| e.gateway);
    let mut out = Vec::new();
    for (n, s) in &req.networks {
        if st.endpoints.contains_key(&endpoint_key(req.container_id, &n.id)) {
            return Err(EngineError::Forbidden(format!("endpoint with name {} already exists in network {}", req.container_name, n.name)));
        }
        let pool = n.pool.as_ref().ok_or_else(|| EngineError::Internal(format!("network {} has no subnet", n.name)))?;
        let in_use: BTreeSet<Ipv4Addr> = st.on_network(&n.id).map(|e| e.ip).collect();
        let ip = match static_ip(s)? {
            Some(ip) => pool.check_static(ip, &in_use).map(|()| ip),
            None => pool.allocate(&in_use, n.cursor),
        }
        .map_err(|e| ipam_err(&n.name, e))?;
        let ifname = (0..).map(|i| format!("eth{i}")).find(|n| !used_ifnames.contains(n)).unwrap_or_default();
        used_ifnames.insert(ifname.clone());
        let gateway = !has_gateway && !n.internal;
        has_gateway |= gateway;
        let short = req.container_id.get(..12).unwrap_or(req.container_id).to_string();
        let mut dns_names = vec![req.container_name.to_string()];
        dns_names.extend(s.aliases.iter().cloned());
        dns_names.push(short);
        dns_names.dedup();
        out.push(EndpointRecord {
            container_id: req.container_id.to_string(),
            network_id: n.id.clone(),
            endpoint_id: berth_image::random_hex(32),
            container_name: req.container_name.to_string(),
            ip,
            mac: mac_of(s, ip),
            veth: format!("bv{}", berth_image::random_hex(6)),
            ifname,
            aliases: s.aliases.clone(),
            links: if n.predefined { Vec::new() } else { req.links.iter().chain(&s.links).cloned().collect() },
            dns_names,
            dns_servers: req.dns_servers.clone(),
            ports: Vec::new(),
            gateway,
        });
    }
    Ok(out)
}

/// The endpoint's MAC: `--mac-address` if given, else derived from the address.
fn mac_of(s: &EndpointSettings, ip: Ipv4Addr) -> String {
    let wanted: Vec<u8> = s.mac_address.split(':').filter_map(|h| u8::from_str_radix(h, 16).ok()).collect();
    if wanted.len() == 6 && s.mac_address.len() == 17 {
        return s.mac_address.to_ascii_lowercase();
    }
    format_mac(mac_for(ip))
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    for (o, h) in out.iter_mut().zip(s.split(':')) {
        *o = u8::from_str_radix(h, 16).unwrap_or(0);
    }
    out
}

fn veth_spec(mgr: &NetworkManager, n: &NetworkRecord, ep: &EndpointRecord, netns: &Path) -> Result<VethSpec, EngineError> {
    let pool = n.pool.as_ref().ok_or_else(|| EngineError::Internal(format!("network {} has no subnet", n.name)))?;
    Ok(VethSpec {
        host_name: ep.veth.clone(),
        alias: mgr.tag.veth_alias(&ep.container_id, &n.id),
        bridge: n.bridge.clone(),
        netns: netns.to_path_buf(),
        ifname: ep.ifname.clone(),
        mac: parse_mac(&ep.mac),
        ip: ep.ip,
        prefix: pool.subnet.prefix(),
        default_route: ep.gateway.then_some(pool.gateway),
    })
}

/// Binds the host side of every requested port (the validation step: a port in use fails
/// here, before anything else changed).
fn bind_ports(requests: &[PortRequest], name: &str, endpoint_id: &str) -> Result<Vec<(PortMapping, Bound)>, EngineError> {
    let mut out = Vec::new();
    for r in requests {
        let (lo, hi) = r.host_ports;
        let candidates: Vec<u16> = if lo == 0 { vec![0] } else { (lo..=hi).collect() };
        let mut last_err = None;
        let mut got = None;
        for p in candidates {
            match proxy::bind(r.proto, SocketAddrV4::new(r.host_ip, p)) {
                Ok(b) => {
                    got = Some(b);
                    break;
                }
                Err(e) => last_err = Some((p, e)),
            }
        }
        let Some((bound, port)) = got else {
            let (p, e) = last_err.unwrap_or((lo, std::io::Error::from(std::io::ErrorKind::AddrInUse)));
            let what = if lo != hi { format!("{}:{lo}-{hi}", r.host_ip) } else { format!("{}:{p}", r.host_ip) };
            let ep = endpoint_id.get(..12).unwrap_or(endpoint_id);
            let msg = format!("driver failed programming external connectivity on endpoint {name} ({ep}): Bind for {what} failed: ");
            return Err(match e.kind() {
                std::io::ErrorKind::AddrInUse => EngineError::Conflict(format!("{msg}port is already allocated")),
                _ => EngineError::Invalid(format!("{msg}{e}")),
            });
        };
        out.push((PortMapping { proto: r.proto, container_port: r.container_port, host_ip: r.host_ip, host_port: port }, bound));
    }
    Ok(out)
}
