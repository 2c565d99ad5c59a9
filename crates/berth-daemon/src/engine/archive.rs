//! `docker cp` through `HEAD|GET|PUT /containers/{id}/archive`.
//!
//! Every path is resolved inside the container's root filesystem with
//! `openat2(RESOLVE_IN_ROOT)` ([`berth_archive::copy`]), so a symlink in the container
//! (`/x -> /etc`, `/x -> ../../..`) resolves as it would in the container and can never make
//! the engine read or write a host file (the CVE-2018-15664 class): there is no
//! check-then-use window on a host path for a container to race. Writes go through the layer
//! applier rooted at the destination directory's fd.
//!
//! The root is the container's overlay mount: while it runs, the one the daemon mounted for
//! it; when it is stopped, a temporary mount held under the container's operation lock. Paths
//! under a volume or bind mount go to the mount's source instead (and a read-only mount
//! refuses writes); the runtime's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf` are
//! the container's own files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_archive::copy::{lstat_in_root, resolve_in_root, FileKind, PathInfo};
use berth_runtime::layout::ShimLayout;
use bytes::Bytes;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use super::archive_io;
use super::record::{ContainerDirs, ContainerRecord, Status};
use super::registry::ContainerHandle;
use super::Engine;
use crate::error::EngineError;

/// `X-Docker-Container-Path-Stat`: what `docker cp` learns about a path before copying.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PathStat {
    pub name: String,
    pub size: u64,
    /// Go's `os.FileMode` bits (directory 1<<31, symlink 1<<27, ...), not POSIX `S_IF*`.
    pub mode: u32,
    pub mtime: String,
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

/// Go's `os.FileMode` of an `lstat`.
pub fn go_file_mode(info: &PathInfo) -> u32 {
    let mut m = info.mode & 0o777;
    m |= match info.kind {
        FileKind::Dir => 1 << 31,
        FileKind::Symlink => 1 << 27,
        FileKind::BlockDevice => 1 << 26,
        FileKind::CharDevice => (1 << 26) | (1 << 21),
        FileKind::Fifo => 1 << 25,
        FileKind::Socket => 1 << 24,
        FileKind::File => 0,
    };
    for (bit, go) in [(0o4000, 1 << 23), (0o2000, 1 << 22), (0o1000, 1 << 20)] {
        if info.mode & bit != 0 {
            m |= go;
        }
    }
    m
}

/// A requested path: cleaned, absolute, with Docker's `/.` suffix kept apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Requested {
    /// Absolute, `.`/`..` resolved lexically (`..` stops at `/`).
    pub clean: String,
    /// The archive's top name: the last component, `.` for `dir/.`, `/` for the root.
    pub name: String,
}

impl Requested {
    /// Parses `?path=` (relative paths are relative to `/`, as in Docker).
    pub fn parse(path: &str) -> Result<Requested, EngineError> {
        if path.is_empty() {
            return Err(EngineError::Invalid("path cannot be empty".into()));
        }
        let mut parts: Vec<&str> = Vec::new();
        for c in path.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                c => parts.push(c),
            }
        }
        let clean = format!("/{}", parts.join("/"));
        let name = if path.ends_with("/.") || path == "." { ".".to_string() } else { parts.last().map(|s| s.to_string()).unwrap_or_else(|| "/".into()) };
        Ok(Requested { clean, name })
    }
}

/// Where a container path lives on the host.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    /// The root paths are resolved in: the rootfs, or a mount's source.
    pub root: PathBuf,
    /// The path inside that root.
    pub rel: String,
    /// Where `root` appears in the container (`/` for the rootfs).
    pub mounted_at: String,
    pub writable: bool,
}

/// Finds the mount (volume, bind, runtime file) `clean` is under, longest destination first.
pub fn locate(rec: &ContainerRecord, dirs: &ContainerDirs, rootfs: &Path, clean: &str) -> Result<Located, EngineError> {
    let mut mounts: Vec<(String, PathBuf, bool)> =
        rec.mounts.iter().map(|m| (m.destination.trim_end_matches('/').to_string(), PathBuf::from(&m.source), m.rw)).collect();
    for (dest, src) in [("/etc/hosts", dirs.hosts()), ("/etc/hostname", dirs.hostname()), ("/etc/resolv.conf", dirs.resolv_conf())] {
        mounts.push((dest.into(), src, true));
    }
    mounts.sort_by_key(|(d, _, _)| std::cmp::Reverse(d.len()));
    for (dest, src, rw) in mounts {
        if dest.is_empty() {
            continue;
        }
        if clean == dest && src.is_file() {
            let parent = src.parent().map(Path::to_path_buf).unwrap_or_default();
            let file = src.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            return Ok(Located {
                root: parent,
                rel: format!("/{file}"),
                mounted_at: Path::new(&dest).parent().map(|p| p.display().to_string()).unwrap_or_default(),
                writable: rw,
            });
        }
        if src.is_dir() && (clean == dest || clean.starts_with(&format!("{dest}/"))) {
            let rel = format!("/{}", clean[dest.len()..].trim_start_matches('/'));
            return Ok(Located { root: src, rel, mounted_at: dest, writable: rw });
        }
    }
    Ok(Located { root: rootfs.to_path_buf(), rel: clean.to_string(), mounted_at: "/".into(), writable: !rec.host_config.readonly_rootfs })
}

fn not_found(path: &str, rec: &ContainerRecord) -> EngineError {
    EngineError::NotFound(format!("Could not find the file {path} in container {}", rec.name))
}

fn io_error(path: &str, rec: &ContainerRecord, e: std::io::Error) -> EngineError {
    match e.kind() {
        std::io::ErrorKind::NotFound => not_found(path, rec),
        std::io::ErrorKind::InvalidInput => EngineError::Invalid(format!("{path}: {e}")),
        _ if e.raw_os_error() == Some(libc::ELOOP) => EngineError::Invalid(format!("{path}: too many levels of symbolic links")),
        // A component on the way is not a directory: nothing exists under that name.
        _ if e.raw_os_error() == Some(libc::ENOTDIR) => not_found(path, rec),
        _ => EngineError::internal(path, e),
    }
}

/// The stat header of `req` inside `loc`.
pub fn stat_path(rec: &ContainerRecord, loc: &Located, req: &Requested, path: &str) -> Result<PathStat, EngineError> {
    let info = lstat_in_root(&loc.root, &loc.rel).map_err(|e| io_error(path, rec, e))?;
    let link_target = if info.kind == FileKind::Symlink {
        let inner = resolve_in_root(&loc.root, &loc.rel).map_err(|e| io_error(path, rec, e))?;
        if loc.mounted_at == "/" {
            inner
        } else {
            format!("{}{}", loc.mounted_at, if inner == "/" { "" } else { &inner })
        }
    } else {
        String::new()
    };
    let mtime = chrono::DateTime::from_timestamp(info.mtime.0, info.mtime.1 as u32).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    Ok(PathStat { name: req.name.clone(), size: info.size, mode: go_file_mode(&info), mtime, link_target })
}

/// A mounted root filesystem of a stopped container, unmounted on drop.
struct TempMount(PathBuf, PathBuf);

impl Drop for TempMount {
    fn drop(&mut self) {
        let _ = berth_image::mount::unmount(&self.0);
        // Never a recursive removal: if the unmount failed it would delete through the mount.
        if !berth_image::mount::is_mounted(&self.0) {
            let _ = std::fs::remove_dir(&self.0);
            let _ = std::fs::remove_dir(&self.1);
        }
    }
}

impl Engine {
    /// Runs `f` (blocking) with the container's root filesystem mounted at `rootfs`: the
    /// running container's own mount, or a temporary one taken under its operation lock.
    async fn with_rootfs<T: Send + 'static>(
        self: &Arc<Self>,
        h: &Arc<ContainerHandle>,
        f: impl FnOnce(&ContainerRecord, &Path) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let layout = ShimLayout::new(&self.config.exec_root, &h.id);
        let rec = h.snapshot();
        if matches!(rec.state.status, Status::Running | Status::Paused) && super::start::rootfs_mounted(&layout.rootfs()) {
            let rootfs = layout.rootfs();
            return Self::blocking(move || f(&rec, &rootfs)).await;
        }
        let _op = h.op.lock().await;
        let rec = h.snapshot();
        if matches!(rec.state.status, Status::Running | Status::Paused | Status::Restarting | Status::Removing) {
            return Err(EngineError::Conflict(format!("container {} is changing state, try again", rec.id)));
        }
        let this = self.clone();
        Self::blocking(move || {
            let image = this.images.get(&rec.image_id)?.ok_or_else(|| EngineError::NotFound(format!("No such image: {}", rec.image)))?;
            let dirs = ContainerDirs::new(&this.config.data_root, &rec.id);
            let rootfs = layout.rootfs();
            std::fs::create_dir_all(&rootfs).map_err(|e| EngineError::internal("create mount point", e))?;
            let _guard = TempMount(rootfs.clone(), layout.dir().to_path_buf());
            this.images.container_overlay(&image, dirs.upper(), dirs.work())?.mount(&rootfs)?;
            f(&rec, &rootfs)
        })
        .await
    }

    /// `HEAD /containers/{id}/archive`.
    pub async fn archive_stat(self: &Arc<Self>, name: &str, path: &str) -> Result<PathStat, EngineError> {
        let h = self.containers.get(name)?;
        let req = Requested::parse(path)?;
        let (data_root, path) = (self.config.data_root.clone(), path.to_string());
        self.with_rootfs(&h, move |rec, rootfs| {
            let loc = locate(rec, &ContainerDirs::new(&data_root, &rec.id), rootfs, &req.clean)?;
            stat_path(rec, &loc, &req, &path)
        })
        .await
    }

    /// `GET /containers/{id}/archive`: the stat, and a tar of the path streamed after it.
    pub async fn archive_get(self: &Arc<Self>, name: &str, path: &str) -> Result<(PathStat, mpsc::Receiver<Bytes>), EngineError> {
        let h = self.containers.get(name)?;
        let req = Requested::parse(path)?;
        let (stat_tx, stat_rx) = oneshot::channel::<Result<PathStat, EngineError>>();
        // Shared, so a failure before the stat (mounting, say) still reaches the caller.
        let stat_tx = Arc::new(std::sync::Mutex::new(Some(stat_tx)));
        let send_stat = |tx: &Arc<std::sync::Mutex<Option<oneshot::Sender<Result<PathStat, EngineError>>>>>, v| {
            if let Some(tx) = tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = tx.send(v);
            }
        };
        let (tx, rx) = mpsc::channel(16);
        let (engine, data_root, path2, h2, stat_tx2) = (self.clone(), self.config.data_root.clone(), path.to_string(), h.clone(), stat_tx.clone());
        tokio::spawn(async move {
            let result = engine
                .with_rootfs(&h2, move |rec, rootfs| {
                    let loc = locate(rec, &ContainerDirs::new(&data_root, &rec.id), rootfs, &req.clean)?;
                    let stat = stat_path(rec, &loc, &req, &path2)?;
                    send_stat(&stat_tx2, Ok(stat));
                    archive_io::write_archive(&loc, &req, archive_io::ChannelWriter::new(tx))
                })
                .await;
            if let Err(e) = result {
                tracing::debug!(id = %h2.id, "archive: {e}");
                send_stat(&stat_tx, Err(e));
            }
        });
        let stat = stat_rx.await.map_err(|_| EngineError::Internal("archive task ended early".into()))??;
        self.container_event(&h.snapshot(), "archive-path", &[("path", path.to_string())]);
        Ok((stat, rx))
    }

    /// `PUT /containers/{id}/archive`: extracts a tar into the existing directory `path`.
    pub async fn archive_put(
        self: &Arc<Self>,
        name: &str,
        path: &str,
        body: impl std::io::Read + Send + 'static,
        opts: archive_io::PutOptions,
    ) -> Result<(), EngineError> {
        let h = self.containers.get(name)?;
        let req = Requested::parse(path)?;
        let (data_root, exec_root, path2) = (self.config.data_root.clone(), self.config.exec_root.clone(), path.to_string());
        self.with_rootfs(&h, move |rec, rootfs| {
            let loc = locate(rec, &ContainerDirs::new(&data_root, &rec.id), rootfs, &req.clean)?;
            if !loc.writable {
                return Err(EngineError::Invalid(if loc.mounted_at == "/" {
                    "container rootfs is marked read-only".to_string()
                } else {
                    format!("mounted volume is marked read-only: {}", loc.mounted_at)
                }));
            }
            let owner = if opts.copy_uid_gid { Some(container_owner(rec, rootfs)?) } else { None };
            let spool = exec_root.join(format!("cp-{}", super::new_id()));
            let result = archive_io::extract(&loc, &path2, body, &spool, owner, opts).map_err(|e| match e {
                EngineError::NotFound(_) => not_found(&path2, rec),
                e => e,
            });
            let _ = std::fs::remove_file(&spool);
            result
        })
        .await?;
        self.container_event(&h.snapshot(), "extract-to-dir", &[("path", path.to_string())]);
        Ok(())
    }
}

/// The uid and gid of the container's configured user (`docker cp -a`).
fn container_owner(rec: &ContainerRecord, rootfs: &Path) -> Result<(u32, u32), EngineError> {
    let (user, _) = super::user::resolve(rootfs, &rec.config.user, &[])?;
    Ok((user.uid, user.gid))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn info(kind: FileKind, mode: u32) -> PathInfo {
        PathInfo { kind, mode, size: 0, mtime: (0, 0), link: None, rdev: 0 }
    }

    #[test]
    fn file_modes_use_go_bits() {
        assert_eq!(go_file_mode(&info(FileKind::Dir, 0o755)), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(&info(FileKind::Symlink, 0o777)), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(&info(FileKind::File, 0o644)), 0o644);
        assert_eq!(go_file_mode(&info(FileKind::File, 0o4755)), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(&info(FileKind::Dir, 0o1777)), (1 << 31) | (1 << 20) | 0o777);
        assert_eq!(go_file_mode(&info(FileKind::CharDevice, 0o666)), (1 << 26) | (1 << 21) | 0o666);
    }

    #[test]
    fn paths_under_mounts_go_to_the_mount() {
        let t = tempfile::tempdir().unwrap();
        let (vol, rootfs) = (t.path().join("vol"), t.path().join("rootfs"));
        std::fs::create_dir_all(&vol).unwrap();
        let dirs = ContainerDirs::new(t.path(), "c");
        std::fs::create_dir_all(&dirs.dir).unwrap();
        std::fs::write(dirs.hosts(), b"127.0.0.1 localhost").unwrap();
        let mut rec: ContainerRecord = serde_json::from_value(serde_json::json!({
            "id": "c", "name": "n", "created": "", "image": "", "image_id": "", "config": {}, "host_config": {},
            "path": "sh", "args": [], "state": {"status": "running", "pid": 1, "exit_code": 0, "error": "",
            "started_at": "", "finished_at": "", "oom_killed": false}, "restart_count": 0,
            "mounts": [{"Type": "volume", "Source": vol.display().to_string(), "Destination": "/data", "Mode": "ro", "RW": false, "Propagation": ""}],
            "networking": {}
        }))
        .unwrap();
        let l = locate(&rec, &dirs, &rootfs, "/data/x/y").unwrap();
        assert_eq!((l.root.clone(), l.rel.as_str(), l.mounted_at.as_str(), l.writable), (vol.clone(), "/x/y", "/data", false));
        assert_eq!(locate(&rec, &dirs, &rootfs, "/data").unwrap().rel, "/");
        let l = locate(&rec, &dirs, &rootfs, "/database").unwrap();
        assert_eq!((l.root, l.rel.as_str()), (rootfs.clone(), "/database"));
        let l = locate(&rec, &dirs, &rootfs, "/etc/hosts").unwrap();
        assert_eq!((l.root, l.rel.as_str()), (dirs.dir.clone(), "/hosts"));
        rec.host_config.readonly_rootfs = true;
        assert!(!locate(&rec, &dirs, &rootfs, "/etc").unwrap().writable);
    }

    #[test]
    fn requested_paths_are_cleaned_like_docker() {
        let r = |p: &str| Requested::parse(p).unwrap();
        assert_eq!(r("/etc/passwd"), Requested { clean: "/etc/passwd".into(), name: "passwd".into() });
        assert_eq!(r("etc/"), Requested { clean: "/etc".into(), name: "etc".into() });
        assert_eq!(r("/data/."), Requested { clean: "/data".into(), name: ".".into() });
        assert_eq!(r("/../../etc"), Requested { clean: "/etc".into(), name: "etc".into() });
        assert_eq!(r("/"), Requested { clean: "/".into(), name: "/".into() });
        assert!(Requested::parse("").is_err());
    }
}
