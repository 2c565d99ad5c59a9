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

use crate::layout::ShimLayout;

const SYS_ADMIN: &str = "CAP_SYS_ADMIN";

/// The filter a process must load before `execve`, and whether it holds CAP_SYS_ADMIN only for
/// that.
#[derive(Debug, Clone)]
pub struct ExecSeccomp {
    pub filter: LinuxSeccomp,
    /// The filter compiled ahead (see `seccomp_bpf`); libcontainer compiles it otherwise.
    pub bpf: Option<Vec<u8>>,
    pub drop_admin: bool,
}

/// The compiled program for `filter`, when it can be compiled ahead.
fn program(filter: &LinuxSeccomp, layout: &ShimLayout) -> Option<Vec<u8>> {
    if !super::seccomp_bpf::precompilable(filter) {
        return None;
    }
    match super::seccomp_bpf::compiled(filter, &layout.seccomp_cache()) {
        Ok(bpf) => Some(bpf),
        Err(e) => {
            tracing::warn!("seccomp program not compiled ahead, libcontainer will: {e}");
            None
        }
    }
}

/// Grants CAP_SYS_ADMIN in the effective and permitted sets of `process` (a spec's process
/// object) unless it can load a filter already; returns whether it was lent.
pub(crate) fn lend_admin(process: &mut Value) -> bool {
    let nnp = process["noNewPrivileges"] == Value::Bool(true);
    let caps = &process["capabilities"];
    if nnp || (holds(caps, "effective") && holds(caps, "permitted")) {
        return false;
    }
    for set in ["effective", "permitted"] {
        match process["capabilities"][set].as_array_mut() {
            Some(list) => {
                if !list.iter().any(|c| c == SYS_ADMIN) {
                    list.push(SYS_ADMIN.into());
                }
            }
            None => process["capabilities"][set] = Value::Array(vec![SYS_ADMIN.into()]),
        }
    }
    true
}

/// For the container's init: the filter `spec::write` set aside in `seccomp.json` (with
/// CAP_SYS_ADMIN lent in `config.json` when the process needs it to load one), compiled ahead.
/// `None` when the spec leaves seccomp to libcontainer, or has none.
pub fn prepare_init(layout: &ShimLayout) -> Result<Option<ExecSeccomp>, String> {
    let kept = layout.seccomp_filter();
    if !kept.exists() {
        return Ok(None);
    }
    let filter: LinuxSeccomp = serde_json::from_value(read_json(&kept)?).map_err(|e| format!("seccomp filter in {}: {e}", kept.display()))?;
    let bpf = program(&filter, layout);
    // Lent, not held: the capability is in the sets a filter load needs but not in the bounding
    // set, where a container that really holds it has it too.
    let caps = read_json(&layout.config())?["process"]["capabilities"].take();
    let drop_admin = holds(&caps, "effective") && !holds(&caps, "bounding");
    Ok(Some(ExecSeccomp { filter, bpf, drop_admin }))
}

/// The container's filter: in `config.json`, or set aside in `seccomp.json`.
fn container_filter(layout: &ShimLayout) -> Result<Option<Value>, String> {
    let spec = read_json(&layout.config())?;
    if let Some(raw) = spec.pointer("/linux/seccomp").filter(|v| !v.is_null()) {
        return Ok(Some(raw.clone()));
    }
    let kept = layout.seccomp_filter();
    if kept.exists() {
        return read_json(&kept).map(Some);
    }
    Ok(None)
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

/// Reads the container's filter from its bundle (`layout`) and, when the exec'd `process`
/// needs CAP_SYS_ADMIN to load it, writes a copy of the process file that grants it.
pub fn prepare(layout: &ShimLayout, process: &Path) -> Result<Prepared, String> {
    let Some(raw) = container_filter(layout)? else {
        return Ok(Prepared { process: process.to_path_buf(), seccomp: None });
    };
    let filter: LinuxSeccomp = serde_json::from_value(raw).map_err(|e| format!("seccomp filter of {}: {e}", layout.dir().display()))?;
    let bpf = program(&filter, layout);
    let mut proc_spec = read_json(process)?;
    if !lend_admin(&mut proc_spec) {
        return Ok(Prepared { process: process.to_path_buf(), seccomp: Some(ExecSeccomp { filter, bpf, drop_admin: false }) });
    }
    let name = process.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let path = process.with_file_name(format!("{name}.seccomp"));
    let body = serde_json::to_vec(&proc_spec).map_err(|e| e.to_string())?;
    crate::status::write_runtime(&path, &body).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(Prepared { process: path, seccomp: Some(ExecSeccomp { filter, bpf, drop_admin: true }) })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn admin_is_lent_only_when_needed() {
        let dir = tempfile::tempdir().unwrap();
        let layout = ShimLayout::at(dir.path().to_path_buf());
        let config = layout.config();
        let process = dir.path().join("exec.json");
        std::fs::write(&config, r#"{"linux": {"seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}}}"#).unwrap();
        std::fs::write(&process, r#"{"args": ["sh"], "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}}"#)
            .unwrap();
        let p = prepare(&layout, &process).unwrap();
        assert!(p.seccomp.as_ref().unwrap().drop_admin);
        let lent = read_json(&p.process).unwrap();
        assert!(holds(&lent["capabilities"], "effective") && holds(&lent["capabilities"], "permitted"));
        assert!(!holds(&lent["capabilities"], "bounding"));
        p.cleanup(&process);
        assert!(!p.process.exists() && process.exists());

        std::fs::write(&process, r#"{"args": ["sh"], "noNewPrivileges": true, "capabilities": {"effective": []}}"#).unwrap();
        let p = prepare(&layout, &process).unwrap();
        assert_eq!((p.process == process, p.seccomp.unwrap().drop_admin), (true, false));

        std::fs::write(&config, r#"{"linux": {}}"#).unwrap();
        let p = prepare(&layout, &process).unwrap();
        assert!(p.seccomp.is_none() && p.process == process);
    }
}
