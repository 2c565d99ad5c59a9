//! `POST /containers/create`: validate, merge with the image's defaults, prepare the
//! container's directories and volumes, record it.

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_api::types::{ContainerConfig, ContainerCreateRequest, CreateResponse, HostConfig, MountPoint, VolumeCreateRequest};
use berth_image::config::RunDefaults;

use super::record::{ContainerDirs, ContainerRecord, StateRecord};
use super::registry::ContainerHandle;
use super::{etc_files, names, new_id, Engine};
use crate::error::EngineError;

/// Log drivers we accept.
const LOG_DRIVERS: &[&str] = &["", "json-file", "none", "local"];

impl Engine {
    /// Creates a container.
    pub async fn create_container(self: &Arc<Self>, name: Option<String>, req: ContainerCreateRequest) -> Result<CreateResponse, EngineError> {
        validate_host_config(&req.host_config)?;
        if req.config.image.is_empty() {
            return Err(EngineError::Invalid("config.Image: image name must not be empty".into()));
        }
        let images = self.images.clone();
        let image_name = req.config.image.clone();
        let (image, image_cfg) = Self::blocking(move || {
            let rec = images.resolve(&image_name)?;
            let cfg = images.config(&rec)?;
            Ok((rec, cfg))
        })
        .await?;
        let mut config = merge_config(req.config.clone(), &image_cfg.config);
        let (path, args) = command(&config)?;
        let mut req = req;
        req.host_config.log_config = self.check_ops_config(&config, &req.host_config)?;
        let networking = self.plan_networking(&req.host_config, &config, req.networking_config.clone())?;
        let id = new_id();
        let name = self.claim_name(name, &id)?;
        if config.hostname.is_empty() {
            config.hostname = id[..12].to_string();
        }
        let this = self.clone();
        let (id2, host_config, hostname) = (id.clone(), req.host_config.clone(), config.hostname.clone());
        let volumes_wanted: Vec<String> = config.volumes.keys().cloned().collect();
        let prepared = Self::blocking(move || this.prepare_dirs(&id2, &host_config, &hostname, &volumes_wanted)).await;
        let (mounts, anonymous) = match prepared {
            Ok(m) => m,
            Err(e) => {
                self.containers.release_name(&name);
                let _ = std::fs::remove_dir_all(ContainerDirs::new(&self.config.data_root, &id).dir);
                return Err(e);
            }
        };
        let record = ContainerRecord {
            id: id.clone(),
            name,
            created: berth_image::now_rfc3339(),
            image: req.config.image.clone(),
            image_id: image.id.clone(),
            config,
            host_config: req.host_config,
            path,
            args,
            state: StateRecord::default(),
            restart_count: 0,
            mounts,
            networking,
            manually_stopped: false,
            anonymous_volumes: anonymous,
            health: None,
        };
        let handle = ContainerHandle::new(record.clone());
        self.persist(&handle)?;
        self.containers.insert(handle);
        self.container_event(&record, "create", &[]);
        Ok(CreateResponse { id, warnings: Vec::new() })
    }

    fn claim_name(&self, name: Option<String>, id: &str) -> Result<String, EngineError> {
        match name.filter(|n| !n.is_empty()) {
            Some(n) => {
                let n = n.strip_prefix('/').unwrap_or(&n).to_string();
                if !names::valid(&n) {
                    return Err(EngineError::Invalid(format!("Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
                }
                self.containers.reserve_name(&n, id)?;
                Ok(n)
            }
            None => {
                for attempt in 0..100 {
                    let n = names::generate(attempt / 10);
                    if self.containers.reserve_name(&n, id).is_ok() {
                        return Ok(n);
                    }
                }
                Err(EngineError::Internal("could not generate a container name".into()))
            }
        }
    }

    /// Creates the container's directories, /etc files and volumes; returns its mounts and the
    /// anonymous volumes made for it.
    fn prepare_dirs(&self, id: &str, hc: &HostConfig, hostname: &str, image_volumes: &[String]) -> Result<(Vec<MountPoint>, Vec<String>), EngineError> {
        let dirs = ContainerDirs::new(&self.config.data_root, id);
        for d in [dirs.upper(), dirs.work()] {
            std::fs::create_dir_all(&d).map_err(|e| EngineError::internal(&format!("create {}", d.display()), e))?;
        }
        etc_files::write(&dirs, hostname, &hc.extra_hosts, &hc.dns, &hc.dns_search, &hc.dns_options)?;
        let mut mounts = Vec::new();
        let mut anonymous = Vec::new();
        for bind in &hc.binds {
            mounts.push(self.parse_bind(bind)?);
        }
        for m in &hc.mounts {
            mounts.push(self.parse_mount(m)?);
        }
        for dest in image_volumes {
            if mounts.iter().any(|m| m.destination == *dest) {
                continue;
            }
            let v = self.volumes.create(&VolumeCreateRequest::default(), true)?;
            anonymous.push(v.name.clone());
            mounts.push(volume_mount(&v.name, &v.mountpoint, dest, true));
        }
        for m in &mounts {
            if !m.destination.starts_with('/') {
                return Err(EngineError::Invalid(format!("invalid mount config: mount path must be absolute: {}", m.destination)));
            }
        }
        Ok((mounts, anonymous))
    }

    /// Parses a `-v src:dst[:opts]` bind or named volume.
    fn parse_bind(&self, spec: &str) -> Result<MountPoint, EngineError> {
        let parts: Vec<&str> = spec.split(':').collect();
        let (src, dst, opts) = match parts.as_slice() {
            [d] => ("", *d, ""),
            [s, d] => (*s, *d, ""),
            [s, d, o] => (*s, *d, *o),
            _ => return Err(EngineError::Invalid(format!("invalid volume specification: '{spec}'"))),
        };
        if dst.is_empty() || !dst.starts_with('/') {
            return Err(EngineError::Invalid(format!(
                "invalid volume specification: '{spec}': invalid mount config for type \"bind\": invalid mount path: '{dst}' mount path must be absolute"
            )));
        }
        let mut rw = true;
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            match o {
                "ro" => rw = false,
                "rw" => rw = true,
                "z" | "Z" | "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" | "nocopy" | "consistent" | "cached" | "delegated" => {}
                other => return Err(EngineError::Invalid(format!("invalid mode: {other}"))),
            }
        }
        if src.is_empty() {
            let v = self.volumes.create(&VolumeCreateRequest::default(), true)?;
            return Ok(volume_mount(&v.name, &v.mountpoint, dst, rw));
        }
        if src.starts_with('/') {
            let p = std::path::Path::new(src);
            if !p.exists() {
                // Docker creates a missing bind source directory for -v (not for --mount).
                std::fs::create_dir_all(p).map_err(|e| EngineError::Invalid(format!("error while creating mount source path '{src}': {e}")))?;
            }
            return Ok(MountPoint {
                typ: "bind".into(),
                source: src.into(),
                destination: dst.into(),
                mode: opts.into(),
                rw,
                propagation: "rprivate".into(),
                ..Default::default()
            });
        }
        let v = self.volumes.create(&VolumeCreateRequest { name: src.into(), ..Default::default() }, false)?;
        Ok(volume_mount(&v.name, &v.mountpoint, dst, rw))
    }

    /// Parses a `--mount` entry.
    fn parse_mount(&self, m: &berth_api::types::MountRequest) -> Result<MountPoint, EngineError> {
        if !m.target.starts_with('/') {
            return Err(EngineError::Invalid(format!(
                "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
                m.typ, m.target
            )));
        }
        match m.typ.as_str() {
            "bind" => {
                if !std::path::Path::new(&m.source).exists() {
                    return Err(EngineError::Invalid(format!("invalid mount config for type \"bind\": bind source path does not exist: {}", m.source)));
                }
                Ok(MountPoint {
                    typ: "bind".into(),
                    source: m.source.clone(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    propagation: "rprivate".into(),
                    ..Default::default()
                })
            }
            "volume" => {
                let v = self.volumes.create(&VolumeCreateRequest { name: m.source.clone(), ..Default::default() }, m.source.is_empty())?;
                Ok(volume_mount(&v.name, &v.mountpoint, &m.target, !m.read_only))
            }
            other => Err(EngineError::Invalid(format!("mount type {other:?} is not supported"))),
        }
    }
}

fn volume_mount(name: &str, mountpoint: &str, dst: &str, rw: bool) -> MountPoint {
    MountPoint {
        typ: "volume".into(),
        name: name.into(),
        source: mountpoint.into(),
        destination: dst.into(),
        driver: "local".into(),
        mode: if rw { "z".into() } else { "ro".into() },
        rw,
        propagation: String::new(),
    }
}

/// Checks what Docker refuses at create time.
fn validate_host_config(hc: &HostConfig) -> Result<(), EngineError> {
    match hc.restart_policy.name.as_str() {
        "" | "no" => {}
        "always" | "unless-stopped" | "on-failure" => {
            if hc.auto_remove {
                return Err(EngineError::Invalid("conflicting options: cannot specify both --restart and --rm".into()));
            }
        }
        other => return Err(EngineError::Invalid(format!("invalid restart policy '{other}'"))),
    }
    if hc.restart_policy.maximum_retry_count < 0 {
        return Err(EngineError::Invalid("invalid value for max retry count: must not be negative".into()));
    }
    if hc.restart_policy.maximum_retry_count > 0 && hc.restart_policy.name != "on-failure" {
        return Err(EngineError::Invalid(format!("invalid restart policy: maximum retry count can only be used with 'on-failure'")));
    }
    if !LOG_DRIVERS.contains(&hc.log_config.typ.as_str()) {
        return Err(EngineError::Invalid(format!("failed to create logger: logger: no log driver named '{}' is registered", hc.log_config.typ)));
    }
    if hc.memory != 0 && hc.memory < 6 * 1024 * 1024 {
        return Err(EngineError::Invalid("Minimum memory limit allowed is 6MB".into()));
    }
    if hc.memory_swap > 0 && hc.memory > 0 && hc.memory_swap < hc.memory {
        return Err(EngineError::Invalid("Minimum memoryswap limit should be larger than memory limit, see usage".into()));
    }
    if hc.nano_cpus < 0 || (hc.nano_cpus > 0 && hc.nano_cpus < 10_000_000) {
        return Err(EngineError::Invalid("Range of CPUs is from 0.01 to the number of CPUs available".into()));
    }
    if hc.nano_cpus > 0 && (hc.cpu_quota > 0 || hc.cpu_period > 0) {
        return Err(EngineError::Invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set".into()));
    }
    for cap in hc.cap_add.iter().chain(&hc.cap_drop) {
        berth_runtime::spec::normalize_capability(cap).map_err(|_| EngineError::Invalid(format!("invalid capability: {cap}")))?;
    }
    berth_runtime::spec::parse_security_opts(&hc.security_opt).map_err(|e| EngineError::Invalid(e.to_string()))?;
    // Network modes, endpoints and ports are checked against the networks by `plan_networking`.
    Ok(())
}

/// Applies the image's defaults to a create request's config, as Docker merges them.
pub fn merge_config(mut c: ContainerConfig, image: &RunDefaults) -> ContainerConfig {
    if c.user.is_empty() {
        c.user = image.user.clone();
    }
    if let Some(ports) = &image.exposed_ports {
        for (k, v) in ports {
            c.exposed_ports.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for e in std::mem::take(&mut c.env) {
        let key = e.split('=').next().unwrap_or_default().to_string();
        env.retain(|x| x.split('=').next() != Some(key.as_str()));
        env.push(e);
    }
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={}", berth_runtime::spec::DEFAULT_PATH));
    }
    c.env = env;
    if c.entrypoint.is_none() {
        c.entrypoint = image.entrypoint.clone();
        if c.cmd.is_none() {
            c.cmd = image.cmd.clone();
        }
    }
    if c.working_dir.is_empty() {
        c.working_dir = image.working_dir.clone();
    }
    if let Some(vols) = &image.volumes {
        for (k, v) in vols {
            c.volumes.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut labels: BTreeMap<String, String> = image.labels.clone().unwrap_or_default();
    labels.extend(std::mem::take(&mut c.labels));
    c.labels = labels;
    if c.stop_signal.is_empty() {
        c.stop_signal = image.stop_signal.clone();
    }
    c.healthcheck = super::health::merge(c.healthcheck.take(), image.healthcheck.as_ref());
    if c.on_build.is_none() {
        c.on_build = image.on_build.clone();
    }
    if c.shell.is_none() {
        c.shell = image.shell.clone();
    }
    c
}

/// The process path and arguments: entrypoint + cmd.
fn command(c: &ContainerConfig) -> Result<(String, Vec<String>), EngineError> {
    let mut all: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    all.extend(c.cmd.clone().unwrap_or_default());
    let mut it = all.into_iter();
    match it.next() {
        Some(path) if !path.is_empty() => Ok((path, it.collect())),
        _ => Err(EngineError::Invalid("no command specified".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_follows_docker_rules() {
        let image = RunDefaults {
            env: Some(vec!["PATH=/bin".into(), "A=1".into()]),
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["default".into()]),
            working_dir: "/app".into(),
            ..Default::default()
        };
        let req = ContainerConfig { env: vec!["A=2".into(), "B=3".into()], ..Default::default() };
        let c = merge_config(req, &image);
        assert_eq!(c.env, vec!["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(command(&c).unwrap(), ("/entry".to_string(), vec!["default".to_string()]));
        assert_eq!(c.working_dir, "/app");

        // An entrypoint in the request drops the image's cmd.
        let req = ContainerConfig { entrypoint: Some(vec!["sh".into()]), ..Default::default() };
        let c = merge_config(req, &image);
        assert_eq!(command(&c).unwrap(), ("sh".to_string(), vec![]));
        // No command at all is refused.
        let c = merge_config(ContainerConfig::default(), &RunDefaults::default());
        assert!(command(&c).is_err());
        assert!(c.env[0].starts_with("PATH="));
    }

    #[test]
    fn host_config_validation() {
        let mut hc = HostConfig::default();
        hc.restart_policy.name = "always".into();
        hc.auto_remove = true;
        assert!(validate_host_config(&hc).is_err());
        let mut hc = HostConfig::default();
        hc.log_config.typ = "jsonfile".into();
        assert!(validate_host_config(&hc).unwrap_err().to_string().contains("jsonfile"));
        let mut hc = HostConfig::default();
        hc.memory = 1024;
        assert!(validate_host_config(&hc).is_err());
        let mut hc = HostConfig::default();
        hc.cap_add = vec!["NOPE".into()];
        assert!(validate_host_config(&hc).is_err());
    }
}
