//! Removes the cgroup directories of a container that libcontainer's delete left behind.
//!
//! Its cgroup v1 removal retries `rmdir` for about 100 ms per controller and stops at the first
//! one still busy, so on a loaded machine (a cgroup empties a little after its last process is
//! reaped) every controller's directory can stay behind. The shim is the last one to know the
//! container's cgroup path, so it sweeps what is left, patiently, before it exits.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long the shim keeps retrying a busy cgroup before it gives up and logs it.
pub const SWEEP_PATIENCE: Duration = Duration::from_secs(3);

/// Removes `cgroup_path` (absolute, as in the OCI spec) under every mounted cgroup hierarchy,
/// children first; returns the directories still there after `patience`.
pub fn sweep(cgroup_path: &Path, patience: Duration) -> Vec<PathBuf> {
    sweep_under(&mounted_hierarchies(), cgroup_path, patience)
}

/// The mount points of this host's cgroup hierarchies (read from mountinfo). A long-lived
/// caller keeps them: they do not move under a running daemon.
pub fn mounted_hierarchies() -> Vec<PathBuf> {
    hierarchy_roots(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// [`sweep`] with the hierarchies given (tests use plain directories).
pub fn sweep_under(roots: &[PathBuf], cgroup_path: &Path, patience: Duration) -> Vec<PathBuf> {
    let rel = cgroup_path.strip_prefix("/").unwrap_or(cgroup_path);
    if rel.as_os_str().is_empty() {
        return Vec::new(); // never the root of a hierarchy
    }
    let deadline = Instant::now() + patience;
    let mut delay = Duration::from_millis(5);
    loop {
        let mut left = Vec::new();
        for root in roots {
            let dir = root.join(rel);
            if dir.is_dir() {
                if let Err(e) = remove_tree(&dir) {
                    tracing::debug!(dir = %dir.display(), "cgroup still busy: {e}");
                    left.push(dir);
                }
            }
        }
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
}

/// Removes a cgroup directory and its child cgroups, deepest first (cgroupfs only allows
/// `rmdir` of directories; their control files go with them).
fn remove_tree(dir: &Path) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// Mount points of the cgroup (v1) and cgroup2 hierarchies in a mountinfo table.
fn hierarchy_roots(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            let mount_point = pre.split_whitespace().nth(4)?;
            (fstype == "cgroup" || fstype == "cgroup2").then(|| PathBuf::from(unescape(mount_point)))
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_v1_and_v2_hierarchies_only() {
        let mi = "\
25 30 0:22 / /sys rw,nosuid - sysfs sysfs rw
33 25 0:28 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
34 25 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
35 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
36 25 0:31 / /tmp/with\\040space rw - cgroup2 cgroup2 rw
";
        let roots = hierarchy_roots(mi);
        let want: Vec<PathBuf> =
            ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/cpu,cpuacct", "/tmp/with space"].iter().map(PathBuf::from).collect();
        assert_eq!(roots, want);
    }

    #[test]
    fn removes_the_container_dirs_children_first_in_every_hierarchy() {
        let tmp = tempfile::tempdir().unwrap();
        let roots: Vec<PathBuf> = ["memory", "pids"].iter().map(|c| tmp.path().join(c)).collect();
        for r in &roots {
            std::fs::create_dir_all(r.join("berth/abc/nested/deeper")).unwrap();
            std::fs::create_dir_all(r.join("berth/other")).unwrap();
        }
        let left = sweep_under(&roots, Path::new("/berth/abc"), Duration::from_millis(50));
        assert!(left.is_empty(), "{left:?}");
        for r in &roots {
            assert!(!r.join("berth/abc").exists());
            assert!(r.join("berth/other").is_dir(), "siblings stay");
        }
    }

    #[test]
    fn reports_what_cannot_be_removed_and_never_touches_a_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("memory");
        std::fs::create_dir_all(root.join("berth/abc")).unwrap();
        // A regular file makes rmdir fail with ENOTEMPTY, as a busy cgroup fails with EBUSY.
        std::fs::write(root.join("berth/abc/file"), b"x").unwrap();
        let left = sweep_under(std::slice::from_ref(&root), Path::new("/berth/abc"), Duration::from_millis(30));
        assert_eq!(left, vec![root.join("berth/abc")]);
        assert!(sweep_under(std::slice::from_ref(&root), Path::new("/"), Duration::ZERO).is_empty());
        assert!(root.join("berth").is_dir());
    }
}
