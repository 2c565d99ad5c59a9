//! `POST /networks/{id}/connect` and `disconnect`, on created and on running containers
//! (compose disconnects and reconnects created containers to set their aliases). A running
//! container is plugged in or out at once; either way the container record's endpoint list is
//! updated and persisted.

use std::sync::Arc;

use berth_api::types::{EndpointSettings, NetworkConnectRequest, NetworkDisconnectRequest};

use super::attach::PlugRequest;
use super::plan::{check_endpoint, Mode};
use super::records::{Driver, NetworkRecord};
use crate::engine::registry::ContainerHandle;
use crate::engine::Engine;
use crate::error::EngineError;

impl Engine {
    /// `POST /networks/{id}/connect`.
    pub async fn connect_network(self: &Arc<Self>, network: &str, req: NetworkConnectRequest) -> Result<(), EngineError> {
        let h = self.containers.get(&req.container)?;
        let _op = h.op.lock().await;
        let (this, h2, network) = (self.clone(), h.clone(), network.to_string());
        let settings = req.endpoint_config.unwrap_or_default();
        let n = Self::blocking(move || this.connect_locked(&h2, &network, settings)).await?;
        self.persist(&h)?;
        self.network_event("connect", &n, Some(&h.id));
        Ok(())
    }

    fn connect_locked(&self, h: &ContainerHandle, network: &str, mut settings: EndpointSettings) -> Result<NetworkRecord, EngineError> {
        let rec = h.snapshot();
        let n = self.net.lock().find(network)?.clone();
        if n.driver != Driver::Bridge {
            return Err(EngineError::Invalid("container cannot be disconnected from host network or connected to host network".into()));
        }
        if !matches!(Mode::of(&rec.host_config.network_mode), Mode::Bridge(_)) {
            return Err(EngineError::Invalid(
                "container sharing network namespace with another container or host cannot be connected to any other network".into(),
            ));
        }
        if rec.networking.endpoints_config.iter().any(|(k, s)| *k == n.name || s.network_id == n.id) {
            return Err(EngineError::Forbidden(format!("endpoint with name {} already exists in network {}", rec.name, n.name)));
        }
        check_endpoint(&n, &settings)?;
        settings.network_id = n.id.clone();
        if rec.state.status.is_running() {
            let netns = self.netns_path(&rec.id);
            let req = PlugRequest {
                container_id: &rec.id,
                container_name: &rec.name,
                netns: &netns,
                networks: vec![(n.clone(), settings.clone())],
                ports: Vec::new(),
                links: rec.host_config.links.clone(),
                dns_servers: rec.host_config.dns.clone(),
            };
            self.net.plug(&req)?;
        }
        h.update(|r| r.networking.endpoints_config.insert(n.name.clone(), settings));
        Ok(n)
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect_network(self: &Arc<Self>, network: &str, req: NetworkDisconnectRequest) -> Result<(), EngineError> {
        let h = self.containers.get(&req.container)?;
        let _op = h.op.lock().await;
        let n = self.net.lock().find(network)?.clone();
        if n.driver != Driver::Bridge {
            return Err(EngineError::Invalid("container cannot be disconnected from host network or connected to host network".into()));
        }
        let rec = h.snapshot();
        let key = rec.networking.endpoints_config.iter().find(|(k, s)| **k == n.name || s.network_id == n.id).map(|(k, _)| k.clone());
        let Some(key) = key else {
            if req.force {
                return Ok(());
            }
            return Err(EngineError::Invalid(format!("container {} is not connected to network {}", rec.id, n.name)));
        };
        if rec.state.status.is_running() {
            let (this, cid, nid) = (self.clone(), rec.id.clone(), n.id.clone());
            let errors = Self::blocking(move || Ok(this.net.unplug_one(&cid, &nid))).await?;
            if !errors.is_empty() && !req.force {
                return Err(EngineError::Internal(format!("disconnect from {}: {}", n.name, errors.join("; "))));
            }
        }
        h.update(|r| r.networking.endpoints_config.remove(&key));
        self.persist(&h)?;
        self.network_event("disconnect", &n, Some(&h.id));
        Ok(())
    }
}
