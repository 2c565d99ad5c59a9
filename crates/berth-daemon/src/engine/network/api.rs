//! `/networks`: create (validated in full before the host is touched), list, inspect, remove
//! and prune.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use berth_api::filters::Filters;
use berth_api::types::{Network, NetworkCreateRequest, NetworkCreateResponse, NetworkPruneResponse};
use berth_net::bridge;
use berth_net::host::HostLock;
use berth_net::ipam::{self, Pool};
use berth_net::ipnet::Ipv4Net;
use berth_net::naming::{network_bridge_name, valid_ifname};

use super::records::{Driver, NetworkRecord, NETWORKS};
use super::view::network_view;
use super::{host_err, host_subnets, NetState, NetworkManager};
use crate::engine::Engine;
use crate::error::EngineError;

/// The driver option naming the bridge interface.
const BRIDGE_NAME_OPT: &str = "com.docker.network.bridge.name";

/// A create request once validated (nothing about the host is decided yet).
struct NewNetwork {
    rec: NetworkRecord,
    /// The user's subnet plan, if any.
    wanted: Option<Plan>,
}

fn valid_name(n: &str) -> bool {
    let mut b = n.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric()) && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

fn parse_ip(what: &str, s: &str) -> Result<Option<Ipv4Addr>, EngineError> {
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| EngineError::Invalid(format!("invalid {what}: {s}")))
}

/// Checks a create request and turns it into a record (without subnet yet).
fn validate(st: &NetState, req: NetworkCreateRequest) -> Result<NewNetwork, EngineError> {
    if !valid_name(&req.name) {
        return Err(EngineError::Invalid(format!("invalid network name {:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.name)));
    }
    match req.driver.as_str() {
        "" | "bridge" => {}
        "host" | "null" => return Err(EngineError::Forbidden(format!("only one instance of \"{}\" network is allowed", req.driver))),
        other => return Err(EngineError::NotFound(format!("plugin \"{other}\" not found"))),
    }
    if st.networks.values().any(|n| n.name == req.name) {
        return Err(EngineError::Conflict(format!("network with name {} already exists", req.name)));
    }
    if req.ingress || req.config_only || req.config_from.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(EngineError::Invalid("ingress and config-only networks are not supported".into()));
    }
    if req.enable_ipv6 == Some(true) {
        return Err(EngineError::Invalid("IPv6 networks are not supported".into()));
    }
    let ipam = req.ipam.unwrap_or_default();
    if !matches!(ipam.driver.as_str(), "" | "default") {
        return Err(EngineError::NotFound(format!("plugin \"{}\" not found", ipam.driver)));
    }
    let v4: Vec<_> = ipam.config.iter().filter(|c| !c.subnet.contains(':')).collect();
    if v4.len() != ipam.config.len() {
        return Err(EngineError::Invalid("IPv6 subnets are not supported".into()));
    }
    let wanted = match v4.as_slice() {
        [] => None,
        [c] => Some(parse_plan(c)?),
        _ => return Err(EngineError::Invalid("only one IPv4 IPAM configuration is supported".into())),
    };
    let id = berth_image::random_hex(32);
    let bridge = req.options.get(BRIDGE_NAME_OPT).cloned().unwrap_or_else(|| network_bridge_name(&id));
    if !valid_ifname(&bridge) {
        return Err(EngineError::Invalid(format!("invalid bridge name {bridge:?}: 1 to 15 characters of [A-Za-z0-9_.-]")));
    }
    if st.networks.values().any(|n| n.bridge == bridge) {
        return Err(EngineError::Conflict(format!("bridge name {bridge} is already used by another network")));
    }
    let rec = NetworkRecord {
        id,
        name: req.name,
        created: berth_image::now_rfc3339(),
        driver: Driver::Bridge,
        predefined: false,
        bridge,
        pool: None,
        user_subnet: wanted.is_some(),
        internal: req.internal,
        attachable: req.attachable,
        options: req.options,
        ipam_options: ipam.options,
        labels: req.labels,
        cursor: None,
    };
    Ok(NewNetwork { rec, wanted })
}

/// A user's subnet plan: subnet, gateway, ip-range, auxiliary addresses.
type Plan = (Ipv4Net, Option<Ipv4Addr>, Option<Ipv4Net>, Vec<Ipv4Addr>);

fn parse_plan(c: &berth_api::types::IpamConfig) -> Result<Plan, EngineError> {
    if c.subnet.is_empty() {
        return Err(EngineError::Invalid("IPAM configuration needs a subnet".into()));
    }
    let subnet: Ipv4Net = c.subnet.parse().map_err(|e| EngineError::Invalid(format!("{e}")))?;
    let range = if c.ip_range.is_empty() { None } else { Some(c.ip_range.parse().map_err(|e| EngineError::Invalid(format!("{e}")))?) };
    let gateway = parse_ip("gateway", &c.gateway)?;
    let mut aux = Vec::new();
    for v in c.auxiliary_addresses.values() {
        aux.extend(parse_ip("auxiliary address", v)?);
    }
    Pool::new(subnet, gateway, range, aux.clone()).map_err(|e| EngineError::Invalid(e.to_string()))?;
    Ok((subnet, gateway, range, aux))
}

impl NetworkManager {
    /// Creates a user-defined bridge network: validate, choose the subnet under the host lock,
    /// create the bridge, update the firewall, persist; undo the bridge if a later step fails.
    pub fn create(&self, req: NetworkCreateRequest) -> Result<NetworkRecord, EngineError> {
        let mut st = self.lock();
        let NewNetwork { mut rec, wanted } = validate(&st, req)?;
        let ours: Vec<Ipv4Net> = st.networks.values().filter_map(|n| n.pool.as_ref().map(|p| p.subnet)).collect();
        let _host = HostLock::acquire(&self.ops.lock_path).map_err(|e| host_err("take the host network lock", e))?;
        let mut nl = self.ops.netlink.host().map_err(|e| host_err("netlink", e))?;
        let overlap = || EngineError::Forbidden("invalid pool request: Pool overlaps with other one on this address space".into());
        rec.pool = Some(match wanted {
            Some((subnet, gw, range, aux)) => {
                if ours.iter().any(|o| o.overlaps(&subnet)) {
                    return Err(overlap());
                }
                if let Some(t) = host_subnets(nl.as_mut())?.into_iter().find(|t| t.overlaps(&subnet)) {
                    return Err(EngineError::Forbidden(format!("invalid pool request: Pool {subnet} overlaps with {t}, already routed on the host")));
                }
                Pool::new(subnet, gw, range, aux).map_err(|e| EngineError::Invalid(e.to_string()))?
            }
            None => {
                let mut taken = host_subnets(nl.as_mut())?;
                taken.extend(ours);
                let subnet = ipam::pick_subnet(&taken).map_err(|e| EngineError::Forbidden(e.to_string()))?;
                Pool::new(subnet, None, None, Vec::new()).map_err(|e| EngineError::Internal(e.to_string()))?
            }
        });
        if nl.link(&rec.bridge).map_err(|e| host_err("netlink", e))?.is_some() {
            return Err(EngineError::Conflict(format!("interface {} already exists", rec.bridge)));
        }
        drop(nl);
        self.ensure_bridge(&rec)?;
        st.networks.insert(rec.id.clone(), rec.clone());
        let applied = self.sync_firewall(&st).and_then(|()| self.meta.put(NETWORKS, &rec.id, &rec).map_err(EngineError::from));
        if let Err(e) = applied {
            st.networks.remove(&rec.id);
            let _ = self.sync_firewall(&st);
            self.delete_bridge(&rec);
            return Err(e);
        }
        self.start_dns(&st, &rec);
        Ok(rec)
    }

    fn delete_bridge(&self, rec: &NetworkRecord) -> Option<String> {
        let r = self
            .ops
            .netlink
            .host()
            .map_err(|e| e.to_string())
            .and_then(|mut nl| bridge::remove(nl.as_mut(), &rec.bridge, &self.tag).map_err(|e| e.to_string()));
        r.err().map(|e| format!("delete bridge {}: {e}", rec.bridge))
    }

    /// Removes a user-defined network without endpoints; every teardown step runs, and their
    /// failures are reported together.
    pub fn remove(&self, name_or_id: &str) -> Result<NetworkRecord, EngineError> {
        let mut st = self.lock();
        let rec = st.find(name_or_id)?.clone();
        if rec.predefined {
            return Err(EngineError::Forbidden(format!("{} is a pre-defined network and cannot be removed", rec.name)));
        }
        let active: Vec<String> =
            st.on_network(&rec.id).map(|e| format!("name:\"{}\" id:\"{}\"", e.container_name, &e.container_id[..12.min(e.container_id.len())])).collect();
        if !active.is_empty() {
            return Err(EngineError::Forbidden(format!("error while removing network: network {} has active endpoints ({})", rec.name, active.join(", "))));
        }
        self.stop_dns(&rec.id);
        st.networks.remove(&rec.id);
        let mut errors = Vec::new();
        if let Err(e) = self.sync_firewall(&st) {
            errors.push(e.to_string());
        }
        errors.extend(self.delete_bridge(&rec));
        if let Err(e) = self.meta.delete(NETWORKS, &rec.id) {
            errors.push(e.to_string());
        }
        if errors.is_empty() {
            Ok(rec)
        } else {
            Err(EngineError::Internal(format!("network {} removed with errors: {}", rec.name, errors.join("; "))))
        }
    }
}

/// The unix time an `until` filter means: seconds, RFC 3339, or a duration ago (`24h`).
fn parse_until(u: &str) -> Option<i64> {
    if let Ok(n) = u.parse::<f64>() {
        return Some(n as i64);
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(u) {
        return Some(t.timestamp());
    }
    let (num, unit) = u.split_at(u.len().checked_sub(1)?);
    let n: i64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return None,
    };
    Some(chrono::Utc::now().timestamp() - secs)
}

/// Whether a network passes `docker network ls` filters.
fn matches(st: &NetState, n: &NetworkRecord, f: &Filters) -> bool {
    let any = |key: &str, test: &dyn Fn(&str) -> bool| !f.has(key) || f.get(key).iter().any(|v| test(v));
    any("name", &|v| n.name.contains(v))
        && any("id", &|v| n.id.starts_with(v))
        && any("driver", &|v| v == n.driver.as_str())
        && any("scope", &|v| v == "local")
        && any("type", &|v| (v == "builtin") == n.predefined)
        && any("dangling", &|v| (v == "true" || v == "1") == (st.on_network(&n.id).next().is_none() && !n.predefined))
        && f.labels_match(&n.labels)
}

impl Engine {
    /// `POST /networks/create`.
    pub fn create_network(&self, req: NetworkCreateRequest) -> Result<NetworkCreateResponse, EngineError> {
        let rec = self.net.create(req)?;
        self.network_event("create", &rec, None);
        Ok(NetworkCreateResponse { id: rec.id, warning: String::new() })
    }

    /// `GET /networks`.
    pub fn list_networks(&self, f: &Filters) -> Result<Vec<Network>, EngineError> {
        f.only(&["name", "id", "driver", "scope", "type", "dangling", "label"]).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let st = self.net.lock();
        let mut out: Vec<Network> = st.networks.values().filter(|n| matches(&st, n, f)).map(|n| network_view(&st, n, false)).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// `GET /networks/{id}`.
    pub fn inspect_network(&self, name_or_id: &str) -> Result<Network, EngineError> {
        let st = self.net.lock();
        let n = st.find(name_or_id)?;
        Ok(network_view(&st, n, true))
    }

    /// `DELETE /networks/{id}`.
    pub fn remove_network(&self, name_or_id: &str) -> Result<(), EngineError> {
        let rec = self.net.remove(name_or_id)?;
        self.network_event("destroy", &rec, None);
        Ok(())
    }

    /// `POST /networks/prune`: user-defined networks without endpoints.
    pub fn prune_networks(&self, f: &Filters) -> Result<NetworkPruneResponse, EngineError> {
        f.only(&["label", "until"]).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let until = f.get("until").first().and_then(|u| parse_until(u));
        let candidates: Vec<NetworkRecord> = {
            let st = self.net.lock();
            st.networks
                .values()
                .filter(|n| !n.predefined && st.on_network(&n.id).next().is_none() && f.labels_match(&n.labels))
                .filter(|n| until.is_none_or(|u| chrono::DateTime::parse_from_rfc3339(&n.created).is_ok_and(|c| c.timestamp() < u)))
                .cloned()
                .collect()
        };
        let mut out = NetworkPruneResponse::default();
        for n in candidates {
            match self.remove_network(&n.id) {
                Ok(()) => out.networks_deleted.push(n.name),
                Err(e) => tracing::warn!(network = %n.name, "prune: {e}"),
            }
        }
        Ok(out)
    }

    /// Publishes a network event (`create`, `destroy`, `connect`, `disconnect`).
    pub(crate) fn network_event(&self, action: &str, n: &NetworkRecord, container: Option<&str>) {
        let mut attrs = BTreeMap::from([("name".to_string(), n.name.clone()), ("type".to_string(), n.driver.as_str().to_string())]);
        if let Some(c) = container {
            attrs.insert("container".into(), c.to_string());
        }
        self.events.publish("network", action, &n.id, attrs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_api::types::{Ipam, IpamConfig};

    fn req(name: &str, subnet: &str) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.into(),
            ipam: Some(Ipam { config: vec![IpamConfig { subnet: subnet.into(), ..Default::default() }], ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn create_requests_are_validated_before_anything_happens() {
        let st = NetState::default();
        assert!(validate(&st, req("ok-net_1.x", "10.5.0.0/16")).is_ok());
        assert!(matches!(validate(&st, req("-bad", "")), Err(EngineError::Invalid(_))));
        assert!(matches!(validate(&st, req("n", "10.5.0.0/33")), Err(EngineError::Invalid(_))));
        assert!(matches!(validate(&st, req("n", "fd00::/64")), Err(EngineError::Invalid(_))));
        let mut r = req("n", "10.5.0.0/16");
        r.driver = "overlay".into();
        assert!(matches!(validate(&st, r), Err(EngineError::NotFound(_))));
        let mut r = req("n", "10.5.0.0/16");
        if let Some(i) = r.ipam.as_mut() {
            i.config[0].gateway = "10.6.0.1".into();
        }
        assert!(matches!(validate(&st, r), Err(EngineError::Invalid(_))));
        let mut r = req("n", "10.5.0.0/16");
        r.options.insert(BRIDGE_NAME_OPT.into(), "much-too-long-bridge".into());
        assert!(matches!(validate(&st, r), Err(EngineError::Invalid(_))));
        assert!(parse_until("10").is_some_and(|t| t == 10));
        assert!(parse_until("1h").is_some());
        assert!(parse_until("x").is_none());
    }
}
