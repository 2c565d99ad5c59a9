//! Host-wide settings and coordination between daemons: IPv4 forwarding, and a lock that
//! serialises "find a free subnet, then put it on a bridge" across every berth daemon of the
//! host (two daemons choosing the same free pool at once would both get it).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

/// Where forwarding is switched on.
const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Turns IPv4 forwarding on (needed for masquerade and for DNAT from other hosts); returns
/// whether it was off. Like Docker, it is left on when the daemon stops.
pub fn enable_ip_forward() -> io::Result<bool> {
    enable_ip_forward_at(Path::new(IP_FORWARD))
}

/// [`enable_ip_forward`] on the sysctl file at `path` (a temp file in tests).
pub fn enable_ip_forward_at(path: &Path) -> io::Result<bool> {
    let cur = std::fs::read_to_string(path)?;
    if cur.trim() == "1" {
        return Ok(false);
    }
    std::fs::write(path, "1\n")?;
    Ok(true)
}

/// An exclusive `flock` held until dropped.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
}

impl HostLock {
    /// Blocks until the lock at `path` is ours.
    pub fn acquire(path: &Path) -> io::Result<HostLock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
        lock(&file)?;
        Ok(HostLock { _file: file })
    }
}

#[allow(unsafe_code)]
fn lock(file: &File) -> io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor we own; the lock goes away when the file is closed.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_forward_is_switched_on_once() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("ip_forward");
        std::fs::write(&p, "0\n").expect("write");
        assert!(enable_ip_forward_at(&p).expect("enable"), "it was off");
        assert_eq!(std::fs::read_to_string(&p).expect("read").trim(), "1");
        assert!(!enable_ip_forward_at(&p).expect("enable"), "already on: nothing to do");
        assert!(enable_ip_forward_at(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn lock_is_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("net.lock");
        let held = HostLock::acquire(&p).expect("lock");
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let _l = HostLock::acquire(&p2).expect("lock");
            start.elapsed()
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        let waited = t.join().expect("thread");
        assert!(waited >= std::time::Duration::from_millis(80), "second holder waited {waited:?}");
    }
}
