//! After a restart (or a crash): the proxies of live endpoints come back, endpoints of
//! containers that are no longer running are unplugged (their leases freed), and interfaces
//! carrying this daemon's tag that no record explains are deleted. The firewall table is then
//! rebuilt from what is left.

use std::collections::HashSet;
use std::net::SocketAddrV4;
use std::sync::Arc;

use berth_net::proxy;

use super::{NetState, NetworkManager};
use crate::engine::Engine;

impl NetworkManager {
    /// Rebinds and restarts the proxies of every endpoint in `st`.
    pub(crate) fn restart_proxies(&self, st: &NetState) {
        let mut all = self.proxies.lock().unwrap_or_else(|p| p.into_inner());
        for e in st.endpoints.values() {
            for m in &e.ports {
                let started = proxy::bind(m.proto, SocketAddrV4::new(m.host_ip, m.host_port))
                    .and_then(|(b, _)| proxy::start(&self.rt, b, SocketAddrV4::new(e.ip, m.container_port), m.clone()));
                match started {
                    Ok(h) => all.entry(e.container_id.clone()).or_default().push(h),
                    Err(err) => tracing::error!(container = %e.container_id, "restore published port {}:{}: {err}", m.host_ip, m.host_port),
                }
            }
        }
    }

    /// Deletes tagged interfaces that no network or endpoint accounts for.
    pub(crate) fn sweep(&self) {
        let st = self.lock();
        let veths: HashSet<&str> = st.endpoints.values().map(|e| e.veth.as_str()).collect();
        let bridges: HashSet<&str> = st.networks.values().map(|n| n.bridge.as_str()).filter(|b| !b.is_empty()).collect();
        let mut nl = match self.ops.netlink.host() {
            Ok(nl) => nl,
            Err(e) => return tracing::error!("sweep interfaces: {e}"),
        };
        let links = match nl.links() {
            Ok(l) => l,
            Err(e) => return tracing::error!("sweep interfaces: {e}"),
        };
        for l in links.into_iter().filter(|l| self.tag.owns(l.alias.as_deref())) {
            let known = match l.kind.as_deref() {
                Some("bridge") => bridges.contains(l.name.as_str()),
                _ => veths.contains(l.name.as_str()),
            };
            if !known {
                match nl.delete_link(l.index) {
                    Ok(()) => tracing::info!("deleted stale interface {}", l.name),
                    Err(e) => tracing::warn!("delete stale interface {}: {e}", l.name),
                }
            }
        }
        if let Err(e) = self.sync_firewall(&st) {
            tracing::error!("rebuild firewall: {e}");
        }
    }
}

impl Engine {
    /// Reconciles networking with the containers that survived a restart (after
    /// [`Engine::restore`]).
    pub async fn restore_network(self: &Arc<Self>) {
        let this = self.clone();
        let _ = Self::blocking(move || {
            let live: HashSet<String> = this.containers.all().iter().filter(|h| h.snapshot().state.status.is_running()).map(|h| h.id.clone()).collect();
            let stale: HashSet<String> = this.net.lock().endpoints.values().map(|e| e.container_id.clone()).filter(|c| !live.contains(c)).collect();
            for id in stale {
                tracing::info!(%id, "releasing the network endpoints of a container that is not running");
                this.net.unplug(&id);
            }
            this.net.sweep();
            Ok(())
        })
        .await;
    }
}
