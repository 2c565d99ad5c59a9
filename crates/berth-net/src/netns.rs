//! Named network namespaces: created in a short-lived thread (a namespace change affects only
//! the calling thread), kept alive by a bind mount of the thread's `ns/net` onto a file.

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// Why a namespace could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("create network namespace file {path}: {source}")]
    File { path: PathBuf, source: io::Error },
    #[error("unshare network namespace: {0}")]
    Unshare(nix::Error),
    #[error("bring loopback up: {0}")]
    Loopback(io::Error),
    #[error("bind network namespace to {path}: {source}")]
    Bind { path: PathBuf, source: nix::Error },
    #[error("network namespace thread panicked")]
    Thread,
}

/// Creates a new network namespace with `lo` up and pins it at `path`.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| NetnsError::File { path: dir.to_path_buf(), source })?;
    }
    std::fs::File::create(path).map_err(|source| NetnsError::File { path: path.to_path_buf(), source })?;
    let target = path.to_path_buf();
    let result = std::thread::spawn(move || -> Result<(), NetnsError> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(NetnsError::Unshare)?;
        loopback_up().map_err(NetnsError::Loopback)?;
        mount(Some(Path::new("/proc/thread-self/ns/net")), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|source| NetnsError::Bind { path: target.clone(), source })
    })
    .join()
    .map_err(|_| NetnsError::Thread)?;
    if result.is_err() {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Unpins and deletes the namespace at `path`; a missing one is fine.
pub fn remove(path: &Path) {
    let _ = umount2(path, MntFlags::MNT_DETACH);
    let _ = std::fs::remove_file(path);
}

/// Sets `IFF_UP` on `lo` in the calling thread's network namespace.
#[allow(unsafe_code)]
fn loopback_up() -> io::Result<()> {
    let sock = socket(AddressFamily::Inet, SockType::Datagram, SockFlag::SOCK_CLOEXEC, None).map_err(io::Error::from)?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the flags into the ifreq we own, which lives across the call.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: ifru_flags is the union member SIOCGIFFLAGS just filled in.
    unsafe {
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS only reads the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &ifr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
