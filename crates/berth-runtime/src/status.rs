//! The exit record a shim leaves on disk, so a daemon that was down when a container died still
//! learns how it ended.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// How a process ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExitStatus {
    /// The exit code as Docker reports it: the process's code, or 128 + the killing signal.
    pub exit_code: i32,
    /// Set when the kernel's OOM killer ended the container.
    #[serde(default)]
    pub oom_killed: bool,
    /// RFC 3339 time of the exit.
    pub finished_at: String,
    /// Set when the process never ran (the runtime refused it); the message says why.
    #[serde(default)]
    pub error: Option<String>,
}

impl ExitStatus {
    /// An exit observed now.
    pub fn now(exit_code: i32) -> Self {
        Self { exit_code, oom_killed: false, finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true), error: None }
    }
}

/// Writes `value` as JSON to `path` atomically: temp file, fsync, rename, fsync of the dir.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let body = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    write_atomic(path, &body)
}

/// Writes `body` to `path` atomically: temp file, fsync, rename, fsync of the dir.
pub fn write_atomic(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(body)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Writes a runtime file (spec, exec process) by rename, without fsync: these live under the
/// exec root, which does not survive a reboot anyway, and sit on the container start path.
pub fn write_runtime(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, body)?;
    std::fs::rename(&tmp, path)
}

/// Reads the exit record at `path`, if the shim wrote one.
pub fn read_exit(path: &Path) -> Option<ExitStatus> {
    let body = std::fs::read(path).ok()?;
    serde_json::from_slice(&body).ok()
}
