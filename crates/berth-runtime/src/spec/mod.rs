//! From run options to an OCI runtime spec.
//!
//! The daemon resolves everything that needs the image or the host (user names, the rootfs
//! mount, the network namespace) into a [`RuntimeConfig`]; this module only lays that out as the
//! spec libcontainer reads, adding Docker's security defaults. It touches nothing on the host.

mod defaults;
pub mod seccomp;
mod security_opt;

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde_json::{json, Value};

pub use defaults::{default_capabilities, DEFAULT_PATH};
pub use seccomp::Seccomp;
pub use security_opt::{parse_security_opts, SecurityOptError, SecurityOptions};

/// Why a spec could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("invalid capability {0:?}")]
    Capability(String),
    #[error("generated spec is invalid: {0}")]
    Invalid(#[from] serde_json::Error),
    #[error("write spec {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// The resolved identity the process runs as.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

/// A bind mount into the container.
#[derive(Debug, Clone, PartialEq)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
}

/// Which network namespace the container joins.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum NetworkNamespace {
    /// A fresh namespace (loopback only until networking configures it).
    #[default]
    New,
    /// The host's namespace (`--network host`).
    Host,
    /// An existing namespace, by path (`--network container:<id>`, or a prepared netns).
    Path(PathBuf),
}

/// cgroup limits, in the units the kernel takes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub memory: Option<i64>,
    pub memory_swap: Option<i64>,
    pub cpu_quota: Option<i64>,
    pub cpu_period: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
}

/// Everything the spec needs, already resolved.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: ProcessUser,
    pub hostname: String,
    pub domainname: String,
    pub tty: bool,
    pub rootfs: PathBuf,
    pub readonly_rootfs: bool,
    pub mounts: Vec<BindMount>,
    pub resources: Resources,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub no_new_privileges: bool,
    pub seccomp: Seccomp,
    /// `systempaths=unconfined`: no masked or read-only paths.
    pub unconfined_system_paths: bool,
    pub network: NetworkNamespace,
    /// Absolute cgroup path, e.g. `/berth/<id>`.
    pub cgroups_path: String,
    pub oom_score_adj: Option<i32>,
    pub shm_size: Option<i64>,
    pub sysctls: Vec<(String, String)>,
}

/// Normalizes a capability name as Docker accepts it (`net_admin`, `NET_ADMIN`,
/// `CAP_NET_ADMIN`), returning the `CAP_`-prefixed upper-case form, or `ALL`.
pub fn normalize_capability(name: &str) -> Result<String, SpecError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    if defaults::ALL_CAPABILITIES.contains(&full.as_str()) {
        Ok(full)
    } else {
        Err(SpecError::Capability(name.to_string()))
    }
}

/// The effective capability set after `--privileged`, `--cap-add` and `--cap-drop`.
pub fn effective_capabilities(cfg: &RuntimeConfig) -> Result<Vec<String>, SpecError> {
    if cfg.privileged {
        return Ok(defaults::host_capabilities());
    }
    let add: Vec<String> = cfg.cap_add.iter().map(|c| normalize_capability(c)).collect::<Result<_, _>>()?;
    let drop: Vec<String> = cfg.cap_drop.iter().map(|c| normalize_capability(c)).collect::<Result<_, _>>()?;
    let mut caps: Vec<String> = if add.iter().any(|c| c == "ALL") {
        defaults::host_capabilities()
    } else {
        let mut base = default_capabilities();
        for c in add {
            if !base.contains(&c) {
                base.push(c);
            }
        }
        base
    };
    if drop.iter().any(|c| c == "ALL") {
        caps.clear();
    } else {
        caps.retain(|c| !drop.contains(c));
    }
    Ok(caps)
}

/// Builds the OCI runtime spec for `cfg`.
pub fn build(cfg: &RuntimeConfig) -> Result<Spec, SpecError> {
    let caps = effective_capabilities(cfg)?;
    let process = json!({
        "terminal": cfg.tty,
        "user": {
            "uid": cfg.user.uid,
            "gid": cfg.user.gid,
            "additionalGids": cfg.user.additional_gids,
        },
        "args": cfg.args,
        "env": cfg.env,
        "cwd": if cfg.cwd.is_empty() { "/" } else { cfg.cwd.as_str() },
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
        },
        // Absent unless set: libcontainer loads seccomp before dropping capabilities only when
        // the field is missing, and a filter loaded afterwards without no_new_privs is refused.
        "noNewPrivileges": cfg.no_new_privileges.then_some(true),
        "oomScoreAdj": cfg.oom_score_adj,
    });
    let mut linux = json!({
        "namespaces": namespaces(cfg),
        "resources": resources(cfg),
        "cgroupsPath": cfg.cgroups_path,
        "sysctl": cfg.sysctls.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
    });
    if !cfg.privileged {
        if !cfg.unconfined_system_paths {
            linux["maskedPaths"] = json!(defaults::MASKED_PATHS);
            linux["readonlyPaths"] = json!(defaults::READONLY_PATHS);
        }
        if let Some(filter) = seccomp::for_container(&cfg.seccomp, &caps) {
            linux["seccomp"] = filter;
        }
    }
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": cfg.rootfs, "readonly": cfg.readonly_rootfs },
        "hostname": cfg.hostname,
        "domainname": cfg.domainname,
        "mounts": mounts(cfg),
        "linux": linux,
    });
    Ok(serde_json::from_value(strip_nulls(spec))?)
}

/// Writes the spec for `cfg` as `config.json` in `bundle`.
///
/// A seccomp filter the shim can load as a cached program (`shim::seccomp_bpf`) goes to
/// `seccomp.json` instead, so libcontainer does not compile it again in every init; the process
/// is then lent CAP_SYS_ADMIN (effective and permitted only) to load it, dropped before execve.
pub fn write(cfg: &RuntimeConfig, bundle: &Path) -> Result<(), SpecError> {
    let spec = build(cfg)?;
    let mut body = serde_json::to_value(&spec)?;
    let kept = crate::layout::ShimLayout::at(bundle.to_path_buf()).seccomp_filter();
    match spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()).filter(|f| crate::shim::seccomp_bpf::precompilable(f)) {
        Some(filter) => {
            write_file(&kept, &serde_json::to_vec(filter)?)?;
            if let Some(linux) = body.get_mut("linux").and_then(Value::as_object_mut) {
                linux.remove("seccomp");
            }
            crate::shim::exec_seccomp::lend_admin(&mut body["process"]);
        }
        None => match std::fs::remove_file(&kept) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(SpecError::Write { path: kept, source: e }),
            _ => {}
        },
    }
    write_file(&bundle.join("config.json"), &serde_json::to_vec(&body)?)
}

fn write_file(path: &Path, body: &[u8]) -> Result<(), SpecError> {
    crate::status::write_runtime(path, body).map_err(|source| SpecError::Write { path: path.to_path_buf(), source })
}

fn namespaces(cfg: &RuntimeConfig) -> Value {
    let mut ns = vec![json!({"type": "pid"}), json!({"type": "ipc"}), json!({"type": "uts"}), json!({"type": "mount"})];
    match &cfg.network {
        NetworkNamespace::New => ns.push(json!({"type": "network"})),
        NetworkNamespace::Host => {}
        NetworkNamespace::Path(p) => ns.push(json!({"type": "network", "path": p})),
    }
    if defaults::cgroup_v2_unified() {
        ns.push(json!({"type": "cgroup"}));
    }
    Value::Array(ns)
}

fn resources(cfg: &RuntimeConfig) -> Value {
    let r = &cfg.resources;
    let mut res = json!({
        "devices": [{"allow": cfg.privileged, "access": "rwm"}],
    });
    if r.memory.is_some() || r.memory_swap.is_some() {
        res["memory"] = json!({"limit": r.memory, "swap": r.memory_swap});
    }
    if r.cpu_quota.is_some() || r.cpu_shares.is_some() || r.cpuset_cpus.is_some() {
        res["cpu"] = json!({
            "quota": r.cpu_quota, "period": r.cpu_period, "shares": r.cpu_shares, "cpus": r.cpuset_cpus,
        });
    }
    if let Some(limit) = r.pids_limit {
        res["pids"] = json!({"limit": limit});
    }
    res
}

fn mounts(cfg: &RuntimeConfig) -> Value {
    let shm = format!("size={}k", cfg.shm_size.unwrap_or(64 * 1024 * 1024) / 1024);
    let mut m = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", if cfg.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", if cfg.privileged { "rw" } else { "ro" }]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", shm]}),
    ];
    for b in &cfg.mounts {
        let mut options = vec!["rbind", "rprivate"];
        options.push(if b.readonly { "ro" } else { "rw" });
        m.push(json!({"destination": b.destination, "type": "bind", "source": b.source, "options": options}));
    }
    Value::Array(m)
}

/// Removes `null` members so optional settings are simply absent from the spec.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> RuntimeConfig {
        RuntimeConfig {
            args: vec!["sh".into()],
            env: vec![format!("PATH={DEFAULT_PATH}")],
            rootfs: "/tmp/rootfs".into(),
            cgroups_path: "/berth/abc".into(),
            hostname: "abc".into(),
            ..Default::default()
        }
    }

    #[test]
    fn default_spec_has_docker_security_defaults() {
        let spec = build(&base()).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert!(linux.masked_paths().as_ref().unwrap().contains(&"/proc/kcore".to_string()));
        assert!(linux.readonly_paths().as_ref().unwrap().contains(&"/proc/sys".to_string()));
        assert!(linux.seccomp().is_some());
        let caps = spec.process().as_ref().unwrap().capabilities().as_ref().unwrap();
        let bounding = caps.bounding().as_ref().unwrap();
        assert_eq!(bounding.len(), 14);
        assert!(!bounding.iter().any(|c| c.to_string().contains("SYS_ADMIN")));
    }

    #[test]
    fn cap_add_drop_and_privileged() {
        let mut cfg = base();
        cfg.cap_add = vec!["net_admin".into()];
        cfg.cap_drop = vec!["CAP_CHOWN".into(), "mknod".into()];
        let caps = effective_capabilities(&cfg).unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert!(!caps.contains(&"CAP_MKNOD".to_string()));

        cfg.cap_drop = vec!["ALL".into()];
        assert!(effective_capabilities(&cfg).unwrap().is_empty());

        cfg.privileged = true;
        let spec = build(&cfg).unwrap();
        assert!(spec.linux().as_ref().unwrap().seccomp().is_none());
        assert!(effective_capabilities(&cfg).unwrap().contains(&"CAP_SYS_ADMIN".to_string()));
    }

    #[test]
    fn a_precompilable_filter_is_set_aside_with_the_capability_lent() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = base();
        write(&cfg, dir.path()).unwrap();
        let config: Value = serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        assert!(config["linux"].get("seccomp").is_none());
        let kept: oci_spec::runtime::LinuxSeccomp = serde_json::from_slice(&std::fs::read(dir.path().join("seccomp.json")).unwrap()).unwrap();
        assert_eq!(Some(&kept), build(&cfg).unwrap().linux().as_ref().unwrap().seccomp().as_ref());
        let caps = &config["process"]["capabilities"];
        let has = |set: &str| caps[set].as_array().unwrap().iter().any(|c| c == "CAP_SYS_ADMIN");
        assert!(has("effective") && has("permitted") && !has("bounding"));
        // Without a filter to set aside, a stale one is gone and nothing is lent.
        let mut cfg = base();
        cfg.seccomp = Seccomp::Unconfined;
        write(&cfg, dir.path()).unwrap();
        assert!(!dir.path().join("seccomp.json").exists());
        let config: Value = serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        assert!(!config["process"]["capabilities"]["effective"].as_array().unwrap().iter().any(|c| c == "CAP_SYS_ADMIN"));
    }

    #[test]
    fn security_options_shape_the_spec() {
        let mut cfg = base();
        let opts = parse_security_opts(&[r#"seccomp={"defaultAction":"SCMP_ACT_LOG"}"#.to_string(), "systempaths=unconfined".to_string()]).unwrap();
        cfg.seccomp = opts.seccomp;
        cfg.unconfined_system_paths = opts.unconfined_system_paths;
        let spec = build(&cfg).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(linux.seccomp().as_ref().unwrap().default_action(), oci_spec::runtime::LinuxSeccompAction::ScmpActLog);
        assert!(linux.masked_paths().is_none());
        cfg.seccomp = Seccomp::Unconfined;
        assert!(build(&cfg).unwrap().linux().as_ref().unwrap().seccomp().is_none());
    }

    #[test]
    fn unknown_capability_is_an_error() {
        let mut cfg = base();
        cfg.cap_add = vec!["FLY".into()];
        assert!(matches!(build(&cfg), Err(SpecError::Capability(_))));
    }

    #[test]
    fn limits_and_network_namespace() {
        let mut cfg = base();
        cfg.resources.memory = Some(64 << 20);
        cfg.resources.pids_limit = Some(10);
        cfg.resources.cpu_quota = Some(50_000);
        cfg.resources.cpu_period = Some(100_000);
        cfg.network = NetworkNamespace::Host;
        let spec = build(&cfg).unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let res = linux.resources().as_ref().unwrap();
        assert_eq!(res.memory().as_ref().unwrap().limit(), Some(64 << 20));
        assert_eq!(res.pids().as_ref().unwrap().limit(), 10);
        let ns = linux.namespaces().as_ref().unwrap();
        assert!(!ns.iter().any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network));
    }
}
