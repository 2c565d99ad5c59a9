//! Create-time checks of a container's networking (network mode, endpoints, static addresses,
//! aliases, links, port bindings), so bad input is refused with a 4xx before anything exists,
//! and the normalised endpoint list the start hook later plugs in.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use berth_api::types::{ContainerConfig, EndpointSettings, HostConfig, NetworkingConfig};
use berth_net::ports::{self, PortRequest};

use super::records::{Driver, NetworkRecord};
use super::NetState;
use crate::engine::registry::ContainerHandle;
use crate::engine::Engine;
use crate::error::EngineError;

/// How a container is networked, from `HostConfig.NetworkMode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Plugged into bridge networks; the string names the primary one.
    Bridge(String),
    /// The host's namespace.
    Host,
    /// Loopback only.
    None,
    /// Another container's namespace.
    Container(String),
}

impl Mode {
    /// Classifies a network mode string (`""` and `default` mean the default bridge).
    pub fn of(mode: &str) -> Mode {
        match mode {
            "" | "default" | "bridge" => Mode::Bridge("bridge".into()),
            "host" => Mode::Host,
            "none" => Mode::None,
            m => match m.strip_prefix("container:") {
                Some(c) => Mode::Container(c.to_string()),
                None => Mode::Bridge(m.to_string()),
            },
        }
    }
}

/// `target[:alias]` of a `--link`.
pub fn split_link(link: &str) -> (&str, &str) {
    let link = link.trim_start_matches('/');
    match link.split_once(':') {
        Some((t, a)) => (t, a.rsplit('/').next().unwrap_or(a)),
        None => (link, link),
    }
}

/// The container a `--link` points at, and the alias.
pub fn resolve_link(engine: &Engine, link: &str) -> Result<(Arc<ContainerHandle>, String), EngineError> {
    let (target, alias) = split_link(link);
    let h = engine.containers.get(target).map_err(|_| EngineError::NotFound(format!("could not get container for {target}: No such container: {target}")))?;
    Ok((h, alias.to_string()))
}

/// The `IPAMConfig.IPv4Address` of an endpoint, if any.
pub fn static_ip(s: &EndpointSettings) -> Result<Option<Ipv4Addr>, EngineError> {
    let Some(v) = s.ipam_config.as_ref().and_then(|c| c.get("IPv4Address")).and_then(|v| v.as_str()) else { return Ok(None) };
    if v.is_empty() {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| EngineError::Invalid(format!("invalid IPv4 address: {v}")))
}

/// Checks one endpoint's settings against its network.
pub fn check_endpoint(n: &NetworkRecord, s: &EndpointSettings) -> Result<(), EngineError> {
    if let Some(ip) = static_ip(s)? {
        if !n.user_subnet {
            return Err(EngineError::Invalid("user specified IP address is supported only when connecting to networks with user configured subnets".into()));
        }
        if !n.pool.as_ref().is_some_and(|p| p.subnet.contains(ip)) {
            return Err(EngineError::Invalid(format!("invalid endpoint settings: no configured subnet contains IP address {ip}")));
        }
    }
    if n.predefined && !s.aliases.is_empty() {
        return Err(EngineError::Invalid("network-scoped alias is supported only for containers in user defined networks".into()));
    }
    Ok(())
}

/// Every port a container asks to publish: `PortBindings`, plus every exposed port on a
/// random host port with `-P`.
pub fn port_requests(hc: &HostConfig, cfg: &ContainerConfig) -> Result<Vec<PortRequest>, EngineError> {
    let invalid = |e: ports::PortError| EngineError::Invalid(e.to_string());
    let mut out = Vec::new();
    for (key, bindings) in &hc.port_bindings {
        let bindings = bindings.clone().unwrap_or_default();
        if bindings.is_empty() {
            out.push(ports::parse_binding(key, "", "").map_err(invalid)?);
        }
        for b in bindings {
            out.push(ports::parse_binding(key, &b.host_ip, &b.host_port).map_err(invalid)?);
        }
    }
    for key in cfg.exposed_ports.keys() {
        let (port, proto) = ports::parse_port_key(key).map_err(invalid)?;
        if hc.publish_all_ports && !out.iter().any(|r| r.container_port == port && r.proto == proto) {
            out.push(ports::parse_binding(key, "", "").map_err(invalid)?);
        }
    }
    Ok(out)
}

impl Engine {
    /// Validates a create request's networking and returns its normalised endpoints: keyed by
    /// network name, primary network included, `NetworkID` filled.
    ///
    /// Unknown networks and containers are 400s here, not 404s: the docker CLI answers any 404
    /// from create by pulling the image and trying again.
    pub fn plan_networking(&self, hc: &HostConfig, cfg: &ContainerConfig, nc: NetworkingConfig) -> Result<NetworkingConfig, EngineError> {
        self.plan_networking_inner(hc, cfg, nc).map_err(|e| match e {
            EngineError::NotFound(m) => EngineError::Invalid(m),
            e => e,
        })
    }

    fn plan_networking_inner(&self, hc: &HostConfig, cfg: &ContainerConfig, nc: NetworkingConfig) -> Result<NetworkingConfig, EngineError> {
        port_requests(hc, cfg)?;
        for link in &hc.links {
            resolve_link(self, link)?;
        }
        let st = self.net.lock();
        let endpoints = match Mode::of(&hc.network_mode) {
            Mode::Host | Mode::None => {
                let name = if Mode::of(&hc.network_mode) == Mode::Host { "host" } else { "none" };
                if nc.endpoints_config.keys().any(|k| k != name && k != "default") {
                    return Err(EngineError::Invalid(format!("container cannot be connected to multiple networks with one of the networks in {name} mode")));
                }
                let n = st.find(name)?;
                let mut s = nc.endpoints_config.into_values().next().unwrap_or_default();
                s.network_id = n.id.clone();
                BTreeMap::from([(name.to_string(), s)])
            }
            Mode::Container(target) => {
                self.containers.get(&target)?;
                if !hc.port_bindings.is_empty() || hc.publish_all_ports {
                    return Err(EngineError::Invalid("conflicting options: port publishing and the container type network mode".into()));
                }
                if nc.endpoints_config.keys().any(|k| k != "default") {
                    return Err(EngineError::Invalid(
                        "container sharing network namespace with another container or host cannot be connected to any other network".into(),
                    ));
                }
                BTreeMap::new()
            }
            Mode::Bridge(primary) => bridge_endpoints(&st, &hc.network_mode, &primary, nc)?,
        };
        Ok(NetworkingConfig { endpoints_config: endpoints })
    }
}

/// Normalises the endpoints of a bridge-mode container.
fn bridge_endpoints(st: &NetState, mode: &str, primary: &str, nc: NetworkingConfig) -> Result<BTreeMap<String, EndpointSettings>, EngineError> {
    let mut out = BTreeMap::new();
    let main = st.find(primary)?;
    if main.driver != Driver::Bridge {
        return Err(EngineError::Invalid(format!("network {primary} cannot be used as a network mode")));
    }
    for (key, mut s) in nc.endpoints_config {
        let n = if key == "default" || key == mode || key == primary { main } else { st.find(&key)? };
        if n.driver != Driver::Bridge {
            return Err(EngineError::Invalid(format!("container cannot be connected to multiple networks with one of the networks in {} mode", n.name)));
        }
        check_endpoint(n, &s)?;
        s.network_id = n.id.clone();
        out.insert(n.name.clone(), s);
    }
    out.entry(main.name.clone()).or_insert_with(|| EndpointSettings { network_id: main.id.clone(), ..Default::default() });
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_links() {
        assert_eq!(Mode::of(""), Mode::Bridge("bridge".into()));
        assert_eq!(Mode::of("default"), Mode::Bridge("bridge".into()));
        assert_eq!(Mode::of("mynet"), Mode::Bridge("mynet".into()));
        assert_eq!(Mode::of("container:abc"), Mode::Container("abc".into()));
        assert_eq!(Mode::of("host"), Mode::Host);
        assert_eq!(split_link("db"), ("db", "db"));
        assert_eq!(split_link("c1:db"), ("c1", "db"));
        assert_eq!(split_link("/c1:/c2/db"), ("c1", "db"));
    }

    #[test]
    fn publish_all_adds_exposed_ports_once() {
        let mut hc = HostConfig { publish_all_ports: true, ..Default::default() };
        hc.port_bindings.insert("80/tcp".into(), Some(vec![berth_api::types::PortBinding { host_ip: "".into(), host_port: "8080".into() }]));
        let mut cfg = ContainerConfig::default();
        cfg.exposed_ports.insert("80/tcp".into(), serde_json::json!({}));
        cfg.exposed_ports.insert("53/udp".into(), serde_json::json!({}));
        let r = port_requests(&hc, &cfg).expect("valid");
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].host_ports, (8080, 8080));
        assert_eq!((r[1].container_port, r[1].host_ports), (53, (0, 0)));
        hc.port_bindings.insert("x/tcp".into(), None);
        assert!(port_requests(&hc, &cfg).is_err());
    }
}
