//! Live restore: after a daemon restart, reconnect to the shims that outlived it and settle
//! the containers whose shims are gone.

use std::sync::Arc;

use berth_runtime::client::{call, ShimConn};
use berth_runtime::layout::ShimLayout;
use berth_runtime::protocol::{Reply, Request};
use berth_runtime::status::{read_exit, ExitStatus};

use super::record::{ContainerRecord, Status};
use super::registry::ContainerHandle;
use super::{Engine, CONTAINERS};

impl Engine {
    /// Loads every container and reconciles it with its shim.
    pub async fn restore(self: &Arc<Self>) {
        let records = match self.meta.list::<ContainerRecord>(CONTAINERS) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("load containers: {e}");
                return;
            }
        };
        for (_, rec) in records {
            let h = ContainerHandle::new(rec.clone());
            self.containers.insert(h.clone());
            if rec.state.status == Status::Restarting {
                // Its process had already exited; resume_ops schedules the restart.
            } else if rec.state.status.is_running() {
                self.reconnect(h).await;
            } else {
                self.release_runtime_blocking(&rec.id);
                if rec.state.status == Status::Removing {
                    let _op = h.op.lock().await;
                    let _ = self.remove_locked(&h, true, false).await;
                }
            }
        }
        self.clean_stale_runtime_dirs();
        self.resume_ops().await;
    }

    async fn reconnect(self: &Arc<Self>, h: Arc<ContainerHandle>) {
        let layout = ShimLayout::new(&self.config.exec_root, &h.id);
        match call(&layout.socket(), &Request::State).await {
            Ok(Reply::State(state)) if state.exit.is_none() => {
                let paused = state.status == "paused";
                h.update(|r| {
                    r.state.status = if paused { Status::Paused } else { Status::Running };
                    r.state.pid = state.pid as i64;
                });
                let _ = self.persist(&h);
                match ShimConn::connect(&layout.socket()).await {
                    Ok(mut conn) => {
                        if conn.send_request(&Request::Wait).await.is_ok() {
                            self.spawn_monitor(h, conn);
                            return;
                        }
                    }
                    Err(e) => tracing::warn!(id = %h.id, "reconnect monitor: {e}"),
                }
                let status = read_exit(&layout.exit_file()).unwrap_or_else(|| ExitStatus::now(255));
                self.handle_exit(&h, status).await;
            }
            Ok(Reply::State(state)) => {
                let status = state.exit.unwrap_or_else(|| ExitStatus::now(255));
                self.handle_exit(&h, status).await;
            }
            _ => {
                let status = read_exit(&layout.exit_file())
                    .unwrap_or_else(|| ExitStatus { error: Some("container's shim disappeared while the daemon was down".into()), ..ExitStatus::now(255) });
                self.handle_exit(&h, status).await;
            }
        }
    }

    /// Removes runtime dirs of containers the database does not know.
    fn clean_stale_runtime_dirs(&self) {
        let Ok(rd) = std::fs::read_dir(self.config.exec_root.join("c")) else { return };
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().to_string();
            if self.containers.get(&id).is_err() {
                self.release_runtime_blocking(&id);
            }
        }
    }
}
