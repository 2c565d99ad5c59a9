//! What the container sees of its networks besides interfaces: `/etc/hosts` and
//! `/etc/resolv.conf` (through [`crate::engine::etc_files`]), and the environment variables of
//! legacy links (`DB_PORT_5432_TCP_ADDR=...`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_net::ports::parse_port_key;

use super::plan::{resolve_link, Mode};
use crate::engine::record::{ContainerDirs, ContainerRecord};
use crate::engine::{etc_files, Engine};
use crate::error::EngineError;

/// The host's IPv4 nameservers (loopback ones included: the daemon shares the host's
/// namespace, so it can forward to them where containers could not, systemd-resolved's stub
/// too).
pub fn host_nameservers() -> Vec<Ipv4Addr> {
    nameservers(&std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()).filter_map(|ip| ip.parse().ok()).collect()
}

/// The `nameserver` addresses of a resolv.conf, as written.
fn nameservers(conf: &str) -> impl Iterator<Item = &str> {
    conf.lines().filter_map(|l| {
        let mut f = l.split_whitespace();
        (f.next() == Some("nameserver")).then(|| f.next()).flatten()
    })
}

/// systemd-resolved's stub listener, which a host's /etc/resolv.conf names when resolved
/// manages DNS.
const RESOLVED_STUB: &str = "127.0.0.53";
/// The resolv.conf where systemd-resolved lists its real upstream servers.
const RESOLVED_UPSTREAMS: &str = "/run/systemd/resolve/resolv.conf";

/// The host's resolv.conf as a container that asks resolvers itself (no embedded DNS server)
/// should inherit it: `/etc/resolv.conf`, unless its only nameserver is systemd-resolved's
/// stub, which no container namespace can reach; then resolved's list of real upstreams, as
/// Docker does.
pub fn host_resolv_conf() -> String {
    pick_resolv_conf(std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(), || std::fs::read_to_string(RESOLVED_UPSTREAMS).ok())
}

fn pick_resolv_conf(etc: String, resolved: impl FnOnce() -> Option<String>) -> String {
    let only_the_stub = {
        let mut servers = nameservers(&etc);
        servers.next() == Some(RESOLVED_STUB) && servers.next().is_none()
    };
    match only_the_stub.then(resolved).flatten() {
        Some(upstreams) => upstreams,
        None => etc,
    }
}

/// Upper-cases a link alias the way Docker names its variables.
fn env_prefix(alias: &str) -> String {
    alias.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect()
}

/// The variables Docker sets for one legacy link to a container at `ip`.
pub fn link_vars(alias: &str, parent: &str, ip: Ipv4Addr, target: &ContainerRecord) -> Vec<String> {
    let p = env_prefix(alias);
    let mut out = vec![format!("{p}_NAME=/{parent}/{alias}")];
    let mut ports: BTreeMap<(u16, &'static str), ()> = BTreeMap::new();
    for key in target.config.exposed_ports.keys() {
        if let Ok((port, proto)) = parse_port_key(key) {
            ports.insert((port, proto.as_str()), ());
        }
    }
    if let Some(((port, proto), _)) = ports.iter().next() {
        out.push(format!("{p}_PORT={proto}://{ip}:{port}"));
    }
    for (port, proto) in ports.keys() {
        let k = format!("{p}_PORT_{port}_{}", proto.to_ascii_uppercase());
        out.push(format!("{k}={proto}://{ip}:{port}"));
        out.push(format!("{k}_ADDR={ip}"));
        out.push(format!("{k}_PORT={port}"));
        out.push(format!("{k}_PROTO={proto}"));
    }
    for e in &target.config.env {
        if let Some((k, v)) = e.split_once('=') {
            if k != "HOME" && k != "PATH" {
                out.push(format!("{p}_ENV_{k}={v}"));
            }
        }
    }
    out
}

impl Engine {
    /// Legacy links of a container on the default bridge: `(address, "alias id12 name")` for
    /// `/etc/hosts`, and the target records. Every target must be running.
    pub(crate) fn legacy_links(&self, rec: &ContainerRecord) -> Result<Vec<(Ipv4Addr, String, String, ContainerRecord)>, EngineError> {
        if Mode::of(&rec.host_config.network_mode) != Mode::Bridge("bridge".into()) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for link in &rec.host_config.links {
            let (h, alias) = resolve_link(self, link)?;
            let target = h.snapshot();
            let not_running = || EngineError::Invalid(format!("Cannot link to a non running container: /{} AS /{}/{alias}", target.name, rec.name));
            if !target.state.status.is_running() {
                return Err(not_running());
            }
            let st = self.net.lock();
            let bridge = st.predefined("bridge").map(|n| n.id.clone()).unwrap_or_default();
            let ip = st.of_container(&target.id).find(|e| e.network_id == bridge).map(|e| e.ip).ok_or_else(not_running)?;
            drop(st);
            let names = format!("{alias} {} {}", target.id.get(..12).unwrap_or(&target.id), target.name);
            out.push((ip, names, alias, target));
        }
        Ok(out)
    }

    /// The environment of a container's legacy links (for the OCI spec).
    pub(crate) fn link_env(&self, rec: &ContainerRecord) -> Vec<String> {
        match self.legacy_links(rec) {
            Ok(links) => links.iter().flat_map(|(ip, _, alias, target)| link_vars(alias, &rec.name, *ip, target)).collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Writes `/etc/hosts` and `/etc/resolv.conf` for a started container.
    pub(crate) fn write_net_files(&self, rec: &ContainerRecord, net: &etc_files::NetFacts) -> Result<(), EngineError> {
        let dirs = ContainerDirs::new(&self.config.data_root, &rec.id);
        let hc = &rec.host_config;
        etc_files::write_network(&dirs, &rec.config.hostname, &hc.extra_hosts, &hc.dns, &hc.dns_search, &hc.dns_options, net)
    }

    /// Gives a `container:<id>` container the other container's hosts, resolv.conf and hostname.
    pub(crate) fn share_net_files(&self, rec: &ContainerRecord, target: &ContainerRecord) -> Result<(), EngineError> {
        let from = ContainerDirs::new(&self.config.data_root, &target.id);
        let to = ContainerDirs::new(&self.config.data_root, &rec.id);
        for (a, b) in [(from.hosts(), to.hosts()), (from.resolv_conf(), to.resolv_conf()), (from.hostname(), to.hostname())] {
            std::fs::copy(&a, &b).map_err(|e| EngineError::internal(&format!("copy {}", a.display()), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_systemd_resolved_stub_gives_way_to_its_upstreams() {
        let stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch lan\n".to_string();
        let upstreams = "nameserver 192.0.2.53\nsearch lan\n".to_string();
        assert_eq!(pick_resolv_conf(stub.clone(), || Some(upstreams.clone())), upstreams);
        // No resolved file: keep the host's (the caller drops loopback servers).
        assert_eq!(pick_resolv_conf(stub.clone(), || None), stub);
        // Anything but the lone stub is the host's own choice, kept as is.
        for other in ["nameserver 127.0.0.53\nnameserver 192.0.2.1\n", "nameserver 127.0.0.1\n", "nameserver 192.0.2.1\n", ""] {
            assert_eq!(pick_resolv_conf(other.to_string(), || Some(upstreams.clone())), other);
        }
        assert_eq!(nameservers("# c\nnameserver 10.0.0.1\nnameserver  ::1 \nsearch x\n").collect::<Vec<_>>(), ["10.0.0.1", "::1"]);
    }

    #[test]
    fn link_variables_look_like_dockers() {
        let mut target: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": "x", "name": "db", "created": "", "image": "", "image_id": "",
            "config": {"Env": ["PATH=/bin", "PASSWORD=s"], "ExposedPorts": {"5432/tcp": {}, "53/udp": {}}},
            "host_config": {}, "path": "", "args": [], "restart_count": 0, "mounts": [], "networking": {},
            "state": {"status": "running", "pid": 1, "exit_code": 0, "error": "", "started_at": "", "finished_at": "", "oom_killed": false}
        }))
        .expect("record");
        target.config.env.push("HOME=/root".into());
        let v = link_vars("my-db", "web", Ipv4Addr::new(172, 17, 0, 2), &target);
        for want in [
            "MY_DB_NAME=/web/my-db",
            "MY_DB_PORT=udp://172.17.0.2:53",
            "MY_DB_PORT_5432_TCP=tcp://172.17.0.2:5432",
            "MY_DB_PORT_5432_TCP_ADDR=172.17.0.2",
            "MY_DB_PORT_5432_TCP_PORT=5432",
            "MY_DB_PORT_5432_TCP_PROTO=tcp",
            "MY_DB_ENV_PASSWORD=s",
        ] {
            assert!(v.contains(&want.to_string()), "missing {want} in {v:?}");
        }
        assert!(!v.iter().any(|e| e.contains("_ENV_PATH") || e.contains("_ENV_HOME")));
    }
}
