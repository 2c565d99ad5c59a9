//! Running health checks: one task per running container with a check, probing through the
//! shim's exec path (the same as `docker exec`), recording results in the container's record
//! (persisted, so they survive a daemon restart, which resumes the task), emitting
//! `health_status` events and carrying out `--health-on-failure`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use berth_api::types::{ExecCreateRequest, HealthLog};
use berth_runtime::client::{call, ShimConn};
use berth_runtime::layout::ShimLayout;
use berth_runtime::protocol::{FrameKind, Reply, Request};
use tokio::task::AbortHandle;

use super::health::{self, HealthSpec, OnFailure};
use super::record::{ContainerRecord, Status};
use super::registry::ContainerHandle;
use super::{new_id, Engine};
use crate::error::EngineError;

/// The health tasks of running containers, by container id.
#[derive(Default)]
pub struct HealthTasks {
    tasks: Mutex<HashMap<String, AbortHandle>>,
}

impl HealthTasks {
    fn replace(&self, id: &str, task: Option<AbortHandle>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = tasks.remove(id) {
            old.abort();
        }
        if let Some(t) = task {
            tasks.insert(id.to_string(), t);
        }
    }
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn since(rfc3339: &str) -> Duration {
    chrono::DateTime::parse_from_rfc3339(rfc3339).ok().and_then(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).to_std().ok()).unwrap_or_default()
}

/// Keeps the first [`health::MAX_OUTPUT`] bytes of a probe's output, like Docker.
#[derive(Default)]
struct Output {
    buf: Vec<u8>,
    truncated: bool,
}

impl Output {
    fn push(&mut self, data: &[u8]) {
        let keep = health::MAX_OUTPUT.saturating_sub(self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..keep]);
        self.truncated |= keep < data.len();
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.truncated {
            s.push_str("...");
        }
        s
    }
}

impl Engine {
    /// Starts (or restarts) the health task of a container that just started; `fresh` resets
    /// the status to `starting` (a daemon restart resumes the recorded state instead).
    pub(crate) fn start_health(self: &Arc<Self>, h: &Arc<ContainerHandle>, fresh: bool) {
        let rec = h.snapshot();
        let Some(spec) = HealthSpec::of(&rec.config) else {
            self.ops.health.replace(&h.id, None);
            return;
        };
        if fresh || rec.health.is_none() {
            h.update(|r| r.health = Some(health::restarted(r.health.as_ref())));
            if let Err(e) = self.persist(h) {
                tracing::warn!(id = %h.id, "persist health: {e}");
            }
        }
        let (engine, handle, generation) = (self.clone(), h.clone(), rec.state.started_at.clone());
        let task = tokio::spawn(async move { engine.health_loop(handle, spec, generation).await });
        self.ops.health.replace(&h.id, Some(task.abort_handle()));
    }

    /// Stops a container's health task (at exit, or removal).
    pub(crate) fn stop_health(&self, id: &str) {
        self.ops.health.replace(id, None);
    }

    async fn health_loop(self: Arc<Self>, h: Arc<ContainerHandle>, spec: HealthSpec, generation: String) {
        loop {
            let rec = h.snapshot();
            let status = rec.health.as_ref().map(|x| x.status.clone()).unwrap_or_default();
            tokio::time::sleep(spec.next_wait(&status, since(&generation))).await;
            let rec = h.snapshot();
            if rec.state.started_at != generation || !matches!(rec.state.status, Status::Running | Status::Paused) {
                return;
            }
            if rec.state.status == Status::Paused {
                continue;
            }
            let Some(result) = self.probe(&rec, &spec).await else { continue };
            let in_start_period = since(&generation) < spec.start_period;
            let changed = h.update(|r| {
                // A probe that raced with the container's exit says nothing about its health.
                if r.state.started_at != generation || !matches!(r.state.status, Status::Running | Status::Paused) {
                    return None;
                }
                let state = r.health.get_or_insert_with(|| health::restarted(None));
                health::apply(state, result, &spec, in_start_period)
            });
            if let Err(e) = self.persist(&h) {
                tracing::warn!(id = %h.id, "persist health: {e}");
            }
            if let Some(status) = changed {
                let rec = h.snapshot();
                self.container_event(&rec, &format!("health_status: {status}"), &[]);
                if status == health::UNHEALTHY {
                    self.on_unhealthy(&h, &rec);
                }
            }
        }
    }

    /// Runs one probe, as Docker does: an exec with the container's user, env and working
    /// directory, output capped, killed when it outlives the timeout (exit code -1). `None`
    /// when the shim is gone: the container is exiting, which is not a health result.
    async fn probe(&self, rec: &ContainerRecord, spec: &HealthSpec) -> Option<HealthLog> {
        let start = now();
        let exec_id = new_id();
        let cmd = spec.argv.join(" ");
        let layout = ShimLayout::new(&self.config.exec_root, &rec.id);
        let conn = ShimConn::connect(&layout.socket()).await.ok()?;
        self.container_event(rec, &format!("exec_create: {cmd}"), &[("execID", exec_id.clone())]);
        let (exit_code, output) = match self.probe_exec(rec, spec, &exec_id, &cmd, conn).await {
            Ok(r) => r,
            Err(e) => (-1, e.to_string()),
        };
        self.container_event(rec, "exec_die", &[("execID", exec_id), ("exitCode", exit_code.to_string())]);
        Some(HealthLog { start, end: now(), exit_code, output })
    }

    async fn probe_exec(&self, rec: &ContainerRecord, spec: &HealthSpec, exec_id: &str, cmd: &str, mut conn: ShimConn) -> Result<(i64, String), EngineError> {
        let layout = ShimLayout::new(&self.config.exec_root, &rec.id);
        let req = ExecCreateRequest { cmd: Some(spec.argv.clone()), attach_stdout: true, attach_stderr: true, ..Default::default() };
        let process = self.exec_process(rec, &req, false, &layout)?;
        let path = layout.exec_process(exec_id);
        berth_runtime::status::write_runtime(&path, process.to_string().as_bytes()).map_err(|e| EngineError::internal("write probe process", e))?;
        conn.send_request(&Request::Exec { id: exec_id.to_string(), process: path, tty: false, stdin: false }).await?;
        match conn.reply().await? {
            Reply::Started { .. } => {}
            Reply::Error { message } => return Ok((-1, message)),
            other => return Err(EngineError::Internal(format!("unexpected shim reply {other:?}"))),
        }
        self.container_event(rec, &format!("exec_start: {cmd}"), &[("execID", exec_id.to_string())]);
        let (mut reader, _writer) = conn.split();
        let mut out = Output::default();
        let deadline = Instant::now() + spec.timeout;
        loop {
            let frame = match tokio::time::timeout_at(deadline.into(), reader.next()).await {
                Ok(frame) => frame?,
                Err(_) => {
                    let kill = Request::KillExec { id: exec_id.to_string(), signal: 9 };
                    let _ = call(&layout.socket(), &kill).await;
                    return Ok((-1, format!("Health check exceeded timeout ({})", health::go_duration(spec.timeout))));
                }
            };
            match frame {
                Some((FrameKind::Stdout | FrameKind::Stderr, data)) => out.push(&data),
                Some((FrameKind::Json, body)) => {
                    if let Ok(Reply::Exited(s)) = serde_json::from_slice::<Reply>(&body) {
                        return Ok((s.exit_code as i64, out.text()));
                    }
                }
                Some(_) => {}
                None => return Ok((-1, "container exited during the health check".into())),
            }
        }
    }

    /// Carries out `--health-on-failure` in a task of its own (the health task is aborted
    /// when the container exits, which the action may cause).
    fn on_unhealthy(self: &Arc<Self>, h: &Arc<ContainerHandle>, rec: &ContainerRecord) {
        let action = OnFailure::of(&rec.config, &rec.host_config).unwrap_or(OnFailure::None);
        if action == OnFailure::None {
            return;
        }
        let (engine, h) = (self.clone(), h.clone());
        tokio::spawn(async move {
            if let Err(e) = engine.health_action(&h, action).await {
                tracing::warn!(id = %h.id, ?action, "health-on-failure: {e}");
            }
        });
    }

    async fn health_action(self: &Arc<Self>, h: &Arc<ContainerHandle>, action: OnFailure) -> Result<(), EngineError> {
        let _op = h.op.lock().await;
        if h.snapshot().state.status != Status::Running {
            return Ok(());
        }
        match action {
            OnFailure::None => Ok(()),
            OnFailure::Stop => self.stop_locked(h, None, None).await,
            OnFailure::Kill => {
                // Not a manual stop: a restart policy still applies to this exit.
                let socket = ShimLayout::new(&self.config.exec_root, &h.id).socket();
                call(&socket, &Request::Kill { signal: 9, all: true }).await?;
                self.container_event(&h.snapshot(), "kill", &[("signal", "9".into())]);
                Ok(())
            }
            OnFailure::Restart => {
                match self.stop_locked(h, None, None).await {
                    Ok(()) | Err(EngineError::NotModified) => {}
                    Err(e) => return Err(e),
                }
                self.start_locked(h).await?;
                h.update(|r| r.restart_count += 1);
                self.persist(h)?;
                self.container_event(&h.snapshot(), "restart", &[]);
                Ok(())
            }
        }
    }
}
