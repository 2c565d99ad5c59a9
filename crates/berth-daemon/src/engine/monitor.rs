//! Following a running container's shim: when the init process exits, record how, clean up
//! the runtime state, tell waiters, and remove `--rm` containers.

use std::sync::Arc;

use berth_runtime::client::ShimConn;
use berth_runtime::layout::ShimLayout;
use berth_runtime::protocol::Reply;
use berth_runtime::status::{read_exit, ExitStatus};

use super::record::Status;
use super::registry::ContainerHandle;
use super::Engine;

impl Engine {
    /// Waits, in a task, for the exit the shim reports on `conn` (a `Wait` connection).
    pub(crate) fn spawn_monitor(self: &Arc<Self>, h: Arc<ContainerHandle>, mut conn: ShimConn) {
        let engine = self.clone();
        tokio::spawn(async move {
            let status = match conn.reply().await {
                Ok(Reply::Exited(status)) => status,
                _ => {
                    // The shim is gone without answering: trust its exit record if any.
                    let layout = ShimLayout::new(&engine.config.exec_root, &h.id);
                    read_exit(&layout.exit_file()).unwrap_or_else(|| ExitStatus { error: Some("shim exited unexpectedly".into()), ..ExitStatus::now(255) })
                }
            };
            engine.handle_exit(&h, status).await;
        });
    }

    /// Records an exit and cleans up after it; the restart policy decides whether the
    /// container goes to `restarting` instead of `exited`.
    pub(crate) async fn handle_exit(self: &Arc<Self>, h: &Arc<ContainerHandle>, status: ExitStatus) {
        self.release_runtime(&h.id).await;
        self.stop_health(&h.id);
        let restart = self.restart_delay(&h.snapshot(), status.exit_code as i64);
        h.update(|r| {
            r.state.status = if restart.is_some() { Status::Restarting } else { Status::Exited };
            if restart.is_some() {
                r.restart_count += 1;
            }
            r.state.exit_code = status.exit_code as i64;
            r.state.pid = 0;
            r.state.oom_killed = status.oom_killed;
            r.state.finished_at = status.finished_at.clone();
            if let Some(e) = &status.error {
                r.state.error = e.clone();
            }
        });
        if let Err(e) = self.persist(h) {
            tracing::error!(id = %h.id, "persist exit: {e}");
        }
        self.execs.container_exited(&h.id);
        let rec = h.snapshot();
        if status.oom_killed {
            self.container_event(&rec, "oom", &[]);
        }
        self.container_event(&rec, "die", &[("exitCode", status.exit_code.to_string())]);
        h.signal.send_modify(|s| {
            s.running = false;
            s.exits += 1;
            s.exit_code = status.exit_code as i64;
        });
        if let Some(delay) = restart {
            self.schedule_restart(h.clone(), delay);
        }
        if rec.host_config.auto_remove {
            let engine = self.clone();
            let h = h.clone();
            tokio::spawn(async move {
                let _op = h.op.lock().await;
                if let Err(e) = engine.remove_locked(&h, false, true).await {
                    tracing::warn!(id = %h.id, "auto-remove: {e}");
                }
            });
        }
    }
}
