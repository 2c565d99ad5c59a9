//! `docker exec`: exec instances are created in memory, started through the container's shim,
//! and keep their exit code for `GET /exec/{id}/json`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_api::types::{ExecCreateRequest, ExecInspect, ExecProcessConfig};
use berth_runtime::client::ShimConn;
use berth_runtime::layout::ShimLayout;
use berth_runtime::protocol::{Reply, Request};
use tokio::sync::watch;

use super::record::Status;
use super::{new_id, user, Engine};
use crate::error::EngineError;

/// The mutable part of an exec.
#[derive(Debug, Clone, Default)]
pub struct ExecState {
    pub running: bool,
    pub started: bool,
    pub exit_code: Option<i64>,
    pub pid: i64,
}

/// One exec instance.
pub struct ExecHandle {
    pub id: String,
    pub container_id: String,
    pub config: ExecCreateRequest,
    pub state: watch::Sender<ExecState>,
}

/// Every exec instance, by id.
#[derive(Default)]
pub struct ExecRegistry {
    execs: Mutex<HashMap<String, Arc<ExecHandle>>>,
}

impl ExecRegistry {
    /// An exec by id.
    pub fn get(&self, id: &str) -> Result<Arc<ExecHandle>, EngineError> {
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned().ok_or_else(|| EngineError::NotFound(format!("No such exec instance: {id}")))
    }

    fn insert(&self, h: Arc<ExecHandle>) {
        self.execs.lock().unwrap_or_else(|p| p.into_inner()).insert(h.id.clone(), h);
    }

    /// Ids of a container's execs.
    pub fn of_container(&self, container: &str) -> Vec<String> {
        self.execs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .filter(|e| e.container_id == container && e.state.borrow().running)
            .map(|e| e.id.clone())
            .collect()
    }

    /// Marks a container's running execs as ended (the container is gone).
    pub fn container_exited(&self, container: &str) {
        for e in self.execs.lock().unwrap_or_else(|p| p.into_inner()).values() {
            if e.container_id == container {
                e.state.send_if_modified(|s| {
                    let changed = s.running;
                    s.running = false;
                    changed
                });
            }
        }
    }
}

impl Engine {
    /// `POST /containers/{id}/exec`.
    pub fn create_exec(&self, container: &str, req: ExecCreateRequest) -> Result<String, EngineError> {
        let h = self.containers.get(container)?;
        let rec = h.snapshot();
        match rec.state.status {
            Status::Running => {}
            Status::Paused => return Err(EngineError::Conflict(format!("Container {} is paused, unpause the container before exec", rec.id))),
            _ => return Err(EngineError::Conflict(format!("Container {} is not running", rec.id))),
        }
        if req.cmd.as_ref().is_none_or(|c| c.is_empty()) {
            return Err(EngineError::Invalid("No exec command specified".into()));
        }
        let id = new_id();
        let cmd = req.cmd.clone().unwrap_or_default().join(" ");
        self.execs.insert(Arc::new(ExecHandle { id: id.clone(), container_id: rec.id.clone(), config: req, state: watch::Sender::new(ExecState::default()) }));
        self.container_event(&rec, &format!("exec_create: {cmd}"), &[("execID", id.clone())]);
        Ok(id)
    }

    /// `GET /exec/{id}/json`.
    pub fn inspect_exec(&self, id: &str) -> Result<ExecInspect, EngineError> {
        let e = self.execs.get(id)?;
        let s = e.state.borrow().clone();
        let cmd = e.config.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            id: e.id.clone(),
            running: s.running,
            exit_code: s.exit_code,
            process_config: ExecProcessConfig {
                tty: e.config.tty,
                entrypoint: cmd.first().cloned().unwrap_or_default(),
                arguments: cmd.iter().skip(1).cloned().collect(),
                privileged: e.config.privileged,
                user: e.config.user.clone(),
            },
            open_stdin: e.config.attach_stdin,
            open_stderr: e.config.attach_stderr,
            open_stdout: e.config.attach_stdout,
            can_remove: !s.running,
            container_id: e.container_id.clone(),
            detach_keys: e.config.detach_keys.clone(),
            pid: s.pid,
        })
    }

    /// Refuses to start an exec that already ran or whose container is not running.
    pub fn check_exec_startable(&self, e: &ExecHandle) -> Result<(), EngineError> {
        if e.state.borrow().started {
            return Err(EngineError::Conflict(format!("Error: Exec command {} has already run", e.id)));
        }
        let h = self.containers.get(&e.container_id)?;
        let rec = h.snapshot();
        if rec.state.status != Status::Running {
            return Err(EngineError::Conflict(format!("Container {} is not running", rec.id)));
        }
        Ok(())
    }

    /// Starts an exec; returns its shim connection (output frames, then an exit reply).
    pub async fn start_exec(&self, id: &str, tty_override: Option<bool>) -> Result<(Arc<ExecHandle>, ShimConn), EngineError> {
        let e = self.execs.get(id)?;
        if e.state.borrow().started {
            return Err(EngineError::Conflict(format!("Error: Exec command {id} has already run")));
        }
        let h = self.containers.get(&e.container_id)?;
        let rec = h.snapshot();
        if rec.state.status != Status::Running {
            return Err(EngineError::Conflict(format!("Container {} is not running", rec.id)));
        }
        let layout = ShimLayout::new(&self.config.exec_root, &rec.id);
        let tty = tty_override.unwrap_or(e.config.tty) || e.config.tty;
        let process = self.exec_process(&rec, &e.config, tty, &layout)?;
        let path = layout.exec_process(&e.id);
        berth_runtime::status::write_runtime(&path, process.to_string().as_bytes()).map_err(|err| EngineError::internal("write exec process", err))?;
        let mut conn = ShimConn::connect(&layout.socket()).await?;
        conn.send_request(&Request::Exec { id: e.id.clone(), process: path, tty, stdin: e.config.attach_stdin }).await?;
        match conn.reply().await? {
            Reply::Started { pid } => {
                e.state.send_modify(|s| {
                    s.started = true;
                    s.running = true;
                    s.pid = pid as i64;
                });
                let cmd = e.config.cmd.clone().unwrap_or_default().join(" ");
                self.container_event(&rec, &format!("exec_start: {cmd}"), &[("execID", e.id.clone())]);
                Ok((e, conn))
            }
            Reply::Error { message } => {
                let code = if message.contains("not found") {
                    127
                } else if message.contains("permissions") || message.contains("denied") {
                    126
                } else {
                    super::start::start_exit_code(&message)
                };
                e.state.send_modify(|s| {
                    s.started = true;
                    s.exit_code = Some(code);
                });
                let msg = if message.contains("not found in $PATH") {
                    let cmd = e.config.cmd.clone().unwrap_or_default();
                    format!(
                        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{}\": executable file not found in $PATH: unknown",
                        cmd.first().cloned().unwrap_or_default()
                    )
                } else {
                    format!("OCI runtime exec failed: {message}")
                };
                Err(EngineError::StartFailed(msg))
            }
            other => Err(EngineError::Internal(format!("unexpected shim reply {other:?}"))),
        }
    }

    /// Records an exec's exit (before its stream is closed, so clients reading the exit code
    /// right after EOF see it).
    pub fn exec_exited(&self, e: &ExecHandle, code: i64) {
        e.state.send_modify(|s| {
            s.running = false;
            s.exit_code = Some(code);
        });
        if let Ok(h) = self.containers.get(&e.container_id) {
            self.container_event(&h.snapshot(), "exec_die", &[("execID", e.id.clone()), ("exitCode", code.to_string())]);
        }
    }

    /// The OCI process JSON of an exec.
    pub(crate) fn exec_process(
        &self,
        rec: &super::record::ContainerRecord,
        cfg: &ExecCreateRequest,
        tty: bool,
        layout: &ShimLayout,
    ) -> Result<serde_json::Value, EngineError> {
        let user_spec = if cfg.user.is_empty() { rec.config.user.clone() } else { cfg.user.clone() };
        let (user, home) = user::resolve(&layout.rootfs(), &user_spec, &rec.host_config.group_add).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let mut env = rec.config.env.clone();
        for kv in &cfg.env {
            let key = kv.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(kv.clone());
        }
        for (k, v) in [("HOSTNAME", rec.config.hostname.as_str()), ("HOME", home.as_str())] {
            if !env.iter().any(|e| e.split('=').next() == Some(k)) {
                env.push(format!("{k}={v}"));
            }
        }
        if tty && !env.iter().any(|e| e.starts_with("TERM=")) {
            env.push("TERM=xterm".into());
        }
        let privileged = cfg.privileged || rec.host_config.privileged;
        let run = berth_runtime::spec::RuntimeConfig {
            cap_add: rec.host_config.cap_add.clone(),
            cap_drop: rec.host_config.cap_drop.clone(),
            privileged,
            ..Default::default()
        };
        let caps = berth_runtime::spec::effective_capabilities(&run).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let cwd = if !cfg.working_dir.is_empty() {
            cfg.working_dir.clone()
        } else if !rec.config.working_dir.is_empty() {
            rec.config.working_dir.clone()
        } else {
            "/".into()
        };
        if cwd.starts_with("/proc/self/fd") || !cwd.starts_with('/') {
            return Err(EngineError::Invalid(format!("invalid working directory {cwd:?}")));
        }
        Ok(serde_json::json!({
            "terminal": tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": cfg.cmd.clone().unwrap_or_default(),
            "env": env,
            "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        }))
    }
}
