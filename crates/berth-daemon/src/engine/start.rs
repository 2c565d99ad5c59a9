//! Starting a container: mount its root filesystem, write the OCI spec, launch its shim, hand
//! pending attach streams over, then let the process run.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use berth_runtime::client::ShimConn;
use berth_runtime::layout::ShimLayout;
use berth_runtime::protocol::{Reply, Request};
use berth_runtime::spec::{self, BindMount, Resources, RuntimeConfig};
use tokio::io::AsyncBufReadExt;

use super::network::PendingPlug;
use super::record::{ContainerDirs, ContainerRecord, Status};
use super::registry::ContainerHandle;
use super::{user, Engine};
use crate::error::EngineError;

/// How long a shim may take to create a container.
const SHIM_CREATE_TIMEOUT: Duration = Duration::from_secs(60);

impl Engine {
    /// `POST /containers/{id}/start`.
    pub async fn start_container(self: &Arc<Self>, name: &str) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let _op = h.op.lock().await;
        self.start_locked(&h).await?;
        self.reset_restarts(&h);
        Ok(())
    }

    /// Starts a container whose operation lock the caller holds.
    pub(crate) async fn start_locked(self: &Arc<Self>, h: &Arc<ContainerHandle>) -> Result<(), EngineError> {
        let rec = h.snapshot();
        match rec.state.status {
            // A restart policy starting the container after its back-off.
            Status::Restarting if self.restart_in_flight(&rec.id) => {}
            Status::Running | Status::Restarting => return Err(EngineError::NotModified),
            Status::Paused => return Err(EngineError::Conflict("cannot start a paused container, try unpause instead".into())),
            Status::Removing | Status::Dead => return Err(EngineError::Conflict(format!("container {} is marked for removal and cannot be started", rec.id))),
            Status::Created | Status::Exited => {}
        }
        let this = self.clone();
        let rec2 = rec.clone();
        let prepared = Self::blocking(move || this.prepare_runtime(&rec2)).await;
        let layout = ShimLayout::new(&self.config.exec_root, &rec.id);
        let launched = match prepared {
            Ok(pending) => self.launch(h, &rec, &layout, pending).await,
            Err(e) => Err(e),
        };
        match launched {
            Ok(pid) => {
                h.update(|r| {
                    r.state.status = Status::Running;
                    r.state.pid = pid as i64;
                    r.state.exit_code = 0;
                    r.state.error.clear();
                    r.state.started_at = berth_image::now_rfc3339();
                    r.state.oom_killed = false;
                    r.manually_stopped = false;
                });
                self.persist(h)?;
                h.signal.send_modify(|s| s.running = true);
                self.container_event(&h.snapshot(), "start", &[]);
                self.start_health(h, true);
                Ok(())
            }
            Err(e) => {
                self.start_failed(h, &layout, &e).await;
                Err(e)
            }
        }
    }

    /// Records a failed start, undoes the mount, and removes `--rm` containers.
    async fn start_failed(self: &Arc<Self>, h: &Arc<ContainerHandle>, _layout: &ShimLayout, e: &EngineError) {
        self.release_runtime(&h.id).await;
        let msg = e.to_string();
        h.update(|r| {
            r.state.error = msg.clone();
            r.state.exit_code = start_exit_code(&msg);
        });
        let _ = self.persist(h);
        if h.snapshot().host_config.auto_remove {
            let _ = self.remove_locked(h, true, true).await;
        }
    }

    /// Mounts the root filesystem, sets up what the runtime needs of the network and writes the
    /// OCI spec (blocking); returns the network plugging still to do.
    fn prepare_runtime(&self, rec: &ContainerRecord) -> Result<PendingPlug, EngineError> {
        let layout = ShimLayout::new(&self.config.exec_root, &rec.id);
        self.release_runtime_blocking(&rec.id);
        std::fs::create_dir_all(layout.rootfs()).map_err(|e| EngineError::internal("create runtime dir", e))?;
        if layout.socket().as_os_str().len() >= 108 {
            return Err(EngineError::Internal(format!("exec root path too long for a unix socket: {}", layout.socket().display())));
        }
        let image = self.images.get(&rec.image_id)?.ok_or_else(|| EngineError::NotFound(format!("No such image: {}", rec.image)))?;
        let dirs = ContainerDirs::new(&self.config.data_root, &rec.id);
        let overlay = self.images.container_overlay(&image, dirs.upper(), dirs.work())?;
        overlay.mount(&layout.rootfs())?;
        let result = self.attach_network(rec).and_then(|pending| self.write_spec(rec, &layout, &dirs).map(|()| pending));
        if result.is_err() {
            self.release_runtime_blocking(&rec.id);
        }
        result
    }

    fn write_spec(&self, rec: &ContainerRecord, layout: &ShimLayout, dirs: &ContainerDirs) -> Result<(), EngineError> {
        let rootfs = layout.rootfs();
        let hc = &rec.host_config;
        let (user, home) = user::resolve(&rootfs, &rec.config.user, &hc.group_add)?;
        if !rec.config.working_dir.is_empty() {
            berth_archive::inroot::mkdir_all_in_root(&rootfs, &rec.config.working_dir)
                .map_err(|e| EngineError::StartFailed(format!("mkdir {}: {e}", rec.config.working_dir)))?;
        }
        let mut env = rec.config.env.clone();
        for v in self.link_env(rec) {
            if !env.iter().any(|e| e.split('=').next() == v.split('=').next()) {
                env.push(v);
            }
        }
        let mut set_default = |k: &str, v: &str| {
            if !env.iter().any(|e| e.split('=').next() == Some(k)) {
                env.push(format!("{k}={v}"));
            }
        };
        set_default("HOSTNAME", &rec.config.hostname);
        if rec.config.tty {
            set_default("TERM", "xterm");
        }
        set_default("HOME", &home);
        let mut mounts = vec![
            BindMount { source: dirs.resolv_conf(), destination: "/etc/resolv.conf".into(), readonly: false },
            BindMount { source: dirs.hostname(), destination: "/etc/hostname".into(), readonly: false },
            BindMount { source: dirs.hosts(), destination: "/etc/hosts".into(), readonly: false },
        ];
        for m in &rec.mounts {
            mounts.push(BindMount { source: m.source.clone().into(), destination: m.destination.clone(), readonly: !m.rw });
        }
        let mut args = vec![rec.path.clone()];
        args.extend(rec.args.iter().cloned());
        // Checked at create too; read again here for the container's own options.
        let security = berth_runtime::spec::parse_security_opts(&hc.security_opt).map_err(|e| EngineError::Invalid(e.to_string()))?;
        let cfg = RuntimeConfig {
            args,
            env,
            cwd: if rec.config.working_dir.is_empty() { "/".into() } else { rec.config.working_dir.clone() },
            user,
            hostname: rec.config.hostname.clone(),
            domainname: rec.config.domainname.clone(),
            tty: rec.config.tty,
            rootfs: rootfs.clone(),
            readonly_rootfs: hc.readonly_rootfs,
            mounts,
            resources: resources(hc),
            cap_add: hc.cap_add.clone(),
            cap_drop: hc.cap_drop.clone(),
            privileged: hc.privileged,
            no_new_privileges: security.no_new_privileges,
            seccomp: security.seccomp,
            unconfined_system_paths: security.unconfined_system_paths,
            network: self.network_namespace(rec),
            cgroups_path: format!("{}/{}", self.config.cgroup_parent.trim_end_matches('/'), rec.id),
            oom_score_adj: (hc.oom_score_adj != 0).then_some(hc.oom_score_adj as i32),
            shm_size: (hc.shm_size > 0).then_some(hc.shm_size),
            sysctls: hc.sysctls.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        spec::write(&cfg, layout.dir()).map_err(|e| match e {
            spec::SpecError::Capability(c) => EngineError::Invalid(format!("invalid capability: {c}")),
            e => EngineError::internal("write spec", e),
        })
    }

    /// Launches the shim and, while it creates the container, plugs the container into its
    /// networks; then starts the process. Returns its host pid.
    async fn launch(self: &Arc<Self>, h: &Arc<ContainerHandle>, rec: &ContainerRecord, layout: &ShimLayout, pending: PendingPlug) -> Result<i32, EngineError> {
        let plug = {
            let (this, rec) = (self.clone(), rec.clone());
            Self::blocking(move || this.plug_network(&rec, pending))
        };
        // Both finish before anything else happens, so a failed start releases a settled host.
        let (spawned, plugged) = tokio::join!(self.spawn_shim(rec, layout), plug);
        let (pid, shim_gone) = spawned?;
        if let Err(e) = plugged {
            // The process never ran: kill it and let the shim finish tearing the container
            // down (state dir, cgroups) before the start is released, or a next start of
            // this container would race the old shim's cleanup.
            let _ = berth_runtime::client::call(&layout.socket(), &Request::Kill { signal: 9, all: true }).await;
            if tokio::time::timeout(SHIM_CREATE_TIMEOUT, shim_gone).await.is_err() {
                tracing::warn!(id = %rec.id, "shim of a failed start did not exit");
            }
            return Err(e);
        }
        let mut monitor = ShimConn::connect(&layout.socket()).await?;
        monitor.send_request(&Request::Wait).await?;
        self.spawn_monitor(h.clone(), monitor);
        self.connect_pending(h, &layout.socket()).await;
        match berth_runtime::client::call(&layout.socket(), &Request::Start).await? {
            Reply::Ok => Ok(pid),
            Reply::Error { message } => {
                let _ = berth_runtime::client::call(&layout.socket(), &Request::Kill { signal: 9, all: true }).await;
                Err(start_error(&message, &rec.path))
            }
            other => Err(EngineError::Internal(format!("unexpected shim reply {other:?}"))),
        }
    }

    /// Spawns the shim and waits for it to create the container; returns the container's pid
    /// and a receiver that completes when the shim process exits.
    async fn spawn_shim(&self, rec: &ContainerRecord, layout: &ShimLayout) -> Result<(i32, tokio::sync::oneshot::Receiver<()>), EngineError> {
        let dirs = ContainerDirs::new(&self.config.data_root, &rec.id);
        let shim_log = std::fs::File::create(layout.shim_log()).map_err(|e| EngineError::internal("create shim log", e))?;
        let mut cmd = std::process::Command::new(self.sealed.exec_path());
        cmd.arg0("berth").arg("shim").arg("--id").arg(&rec.id).arg("--dir").arg(layout.dir());
        cmd.args(self.shim_log_args(rec, &dirs)?);
        if rec.config.open_stdin {
            cmd.arg("--stdin");
        }
        if rec.config.tty {
            cmd.arg("--tty");
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(shim_log)).current_dir(layout.dir());
        cmd.process_group(0);
        let mut child = tokio::process::Command::from(cmd).kill_on_drop(false).spawn().map_err(|e| EngineError::internal("spawn shim", e))?;
        let stdout = child.stdout.take().ok_or_else(|| EngineError::Internal("shim has no stdout".into()))?;
        let (gone_tx, shim_gone) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let _ = child.wait().await;
            let _ = gone_tx.send(());
        });
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stdout);
        match tokio::time::timeout(SHIM_CREATE_TIMEOUT, reader.read_line(&mut line)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => {
                let log = std::fs::read_to_string(layout.shim_log()).unwrap_or_default();
                return Err(EngineError::Internal(format!("shim exited without creating the container: {}", log.trim())));
            }
            Err(_) => return Err(EngineError::Internal("timed out waiting for the shim to create the container".into())),
        }
        match serde_json::from_str::<Reply>(line.trim()) {
            Ok(Reply::Started { pid }) => Ok((pid, shim_gone)),
            Ok(Reply::Error { message }) => Err(start_error(&message, &rec.path)),
            _ => Err(EngineError::Internal(format!("unexpected shim answer: {}", line.trim()))),
        }
    }
}

impl Engine {
    /// Where a container's network namespace is pinned.
    pub fn netns_path(&self, id: &str) -> std::path::PathBuf {
        self.config.exec_root.join("netns").join(id)
    }

    /// Undoes what a start set up on the host (rootfs mount, network namespace, runtime dir).
    /// Best effort: each step runs whatever the others did.
    pub(crate) fn release_runtime_blocking(&self, id: &str) {
        let layout = ShimLayout::new(&self.config.exec_root, id);
        let upper = ContainerDirs::new(&self.config.data_root, id).upper();
        if let Err(e) = berth_image::mount::unmount_in_background(&layout.rootfs(), &upper) {
            tracing::warn!(%id, "unmount rootfs: {e}");
        }
        self.detach_network(id);
        berth_net::netns::remove(&self.netns_path(id));
        if layout.dir().exists() {
            if let Err(e) = std::fs::remove_dir_all(layout.dir()) {
                tracing::warn!(%id, "remove runtime dir: {e}");
            }
        }
    }

    /// [`Engine::release_runtime_blocking`] off the async workers.
    pub(crate) async fn release_runtime(self: &Arc<Self>, id: &str) {
        let this = self.clone();
        let id = id.to_string();
        let _ = Self::blocking(move || {
            this.release_runtime_blocking(&id);
            Ok(())
        })
        .await;
    }
}

/// The cgroup limits of a host config.
fn resources(hc: &berth_api::types::HostConfig) -> Resources {
    let (quota, period) = if hc.nano_cpus > 0 {
        (Some(hc.nano_cpus * 100_000 / 1_000_000_000), Some(100_000))
    } else {
        ((hc.cpu_quota > 0).then_some(hc.cpu_quota), (hc.cpu_period > 0).then_some(hc.cpu_period as u64))
    };
    Resources {
        memory: (hc.memory > 0).then_some(hc.memory),
        memory_swap: (hc.memory_swap != 0 && hc.memory > 0).then_some(hc.memory_swap),
        cpu_quota: quota,
        cpu_period: period,
        cpu_shares: (hc.cpu_shares > 0).then_some(hc.cpu_shares as u64),
        cpuset_cpus: (!hc.cpuset_cpus.is_empty()).then(|| hc.cpuset_cpus.clone()),
        pids_limit: hc.pids_limit.filter(|l| *l > 0),
    }
}

/// Turns a runtime failure into Docker's wording, which clients match on.
fn start_error(message: &str, path: &str) -> EngineError {
    let msg = if message.contains("not found in $PATH") {
        if path.contains('/') {
            format!("failed to create task for container: OCI runtime create failed: exec: \"{path}\": stat {path}: no such file or directory: unknown")
        } else {
            format!("failed to create task for container: OCI runtime create failed: exec: \"{path}\": executable file not found in $PATH: unknown")
        }
    } else if message.contains("does not have correct permissions")
        || message.contains("is not executable")
        || message.contains("Permission denied")
        || message.contains("EACCES")
    {
        format!("failed to create task for container: OCI runtime create failed: exec: \"{path}\": permission denied: unknown")
    } else {
        format!("failed to create task for container: OCI runtime create failed: {message}: unknown")
    };
    EngineError::StartFailed(msg)
}

/// The exit code Docker records for a failed start.
pub fn start_exit_code(message: &str) -> i64 {
    if message.contains("executable file not found") || message.contains("no such file or directory") {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        128
    }
}

/// Whether `p` is mounted (for cleanup paths).
pub fn rootfs_mounted(p: &Path) -> bool {
    berth_image::mount::is_mounted(p)
}
