//! `docker diff` (`GET /containers/{id}/changes`): what the container's writable layer holds
//! compared with its image. Read from the overlay upper dir without mounting anything:
//! a whiteout device is a deletion (`D`), a path the image has is a change (`C`), anything
//! else an addition (`A`). The upper dir is listed through `O_NOFOLLOW` fds and image layers
//! are queried with in-root resolution, so neither can point the walk at host files.
//!
//! As Docker hides its init layer, the mount points the runtime creates (`/proc`, `/sys`,
//! `/dev/...`, `/etc/hosts`, `/etc/hostname`, `/etc/resolv.conf`, volume destinations) are
//! left out, and so is a changed directory (or runtime mount point) with nothing reported
//! below it.

use std::collections::BTreeSet;
use std::path::PathBuf;

use berth_api::types::ContainerChange;
use berth_archive::copy::{list_tree, lstat_in_root, FileKind, TreeEntry};

use super::record::{ContainerDirs, ContainerRecord};
use super::Engine;
use crate::error::EngineError;

/// Docker's change kinds.
const MODIFIED: u8 = 0;
const ADDED: u8 = 1;
const DELETED: u8 = 2;

/// Paths the runtime creates as mount points.
const RUNTIME_PATHS: &[&str] = &["/proc", "/sys", "/dev", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/.dockerenv"];

fn is_runtime_path(path: &str, rec: &ContainerRecord) -> bool {
    let under = |root: &str| path == root || path.starts_with(&format!("{root}/"));
    RUNTIME_PATHS.iter().any(|p| under(p)) || rec.mounts.iter().any(|m| path == m.destination.trim_end_matches('/'))
}

/// Classifies the upper dir's entries against the image's layers (topmost first).
pub fn changes(entries: &[TreeEntry], lowers: &[PathBuf], rec: &ContainerRecord) -> Vec<ContainerChange> {
    let in_image = |p: &str| lowers.iter().any(|l| lstat_in_root(l, p).is_ok());
    let mut out: Vec<ContainerChange> = Vec::new();
    for e in entries {
        let path = format!("/{}", e.rel.display());
        let whiteout = e.kind == FileKind::CharDevice && e.rdev == 0;
        if whiteout {
            out.push(ContainerChange { path, kind: DELETED });
            continue;
        }
        if is_runtime_path(&path, rec) && e.kind != FileKind::Dir {
            continue;
        }
        let kind = if in_image(&path) { MODIFIED } else { ADDED };
        out.push(ContainerChange { path, kind });
    }
    // A directory changed only because of what was left out above is not reported; children
    // come after their parents, so deciding from the end sees a directory's kept children.
    let dirs: BTreeSet<String> = entries.iter().filter(|e| e.kind == FileKind::Dir).map(|e| format!("/{}", e.rel.display())).collect();
    let mut kept: Vec<ContainerChange> = Vec::new();
    for c in out.into_iter().rev() {
        let prunable = dirs.contains(&c.path) && (c.kind == MODIFIED || is_runtime_path(&c.path, rec));
        let prefix = format!("{}/", c.path);
        if !prunable || kept.iter().any(|k| k.path.starts_with(&prefix)) {
            kept.push(c);
        }
    }
    kept.reverse();
    kept
}

impl Engine {
    /// `GET /containers/{id}/changes`.
    pub async fn container_changes(&self, name: &str) -> Result<Vec<ContainerChange>, EngineError> {
        let rec = self.containers.get(name)?.snapshot();
        let images = self.images.clone();
        let upper = ContainerDirs::new(&self.config.data_root, &rec.id).upper();
        let work = ContainerDirs::new(&self.config.data_root, &rec.id).work();
        Self::blocking(move || {
            let image = images.get(&rec.image_id)?.ok_or_else(|| EngineError::NotFound(format!("No such image: {}", rec.image)))?;
            let lowers = images.overlay(&image, upper.clone(), work)?.lowers;
            let entries = list_tree(&upper).map_err(|e| EngineError::internal("list changes", e))?;
            Ok(changes(&entries, &lowers, &rec))
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rec() -> ContainerRecord {
        serde_json::from_value(serde_json::json!({
            "id": "c", "name": "n", "created": "", "image": "", "image_id": "", "config": {}, "host_config": {},
            "path": "sh", "args": [], "state": {"status": "exited", "pid": 0, "exit_code": 0, "error": "",
            "started_at": "", "finished_at": "", "oom_killed": false},
            "restart_count": 0, "mounts": [{"Type": "volume", "Source": "/v", "Destination": "/data", "Mode": "", "RW": true, "Propagation": ""}], "networking": {}
        }))
        .unwrap()
    }

    #[test]
    fn changes_against_the_image() {
        let t = tempfile::tempdir().unwrap();
        let (lower, upper) = (t.path().join("lower"), t.path().join("upper"));
        for d in ["etc", "bin", "proc"] {
            std::fs::create_dir_all(lower.join(d)).unwrap();
        }
        std::fs::write(lower.join("etc/passwd"), b"x").unwrap();
        std::fs::write(lower.join("bin/gone"), b"x").unwrap();
        for d in ["etc", "bin", "proc", "dev/pts", "data", "new/dir"] {
            std::fs::create_dir_all(upper.join(d)).unwrap();
        }
        std::fs::write(upper.join("etc/passwd"), b"changed").unwrap();
        std::fs::write(upper.join("etc/hosts"), b"").unwrap();
        std::fs::write(upper.join("new/dir/f"), b"x").unwrap();
        nix::sys::stat::mknod(&upper.join("bin/gone"), nix::sys::stat::SFlag::S_IFCHR, nix::sys::stat::Mode::empty(), 0).unwrap();
        let entries = list_tree(&upper).unwrap();
        let got: Vec<(String, u8)> = changes(&entries, &[lower], &rec()).into_iter().map(|c| (c.path, c.kind)).collect();
        assert_eq!(
            got,
            vec![
                ("/bin".to_string(), MODIFIED),
                ("/bin/gone".to_string(), DELETED),
                ("/etc".to_string(), MODIFIED),
                ("/etc/passwd".to_string(), MODIFIED),
                ("/new".to_string(), ADDED),
                ("/new/dir".to_string(), ADDED),
                ("/new/dir/f".to_string(), ADDED),
            ]
        );
    }
}
