//! Networks and containers' networking as the API shows them: `GET /networks/{id}`, a
//! container's `NetworkSettings` (inspect), and the `Ports`/`Networks` of `docker ps`.

use std::collections::BTreeMap;

use berth_api::types::{ContainerSummary, EndpointSettings, Ipam, IpamConfig, Network, NetworkContainer, NetworkSettings, Port, PortBinding};
use berth_net::ports::parse_port_key;

use super::records::{EndpointRecord, NetworkRecord};
use super::NetState;
use crate::engine::record::ContainerRecord;
use crate::engine::Engine;

/// A network as inspect shows it (`containers` lists live endpoints when asked).
pub fn network_view(st: &NetState, n: &NetworkRecord, containers: bool) -> Network {
    let config = n
        .pool
        .as_ref()
        .map(|p| {
            vec![IpamConfig {
                subnet: p.subnet.to_string(),
                ip_range: p.range.map(|r| r.to_string()).unwrap_or_default(),
                gateway: p.gateway.to_string(),
                auxiliary_addresses: BTreeMap::new(),
            }]
        })
        .unwrap_or_default();
    let mut out = Network {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n.created.clone(),
        scope: "local".into(),
        driver: n.driver.as_str().into(),
        enable_ipv4: true,
        enable_ipv6: false,
        ipam: Ipam { driver: "default".into(), options: n.ipam_options.clone(), config },
        internal: n.internal,
        attachable: n.attachable,
        options: n.options.clone(),
        labels: n.labels.clone(),
        ..Default::default()
    };
    if containers {
        let prefix = n.pool.as_ref().map(|p| p.subnet.prefix()).unwrap_or(32);
        for e in st.on_network(&n.id) {
            out.containers.insert(
                e.container_id.clone(),
                NetworkContainer {
                    name: e.container_name.clone(),
                    endpoint_id: e.endpoint_id.clone(),
                    mac_address: e.mac.clone(),
                    ipv4_address: format!("{}/{prefix}", e.ip),
                    ipv6_address: String::new(),
                },
            );
        }
    }
    out
}

/// One network entry of a container's `NetworkSettings.Networks`.
fn endpoint_view(n: Option<&NetworkRecord>, wanted: &EndpointSettings, live: Option<&EndpointRecord>) -> EndpointSettings {
    let mut s = EndpointSettings {
        ipam_config: wanted.ipam_config.clone(),
        links: wanted.links.clone(),
        aliases: wanted.aliases.clone(),
        network_id: n.map(|n| n.id.clone()).unwrap_or_else(|| wanted.network_id.clone()),
        mac_address: wanted.mac_address.clone(),
        ..Default::default()
    };
    if let (Some(e), Some(pool)) = (live, n.and_then(|n| n.pool.as_ref())) {
        s.endpoint_id = e.endpoint_id.clone();
        s.gateway = pool.gateway.to_string();
        s.ip_address = e.ip.to_string();
        s.ip_prefix_len = i64::from(pool.subnet.prefix());
        s.mac_address = e.mac.clone();
        s.dns_names = if n.is_some_and(|n| n.has_dns()) { e.dns_names.clone() } else { Vec::new() };
    }
    s
}

impl Engine {
    /// `NetworkSettings` of an inspected container.
    pub fn network_settings(&self, rec: &ContainerRecord) -> NetworkSettings {
        let st = self.net.lock();
        let running = rec.state.status.is_running();
        let mut out = NetworkSettings::default();
        for (name, wanted) in &rec.networking.endpoints_config {
            let n = st.networks.get(&wanted.network_id).or_else(|| st.find(name).ok());
            let live = n.and_then(|n| st.endpoints.get(&super::records::endpoint_key(&rec.id, &n.id))).filter(|_| running);
            let view = endpoint_view(n, wanted, live);
            if n.is_some_and(|n| n.predefined && n.name == "bridge") {
                out.endpoint_id = view.endpoint_id.clone();
                out.gateway = view.gateway.clone();
                out.ip_address = view.ip_address.clone();
                out.ip_prefix_len = view.ip_prefix_len;
                out.mac_address = view.mac_address.clone();
            }
            out.networks.insert(n.map(|n| n.name.clone()).unwrap_or_else(|| name.clone()), view);
        }
        if running && (st.of_container(&rec.id).next().is_some() || rec.host_config.network_mode == "none") {
            out.sandbox_key = self.netns_path(&rec.id).display().to_string();
            out.sandbox_id = rec.id.clone();
        }
        if running {
            for key in rec.config.exposed_ports.keys() {
                out.ports.insert(key.clone(), None);
            }
            for e in st.of_container(&rec.id) {
                for p in &e.ports {
                    let key = format!("{}/{}", p.container_port, p.proto);
                    let binding = PortBinding { host_ip: p.host_ip.to_string(), host_port: p.host_port.to_string() };
                    out.ports.entry(key).or_insert(None).get_or_insert_with(Vec::new).push(binding);
                }
            }
        }
        out
    }

    /// Fills the `Ports` and `NetworkSettings` of a `docker ps` row.
    pub fn fill_summary_network(&self, rec: &ContainerRecord, s: &mut ContainerSummary) {
        let settings = self.network_settings(rec);
        s.network_settings.networks = settings.networks;
        let mut ports = Vec::new();
        let mut keys: Vec<&String> = rec.config.exposed_ports.keys().collect();
        keys.extend(settings.ports.keys().filter(|k| !rec.config.exposed_ports.contains_key(*k)));
        for key in keys {
            let Ok((port, proto)) = parse_port_key(key) else { continue };
            match settings.ports.get(key).cloned().flatten() {
                Some(bindings) if !bindings.is_empty() => {
                    for b in bindings {
                        ports.push(Port { ip: b.host_ip, private_port: port, public_port: b.host_port.parse().ok(), typ: proto.to_string() });
                    }
                }
                _ => ports.push(Port { ip: String::new(), private_port: port, public_port: None, typ: proto.to_string() }),
            }
        }
        s.ports = ports;
    }
}

impl Engine {
    /// `ps --filter network=X`: whether the container is attached to network `X` (name or id).
    pub fn on_network(&self, rec: &ContainerRecord, name_or_id: &str) -> bool {
        let st = self.net.lock();
        let Ok(n) = st.find(name_or_id) else { return false };
        rec.networking.endpoints_config.iter().any(|(k, s)| *k == n.name || s.network_id == n.id)
    }
}
