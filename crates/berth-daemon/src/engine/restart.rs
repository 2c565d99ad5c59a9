//! Restart policies (`--restart no|always|on-failure[:N]|unless-stopped`) with Docker's
//! restart manager semantics (moby `restartmanager`):
//! - after an exit the container is `restarting` for a back-off delay that starts at 100 ms
//!   and doubles up to one minute, and goes back to 100 ms once a run lasted 10 s or more;
//! - `RestartCount` counts the policy's restarts; a manual `start`/`restart` resets it;
//! - `docker stop`/`kill` mark the container as manually stopped: no policy restarts it until
//!   it is started again, except `always` when the daemon itself restarts;
//! - when the daemon starts, stopped containers whose policy says so are started again
//!   (`always`; `unless-stopped` unless manually stopped; `on-failure` after a failure with
//!   retries left), and containers whose process died while the daemon was down go through
//!   the ordinary exit path, policy included.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::types::RestartPolicy;

use super::record::{ContainerRecord, Status, ZERO_TIME};
use super::registry::ContainerHandle;
use super::Engine;

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
const RESET_AFTER: Duration = Duration::from_secs(10);

/// Per-container restart bookkeeping, in memory as in Docker.
#[derive(Default)]
pub struct Restarts {
    state: Mutex<HashMap<String, Backoff>>,
    next_token: Mutex<u64>,
}

#[derive(Default)]
struct Backoff {
    delay: Duration,
    /// The restart waiting to happen, if any: its token and task.
    pending: Option<(u64, tokio::task::AbortHandle)>,
    /// A restart past its delay, starting the container under its operation lock.
    starting: bool,
}

/// Docker's `ShouldRestart` for an exit seen live: whether the policy restarts, and the next
/// back-off delay given the previous one.
pub fn decide(policy: &RestartPolicy, exit_code: i64, manually_stopped: bool, restart_count: i64, ran_for: Duration, previous: Duration) -> (bool, Duration) {
    let mut delay = if ran_for >= RESET_AFTER { Duration::ZERO } else { previous };
    delay = if delay.is_zero() { FIRST_DELAY } else { (delay * 2).min(MAX_DELAY) };
    if manually_stopped {
        return (false, delay);
    }
    let restart = match policy.name.as_str() {
        "always" | "unless-stopped" => true,
        "on-failure" => exit_code != 0 && (policy.maximum_retry_count <= 0 || restart_count < policy.maximum_retry_count),
        _ => false,
    };
    (restart, delay)
}

/// Whether a stopped container starts with the daemon.
pub fn on_boot(rec: &ContainerRecord) -> bool {
    if rec.state.status != Status::Exited || rec.state.started_at == ZERO_TIME {
        return false;
    }
    let p = &rec.host_config.restart_policy;
    match p.name.as_str() {
        "always" => true,
        "unless-stopped" => !rec.manually_stopped,
        "on-failure" => !rec.manually_stopped && rec.state.exit_code != 0 && (p.maximum_retry_count <= 0 || rec.restart_count < p.maximum_retry_count),
        _ => false,
    }
}

fn ran_for(rec: &ContainerRecord) -> Duration {
    chrono::DateTime::parse_from_rfc3339(&rec.state.started_at)
        .ok()
        .and_then(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().ok())
        .unwrap_or_default()
}

impl Engine {
    /// At an exit: the delay after which the policy restarts the container, if it does.
    pub(crate) fn restart_delay(&self, rec: &ContainerRecord, exit_code: i64) -> Option<Duration> {
        let mut state = self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner());
        let b = state.entry(rec.id.clone()).or_default();
        let (restart, delay) = decide(&rec.host_config.restart_policy, exit_code, rec.manually_stopped, rec.restart_count, ran_for(rec), b.delay);
        b.delay = delay;
        restart.then_some(delay)
    }

    /// Starts a `restarting` container again after `delay`, unless it is stopped, killed or
    /// removed meanwhile ([`Engine::cancel_restart`]).
    pub(crate) fn schedule_restart(self: &Arc<Self>, h: Arc<ContainerHandle>, delay: Duration) {
        let token = {
            let mut n = self.ops.restarts.next_token.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let engine = self.clone();
        let id = h.id.clone();
        // Registered before the task can run, so it always finds its own token.
        let mut state = self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner());
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _op = h.op.lock().await;
            if !engine.claim_restart(&h.id, token) || h.snapshot().state.status != Status::Restarting || engine.containers.get(&h.id).is_err() {
                return;
            }
            // The status stays `restarting` until the start is done (start_locked lets a
            // restart in flight through), so nobody sees an `exited` that is not final.
            if let Err(e) = engine.start_locked(&h).await {
                tracing::warn!(id = %h.id, "restart policy: start failed: {e}");
                h.update(|r| r.state.status = Status::Exited);
                let _ = engine.persist(&h);
            }
            engine.set_starting(&h.id, false);
        });
        if let Some((_, old)) = state.entry(id).or_default().pending.replace((token, task.abort_handle())) {
            old.abort();
        }
    }

    /// Takes the pending restart `token` off the books; false if it was cancelled meanwhile.
    fn claim_restart(&self, id: &str, token: u64) -> bool {
        let mut state = self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner());
        match state.get_mut(id) {
            Some(b) if b.pending.as_ref().is_some_and(|(t, _)| *t == token) => {
                b.pending = None;
                b.starting = true;
                true
            }
            _ => false,
        }
    }

    fn set_starting(&self, id: &str, starting: bool) {
        if let Some(b) = self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            b.starting = starting;
        }
    }

    /// Whether a policy restart is starting the container right now (its operation lock is
    /// held until the start is done): a `kill` then waits for it instead of failing.
    pub(crate) fn restart_in_flight(&self, id: &str) -> bool {
        self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner()).get(id).is_some_and(|b| b.starting)
    }

    /// Cancels a pending restart (stop, kill, rm of a `restarting` container): the container
    /// becomes `exited`, manually stopped. Returns whether one was pending.
    pub(crate) fn cancel_restart(&self, h: &ContainerHandle) -> bool {
        let pending = {
            let mut state = self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner());
            state.get_mut(&h.id).and_then(|b| b.pending.take())
        };
        let Some((_, task)) = pending else { return false };
        task.abort();
        h.update(|r| {
            if r.state.status == Status::Restarting {
                r.state.status = Status::Exited;
            }
            r.manually_stopped = true;
        });
        if let Err(e) = self.persist(h) {
            tracing::warn!(id = %h.id, "persist cancelled restart: {e}");
        }
        true
    }

    /// A manual start or restart: the restart count and back-off start over.
    pub(crate) fn reset_restarts(&self, h: &ContainerHandle) {
        self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner()).remove(&h.id);
        if h.update(|r| std::mem::replace(&mut r.restart_count, 0)) != 0 {
            if let Err(e) = self.persist(h) {
                tracing::warn!(id = %h.id, "persist restart count: {e}");
            }
        }
    }

    /// Forgets a removed container.
    pub(crate) fn forget_restarts(&self, id: &str) {
        if let Some(b) = self.ops.restarts.state.lock().unwrap_or_else(|p| p.into_inner()).remove(id) {
            if let Some((_, task)) = b.pending {
                task.abort();
            }
        }
    }

    /// After restore: starts what the policies say should run (containers stopped while the
    /// daemon was down, containers that were waiting to restart), and resumes health checks.
    pub(crate) async fn resume_ops(self: &Arc<Self>) {
        for h in self.containers.all() {
            let rec = h.snapshot();
            if !matches!(rec.state.status, Status::Running | Status::Paused) {
                // A shim killed with its host (or by hand) left its cgroup behind.
                super::cgroup_stats::remove_cgroup(&self.cgroup_rel(&rec.id));
            }
            match rec.state.status {
                Status::Running | Status::Paused => self.start_health(&h, false),
                Status::Restarting => self.schedule_restart(h.clone(), Duration::ZERO),
                _ if on_boot(&rec) => {
                    let _op = h.op.lock().await;
                    self.reset_restarts(&h);
                    if let Err(e) = self.start_locked(&h).await {
                        tracing::warn!(id = %h.id, "restart policy at daemon start: {e}");
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(name: &str, max: i64) -> RestartPolicy {
        RestartPolicy { name: name.into(), maximum_retry_count: max }
    }

    #[test]
    fn policies_decide_like_docker() {
        let quick = Duration::from_millis(10);
        assert!(!decide(&policy("no", 0), 1, false, 0, quick, Duration::ZERO).0);
        assert!(!decide(&policy("", 0), 1, false, 0, quick, Duration::ZERO).0);
        assert!(decide(&policy("always", 0), 0, false, 9, quick, Duration::ZERO).0);
        assert!(!decide(&policy("always", 0), 0, true, 0, quick, Duration::ZERO).0, "stop and kill cancel restarts");
        assert!(decide(&policy("unless-stopped", 0), 0, false, 0, quick, Duration::ZERO).0);
        assert!(!decide(&policy("on-failure", 0), 0, false, 0, quick, Duration::ZERO).0);
        assert!(decide(&policy("on-failure", 0), 3, false, 100, quick, Duration::ZERO).0, "0 retries means no limit");
        assert!(decide(&policy("on-failure", 2), 1, false, 1, quick, Duration::ZERO).0);
        assert!(!decide(&policy("on-failure", 2), 1, false, 2, quick, Duration::ZERO).0);
    }

    #[test]
    fn back_off_doubles_caps_and_resets() {
        let p = policy("always", 0);
        let quick = Duration::from_millis(10);
        let mut d = Duration::ZERO;
        let mut seen = Vec::new();
        for _ in 0..12 {
            d = decide(&p, 1, false, 0, quick, d).1;
            seen.push(d.as_millis());
        }
        assert_eq!(&seen[..4], &[100, 200, 400, 800]);
        assert_eq!(*seen.last().unwrap_or(&0), 60_000);
        assert_eq!(decide(&p, 1, false, 0, Duration::from_secs(11), d).1, FIRST_DELAY);
    }

    #[test]
    fn boot_restarts() {
        let mut rec: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": "c", "name": "n", "created": "", "image": "", "image_id": "", "config": {}, "host_config": {},
            "path": "sh", "args": [], "state": {"status": "exited", "pid": 0, "exit_code": 0, "error": "",
            "started_at": "2024-01-01T00:00:00Z", "finished_at": "2024-01-01T00:00:01Z", "oom_killed": false},
            "restart_count": 0, "mounts": [], "networking": {}
        }))
        .unwrap();
        assert!(!on_boot(&rec));
        rec.host_config.restart_policy = policy("always", 0);
        rec.manually_stopped = true;
        assert!(on_boot(&rec), "always comes back even after a manual stop");
        rec.host_config.restart_policy = policy("unless-stopped", 0);
        assert!(!on_boot(&rec));
        rec.manually_stopped = false;
        assert!(on_boot(&rec));
        rec.host_config.restart_policy = policy("on-failure", 1);
        assert!(!on_boot(&rec));
        rec.state.exit_code = 1;
        assert!(on_boot(&rec));
        rec.restart_count = 1;
        assert!(!on_boot(&rec));
        rec.state.started_at = ZERO_TIME.into();
        rec.host_config.restart_policy = policy("always", 0);
        assert!(!on_boot(&rec), "never started");
    }
}
