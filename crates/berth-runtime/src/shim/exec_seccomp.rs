//! Seccomp for processes exec'd into a container.
//!
//! libcontainer 0.7 rebuilds an exec'd (tenant) process's `linux` section from the namespaces,
//! cgroup and personality alone, so without this an exec'd process would run with no filter at
//! all; Docker filters it like the container's first process. The filter is therefore loaded by
//! our executor, right before `execve`. Loading a filter without no_new_privs takes
//! CAP_SYS_ADMIN, so the process keeps that capability in its effective and permitted sets (never
//! its bounding set) until the filter is in; the executor then drops it, and `execve` could not
//! carry it over anyway (it is in neither the bounding, inheritable nor ambient set).

use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::LinuxSeccomp;
use serde_json::Value;

const SYS_ADMIN: &str = "CAP_SYS_ADMIN";

/// The filter an exec'd process must load, and whether it holds CAP_SYS_ADMIN only for that.
#[derive(Debug, Clone)]
pub struct ExecSeccomp {
    pub filter: LinuxSeccomp,
    pub drop_admin: bool,
}

/// The process file to hand libcontainer and the filter for the executor.
pub struct Prepared {
    pub process: PathBuf,
    pub seccomp: Option<ExecSeccomp>,
}

impl Prepared {
    /// Removes the process file written for the exec, if any.
    pub fn cleanup(&self, original: &Path) {
        if self.process != original {
            let _ = std::fs::remove_file(&self.process);
        }
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
    serde_json::from_slice(&text).map_err(|e| format!("parse {}: {e}", path.display()))
}

fn holds(caps: &Value, set: &str) -> bool {
    caps[set].as_array().is_some_and(|a| a.iter().any(|c| c == SYS_ADMIN))
}

/// Reads the container's filter from its spec (`config`) and, when the exec'd `process` needs
/// CAP_SYS_ADMIN to load it, writes a copy of the process file that grants it.
pub fn prepare(config: &Path, process: &Path) -> Result<Prepared, String> {
    let spec = read_json(config)?;
    let Some(filter) = spec.pointer("/linux/seccomp").filter(|v| !v.is_null()) else {
        return Ok(Prepared { process: process.to_path_buf(), seccomp: None });
    };
    let filter: LinuxSeccomp = serde_json::from_value(filter.clone()).map_err(|e| format!("seccomp filter in {}: {e}", config.display()))?;
    let mut proc_spec = read_json(process)?;
    let nnp = proc_spec["noNewPrivileges"] == Value::Bool(true);
    let caps = &proc_spec["capabilities"];
    if nnp || (holds(caps, "effective") && holds(caps, "permitted")) {
        return Ok(Prepared { process: process.to_path_buf(), seccomp: Some(ExecSeccomp { filter, drop_admin: false }) });
    }
    for set in ["effective", "permitted"] {
        match proc_spec["capabilities"][set].as_array_mut() {
            Some(list) => {
                if !list.iter().any(|c| c == SYS_ADMIN) {
                    list.push(SYS_ADMIN.into());
                }
            }
            None => proc_spec["capabilities"][set] = Value::Array(vec![SYS_ADMIN.into()]),
        }
    }
    let name = process.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let path = process.with_file_name(format!("{name}.seccomp"));
    let body = serde_json::to_vec(&proc_spec).map_err(|e| e.to_string())?;
    crate::status::write_runtime(&path, &body).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(Prepared { process: path, seccomp: Some(ExecSeccomp { filter, drop_admin: true }) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn admin_is_lent_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        let process = dir.path().join("exec.json");
        std::fs::write(&config, r#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}}}"#).unwrap();
        std::fs::write(&process, r#"{"args": ["sh"], "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}}"#)
            .unwrap();
        let p = prepare(&config, &process).unwrap();
        assert!(p.seccomp.as_ref().unwrap().drop_admin);
        let lent = read_json(&p.process).unwrap();
        assert!(holds(&lent["capabilities"], "effective") && holds(&lent["capabilities"], "permitted"));
        assert!(!holds(&lent["capabilities"], "bounding"));
        p.cleanup(&process);
        assert!(!p.process.exists() && process.exists());

        std::fs::write(&process, r#"{"args": ["sh"], "noNewPrivileges": true, "capabilities": {"effective": []}}"#).unwrap();
        let p = prepare(&config, &process).unwrap();
        assert_eq!((p.process == process, p.seccomp.unwrap().drop_admin), (true, false));

        std::fs::write(&config, r#"{"linux": {}}"#).unwrap();
        let p = prepare(&config, &process).unwrap();
        assert!(p.seccomp.is_none() && p.process == process);
    }
}
