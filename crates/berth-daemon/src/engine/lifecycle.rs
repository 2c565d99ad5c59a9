//! Stop, kill, pause, restart, rename, wait, resize, remove and prune.

use std::sync::Arc;
use std::time::Duration;

use berth_api::filters::Filters;
use berth_api::types::{ContainerPruneResponse, WaitResponse};
use berth_runtime::client::call;
use berth_runtime::layout::ShimLayout;
use berth_runtime::protocol::{Reply, Request};

use super::record::{ContainerDirs, Status};
use super::registry::ContainerHandle;
use super::{Engine, CONTAINERS};
use crate::error::EngineError;

/// What `wait` waits for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WaitCondition {
    NotRunning,
    NextExit,
    Removed,
}

impl WaitCondition {
    /// Parses the `condition` query parameter.
    pub fn parse(s: &str) -> Result<Self, EngineError> {
        match s {
            "" | "not-running" => Ok(Self::NotRunning),
            "next-exit" => Ok(Self::NextExit),
            "removed" => Ok(Self::Removed),
            other => Err(EngineError::Invalid(format!("invalid condition: \"{other}\""))),
        }
    }
}

/// Parses a signal name or number (`SIGKILL`, `KILL`, `9`).
pub fn parse_signal(s: &str) -> Result<i32, EngineError> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).map(|_| n).map_err(|_| EngineError::Invalid(format!("Invalid signal: {s}")));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<nix::sys::signal::Signal>().map(|sig| sig as i32).map_err(|_| EngineError::Invalid(format!("Invalid signal: {s}")))
}

impl Engine {
    fn socket(&self, id: &str) -> std::path::PathBuf {
        ShimLayout::new(&self.config.exec_root, id).socket()
    }

    /// Sends a signal through the shim; `false` when the shim is gone or going (the container
    /// exited a moment ago and its monitor has not caught up).
    async fn signal_container(&self, h: &ContainerHandle, signal: i32, all: bool) -> Result<bool, EngineError> {
        match call(&self.socket(&h.id), &Request::Kill { signal, all }).await {
            Ok(Reply::Ok) => Ok(true),
            Ok(Reply::Error { message }) => Err(EngineError::Conflict(message)),
            Ok(other) => Err(EngineError::Internal(format!("unexpected shim reply {other:?}"))),
            Err(e) if e.shim_gone() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits until the container's exit count passes `exits`, at most `timeout`.
    async fn wait_exit(&self, h: &ContainerHandle, exits: u64, timeout: Option<Duration>) -> bool {
        let mut rx = h.signal.subscribe();
        let fut = rx.wait_for(|s| s.exits > exits || !s.running);
        match timeout {
            Some(t) => matches!(tokio::time::timeout(t, fut).await, Ok(Ok(_))),
            None => fut.await.is_ok(),
        }
    }

    /// `POST /containers/{id}/kill`.
    pub async fn kill(&self, name: &str, signal: &str) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        if self.cancel_restart(&h) {
            return Ok(()); // restarting: there is no process, and now it will not come back
        }
        if self.restart_in_flight(&h.id) {
            drop(h.op.lock().await); // the policy is starting it: kill what it starts
        }
        let rec = h.snapshot();
        if !rec.state.status.is_running() {
            return Err(EngineError::Conflict(format!("Cannot kill container: {name}: container {} is not running", rec.id)));
        }
        let sig = parse_signal(if signal.is_empty() { "SIGKILL" } else { signal })?;
        h.update(|r| r.manually_stopped = true);
        if !self.signal_container(&h, sig, false).await? {
            // The process died between the state check and the signal: it is as dead as the
            // kill wanted, and stays so (the exit sees `manually_stopped`, and a restart the
            // policy scheduled meanwhile is cancelled).
            self.cancel_restart(&h);
            return Ok(());
        }
        self.container_event(&rec, "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    /// `POST /containers/{id}/stop`: the stop signal, then SIGKILL after the timeout.
    pub async fn stop(&self, name: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let _op = h.op.lock().await;
        self.stop_locked(&h, timeout, signal).await
    }

    pub(crate) async fn stop_locked(&self, h: &ContainerHandle, timeout: Option<i64>, signal: Option<&str>) -> Result<(), EngineError> {
        if self.cancel_restart(h) {
            self.container_event(&h.snapshot(), "stop", &[]);
            return Ok(());
        }
        let rec = h.snapshot();
        if !rec.state.status.is_running() {
            return Err(EngineError::NotModified);
        }
        let exits = h.signal.borrow().exits;
        h.update(|r| r.manually_stopped = true);
        if rec.state.status == Status::Paused {
            let _ = call(&self.socket(&h.id), &Request::Resume).await;
        }
        let sig_name = signal.filter(|s| !s.is_empty()).map(String::from).unwrap_or_else(|| {
            if rec.config.stop_signal.is_empty() {
                "SIGTERM".into()
            } else {
                rec.config.stop_signal.clone()
            }
        });
        let sig = parse_signal(&sig_name)?;
        let secs = timeout.or(rec.config.stop_timeout).unwrap_or(10);
        let _ = self.signal_container(h, sig, false).await;
        let graceful = if secs < 0 { None } else { Some(Duration::from_secs(secs as u64)) };
        if !self.wait_exit(h, exits, graceful).await {
            let _ = self.signal_container(h, 9, true).await;
            self.wait_exit(h, exits, Some(Duration::from_secs(30))).await;
        }
        self.container_event(&h.snapshot(), "stop", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/restart`.
    pub async fn restart(self: &Arc<Self>, name: &str, timeout: Option<i64>, signal: Option<&str>) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let _op = h.op.lock().await;
        match self.stop_locked(&h, timeout, signal).await {
            Ok(()) | Err(EngineError::NotModified) => {}
            Err(e) => return Err(e),
        }
        self.start_locked(&h).await?;
        self.reset_restarts(&h);
        self.container_event(&h.snapshot(), "restart", &[]);
        Ok(())
    }

    /// `POST /containers/{id}/pause` and `unpause`.
    pub async fn set_paused(&self, name: &str, pause: bool) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let _op = h.op.lock().await;
        let rec = h.snapshot();
        match (rec.state.status, pause) {
            (Status::Running, true) | (Status::Paused, false) => {}
            (Status::Paused, true) => return Err(EngineError::Conflict(format!("container {} is already paused", rec.id))),
            (_, true) => return Err(EngineError::Conflict(format!("container {} is not running", rec.id))),
            (_, false) => return Err(EngineError::Conflict(format!("container {} is not paused", rec.id))),
        }
        let req = if pause { Request::Pause } else { Request::Resume };
        match call(&self.socket(&h.id), &req).await? {
            Reply::Ok => {}
            Reply::Error { message } => return Err(EngineError::Internal(message)),
            other => return Err(EngineError::Internal(format!("unexpected shim reply {other:?}"))),
        }
        h.update(|r| r.state.status = if pause { Status::Paused } else { Status::Running });
        self.persist(&h)?;
        self.container_event(&h.snapshot(), if pause { "pause" } else { "unpause" }, &[]);
        Ok(())
    }

    /// `POST /containers/{id}/rename`.
    pub async fn rename(&self, name: &str, new_name: &str) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        if !super::names::valid(new_name) {
            return Err(EngineError::Invalid(format!("Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
        }
        let old = h.snapshot().name;
        if old == new_name {
            return Err(EngineError::Invalid("Renaming a container with the same name as its current name".to_string()));
        }
        self.containers.rename(&h.id, &old, new_name)?;
        h.update(|r| r.name = new_name.to_string());
        self.persist(&h)?;
        self.container_event(&h.snapshot(), "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// `POST /containers/{id}/wait`: resolves when the condition holds.
    pub async fn wait(&self, h: Arc<ContainerHandle>, cond: WaitCondition, start: super::registry::Signal) -> WaitResponse {
        let mut rx = h.signal.subscribe();
        let done = match cond {
            WaitCondition::NotRunning => rx.wait_for(|s| !s.running || s.removed).await.map(|s| s.clone()),
            WaitCondition::NextExit => rx.wait_for(|s| s.exits > start.exits || s.removed).await.map(|s| s.clone()),
            WaitCondition::Removed => rx.wait_for(|s| s.removed).await.map(|s| s.clone()),
        };
        match done {
            Ok(s) => WaitResponse { status_code: s.exit_code, error: None },
            // The sender lives in the handle we hold, so this cannot happen; report the last code.
            Err(_) => WaitResponse { status_code: start.exit_code, error: None },
        }
    }

    /// `DELETE /containers/{id}`.
    pub async fn remove_container(self: &Arc<Self>, name: &str, force: bool, volumes: bool) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let _op = h.op.lock().await;
        self.remove_locked(&h, force, volumes).await
    }

    /// Removes what is left of a removed container's cgroups. Its shim sweeps them when the
    /// container exits, but gives up after a few seconds on a busy host (a cgroup stays busy a
    /// little after its last process is reaped), or never ran (a shim that was killed).
    fn sweep_cgroups(&self, id: &str) {
        let path = format!("{}/{id}", self.config.cgroup_parent.trim_end_matches('/'));
        // Read once: re-reading mountinfo on every removal would cost more than the sweep.
        static HIERARCHIES: std::sync::OnceLock<Vec<std::path::PathBuf>> = std::sync::OnceLock::new();
        let roots = HIERARCHIES.get_or_init(berth_runtime::shim::cgroup_sweep::mounted_hierarchies);
        let left = berth_runtime::shim::cgroup_sweep::sweep_under(roots, std::path::Path::new(&path), Duration::from_secs(2));
        if !left.is_empty() {
            tracing::warn!(%id, "cgroups left after removal: {left:?}");
        }
    }

    /// Removes a container whose operation lock the caller holds.
    pub(crate) async fn remove_locked(self: &Arc<Self>, h: &Arc<ContainerHandle>, force: bool, volumes: bool) -> Result<(), EngineError> {
        if force {
            self.cancel_restart(h);
        }
        let rec = h.snapshot();
        if self.containers.get(&h.id).is_err() {
            return Ok(()); // already removed (auto-remove raced a user rm)
        }
        if rec.state.status.is_running() {
            if !force {
                let what = if rec.state.status == Status::Paused { "paused" } else { "running" };
                return Err(EngineError::Conflict(format!(
                    "cannot remove container \"/{}\": container is {what}: stop the container before removing or force remove",
                    rec.name
                )));
            }
            let exits = h.signal.borrow().exits;
            if rec.state.status == Status::Paused {
                let _ = call(&self.socket(&h.id), &Request::Resume).await;
            }
            let _ = self.signal_container(h, 9, true).await;
            if !self.wait_exit(h, exits, Some(Duration::from_secs(30))).await {
                return Err(EngineError::Internal(format!("could not kill container {}", rec.id)));
            }
        }
        h.update(|r| r.state.status = Status::Removing);
        let data = ContainerDirs::new(&self.config.data_root, &h.id).dir;
        let (this, id) = (self.clone(), h.id.clone());
        Self::blocking(move || {
            this.release_runtime_blocking(&id);
            remove_tree(&data);
            this.sweep_cgroups(&id);
            Ok(())
        })
        .await?;
        self.meta.delete(CONTAINERS, &h.id)?;
        self.containers.remove(&h.id);
        self.forget_restarts(&h.id);
        self.stop_health(&h.id);
        self.ops.stats.forget(&h.id);
        self.execs.container_exited(&h.id);
        if volumes {
            for v in &rec.anonymous_volumes {
                if !self.volume_in_use(v) {
                    let _ = self.volumes.remove(v);
                }
            }
        }
        self.container_event(&rec, "destroy", &[]);
        h.signal.send_modify(|s| s.removed = true);
        // Attachers waiting for a start that will never come.
        h.pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Whether any container mounts volume `name`.
    pub fn volume_in_use(&self, name: &str) -> bool {
        self.containers.all().iter().any(|h| h.snapshot().mounts.iter().any(|m| m.typ == "volume" && m.name == name))
    }

    /// `POST /containers/prune`.
    pub async fn prune_containers(self: &Arc<Self>, filters: &Filters) -> Result<ContainerPruneResponse, EngineError> {
        filters.only(&["label", "until"]).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let mut out = ContainerPruneResponse::default();
        for h in self.containers.all() {
            let rec = h.snapshot();
            if rec.state.status.is_running() || !filters.labels_match(&rec.config.labels) {
                continue;
            }
            let size = dir_size(&ContainerDirs::new(&self.config.data_root, &h.id).upper());
            let _op = h.op.lock().await;
            if self.remove_locked(&h, false, false).await.is_ok() {
                out.containers_deleted.push(rec.id);
                out.space_reclaimed += size;
            }
        }
        Ok(out)
    }

    /// `POST /containers/{id}/resize`.
    pub async fn resize(&self, name: &str, height: u16, width: u16) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        if !h.snapshot().state.status.is_running() {
            return Err(EngineError::Conflict(format!("Container {} is not running", h.id)));
        }
        match call(&self.socket(&h.id), &Request::Resize { exec: None, height, width }).await? {
            Reply::Ok => Ok(()),
            Reply::Error { message } => Err(EngineError::Internal(message)),
            other => Err(EngineError::Internal(format!("unexpected shim reply {other:?}"))),
        }
    }
}

/// Deletes a tree; a dir that cannot be deleted is renamed aside rather than left half-gone.
fn remove_tree(dir: &std::path::Path) {
    if std::fs::remove_dir_all(dir).is_err() && dir.exists() {
        tracing::warn!("could not fully remove {}", dir.display());
    }
}

/// Bytes used under `dir` (not following symlinks).
pub fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else { continue };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("term").unwrap(), 15);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
