//! The container lifecycle's view of networking: what `start` calls before the process runs
//! (namespace, endpoints, ports, /etc files), which namespace the runtime joins, and what
//! undoing a start releases.

use berth_api::types::EndpointSettings;
use berth_runtime::spec::NetworkNamespace;

use super::attach::PlugRequest;
use super::plan::{self, Mode};
use super::records::{Driver, NetworkRecord};
use crate::engine::etc_files::{self, NetFacts};
use crate::engine::record::ContainerDirs;
use crate::engine::record::ContainerRecord;
use crate::engine::Engine;
use crate::error::EngineError;

/// The network plugging a start still owes once the runtime is creating the container: the
/// primary network of a bridged container, nothing for the other modes.
#[must_use = "a bridged container has no network until the pending plug is done"]
pub(crate) struct PendingPlug(Option<String>);

impl Engine {
    /// The namespace the container's process joins.
    pub(crate) fn network_namespace(&self, rec: &ContainerRecord) -> NetworkNamespace {
        match Mode::of(&rec.host_config.network_mode) {
            Mode::Host => NetworkNamespace::Host,
            Mode::Container(target) => match self.containers.get(&target) {
                Ok(h) if Mode::of(&h.snapshot().host_config.network_mode) == Mode::Host => NetworkNamespace::Host,
                Ok(h) => NetworkNamespace::Path(self.netns_path(&h.id)),
                Err(_) => NetworkNamespace::Path(self.netns_path(&rec.id)),
            },
            _ => NetworkNamespace::Path(self.netns_path(&rec.id)),
        }
    }

    /// Sets up what the runtime needs before it can create the container: the namespace to
    /// join and the /etc files to bind-mount. Plugging a bridged container into its networks
    /// (veths, addresses, ports: ~10 ms of netlink round trips) is left to the returned
    /// [`PendingPlug`], so a start can do it while the shim creates the container; the process
    /// only runs after both are done. On error, what was done is undone by
    /// [`Engine::detach_network`] (the caller releases the start).
    pub(crate) fn attach_network(&self, rec: &ContainerRecord) -> Result<PendingPlug, EngineError> {
        match Mode::of(&rec.host_config.network_mode) {
            Mode::Host => self.write_net_files(rec, &NetFacts { host_mode: true, ..Default::default() })?,
            Mode::Container(t) => {
                let target = self.containers.get(&t)?.snapshot();
                if !target.state.status.is_running() {
                    return Err(EngineError::Conflict(format!("cannot join network namespace of a non running container: {}", target.id)));
                }
                self.share_net_files(rec, &target)?
            }
            Mode::None => {
                self.create_netns(rec)?;
                self.write_net_files(rec, &NetFacts { host_gateway: self.default_gateway(), ..Default::default() })?
            }
            Mode::Bridge(primary) => {
                self.create_netns(rec)?;
                etc_files::ensure_network_files(&ContainerDirs::new(&self.config.data_root, &rec.id))?;
                return Ok(PendingPlug(Some(primary)));
            }
        }
        Ok(PendingPlug(None))
    }

    /// Finishes [`Engine::attach_network`]: plugs a bridged container into its networks and
    /// fills its /etc/hosts and resolv.conf in place (the runtime has bind-mounted them).
    pub(crate) fn plug_network(&self, rec: &ContainerRecord, pending: PendingPlug) -> Result<(), EngineError> {
        match pending.0 {
            Some(primary) => self.plug_bridges(rec, &primary),
            None => Ok(()),
        }
    }

    fn create_netns(&self, rec: &ContainerRecord) -> Result<(), EngineError> {
        berth_net::netns::create(&self.netns_path(&rec.id)).map_err(|e| EngineError::internal("network namespace", e))
    }

    fn default_gateway(&self) -> Option<std::net::Ipv4Addr> {
        self.net.lock().predefined("bridge").and_then(|n| n.pool.as_ref()).map(|p| p.gateway)
    }

    fn plug_bridges(&self, rec: &ContainerRecord, primary: &str) -> Result<(), EngineError> {
        let links = self.legacy_links(rec)?;
        let networks = self.endpoint_networks(rec, primary)?;
        let ports = plan::port_requests(&rec.host_config, &rec.config)?;
        let netns = self.netns_path(&rec.id);
        let req = PlugRequest {
            container_id: &rec.id,
            container_name: &rec.name,
            netns: &netns,
            networks,
            ports,
            links: rec.host_config.links.clone(),
            dns_servers: rec.host_config.dns.clone(),
        };
        let eps = self.net.plug(&req)?;
        let embedded_dns = {
            let st = self.net.lock();
            eps.iter().find_map(|e| {
                let n = st.networks.get(&e.network_id)?;
                (n.has_dns() && self.net.dns_running(&n.id)).then(|| n.pool.as_ref().map(|p| p.gateway)).flatten()
            })
        };
        let facts = NetFacts {
            own_ip: eps.first().map(|e| e.ip),
            links: links.into_iter().map(|(ip, names, _, _)| (ip, names)).collect(),
            host_gateway: self.default_gateway(),
            embedded_dns,
            host_mode: false,
        };
        if let Err(e) = self.write_net_files(rec, &facts) {
            self.net.unplug(&rec.id);
            return Err(e);
        }
        Ok(())
    }

    /// The container's networks with their endpoint settings, primary first.
    fn endpoint_networks(&self, rec: &ContainerRecord, primary: &str) -> Result<Vec<(NetworkRecord, EndpointSettings)>, EngineError> {
        let st = self.net.lock();
        let main = st.find(primary)?.clone();
        let mut out: Vec<(NetworkRecord, EndpointSettings)> = Vec::new();
        let mut main_settings = EndpointSettings::default();
        for (name, s) in &rec.networking.endpoints_config {
            let n = if name == "default" || name == primary || s.network_id == main.id {
                main_settings = s.clone();
                continue;
            } else if let Some(n) = st.networks.get(&s.network_id) {
                n
            } else {
                st.find(name)?
            };
            if n.driver != Driver::Bridge {
                return Err(EngineError::Invalid(format!("network {} cannot be joined by a bridged container", n.name)));
            }
            out.push((n.clone(), s.clone()));
        }
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        out.insert(0, (main, main_settings));
        Ok(out)
    }

    /// Undoes [`Engine::attach_network`]'s host changes (not the namespace itself).
    /// The caller releases the namespace pin right after; when no running container joined
    /// this namespace, nothing keeps it alive and its veths go with it.
    pub(crate) fn detach_network(&self, id: &str) {
        if self.netns_joined_by_others(id) {
            self.net.unplug(id);
        } else {
            self.net.unplug_dying(id);
        }
    }

    /// Whether a running container other than `id` shares `id`'s network namespace.
    fn netns_joined_by_others(&self, id: &str) -> bool {
        self.containers.all().iter().any(|h| {
            let rec = h.snapshot();
            rec.id != id
                && rec.state.status.is_running()
                && matches!(Mode::of(&rec.host_config.network_mode), Mode::Container(t) if self.containers.get(&t).is_ok_and(|o| o.id == id))
        })
    }
}
