//! A sealed in-memory copy of our own executable, the CVE-2019-5736 defence.
//!
//! A container process that can see the shim (it is the container's parent) could open
//! `/proc/<shim>/exe` and overwrite the berth binary on the host. Shims therefore never run from
//! the file on disk: the daemon copies itself once into a memfd, seals it against writes and
//! executes every shim from it. All shims share that one copy's pages, which keeps their memory
//! footprint small. A shim started by hand re-executes itself from a fresh sealed copy.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::PathBuf;

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};

/// Why the sealed copy could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("create memfd: {0}")]
    Create(nix::Error),
    #[error("copy /proc/self/exe into memfd: {0}")]
    Copy(std::io::Error),
    #[error("seal memfd: {0}")]
    Seal(nix::Error),
    #[error("re-exec from sealed copy: {0}")]
    Exec(nix::Error),
}

/// The seals that make the copy immutable for everybody, us included.
fn seals() -> SealFlag {
    SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE
}

/// A sealed copy of the running executable, kept open for the life of the daemon.
#[derive(Debug)]
pub struct SealedExe {
    fd: OwnedFd,
}

impl SealedExe {
    /// Copies `/proc/self/exe` into a sealed, close-on-exec memfd.
    pub fn create() -> Result<Self, SealError> {
        let fd = memfd_create(c"berth-sealed", MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING).map_err(SealError::Create)?;
        let mut src = File::open("/proc/self/exe").map_err(SealError::Copy)?;
        let mut dst = File::from(fd);
        std::io::copy(&mut src, &mut dst).map_err(SealError::Copy)?;
        let fd = OwnedFd::from(dst);
        fcntl(fd.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals())).map_err(SealError::Seal)?;
        Ok(Self { fd })
    }

    /// The path a child process executes to run the sealed copy.
    ///
    /// Valid in a child forked from this process until it calls exec (the fd is close-on-exec,
    /// which the kernel applies only after it has opened the binary).
    pub fn exec_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_fd().as_raw_fd()))
    }
}

/// Whether the running executable is a sealed memfd.
pub fn is_sealed() -> bool {
    let Ok(file) = File::open("/proc/self/exe") else { return false };
    match fcntl(file.as_raw_fd(), FcntlArg::F_GET_SEALS) {
        Ok(bits) => SealFlag::from_bits_truncate(bits).contains(seals()),
        Err(_) => false,
    }
}

/// Re-executes the current process from a sealed copy unless it already runs from one.
///
/// Returns only if already sealed; on success the process image is replaced.
pub fn ensure_sealed() -> Result<(), SealError> {
    if is_sealed() {
        return Ok(());
    }
    let sealed = SealedExe::create()?;
    let args: Vec<std::ffi::CString> = std::env::args_os().filter_map(|a| std::ffi::CString::new(a.into_encoded_bytes()).ok()).collect();
    let env: Vec<std::ffi::CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_encoded_bytes();
            kv.push(b'=');
            kv.extend(v.into_encoded_bytes());
            std::ffi::CString::new(kv).ok()
        })
        .collect();
    let err = nix::unistd::fexecve(sealed.fd.as_raw_fd(), &args, &env).map_err(SealError::Exec);
    match err {
        Err(e) => Err(e),
        Ok(never) => match never {},
    }
}

/// Marks every inherited descriptor above stderr close-on-exec, so nothing the daemon was
/// started with (a parent's pipes, a jobserver) leaks into shims or containers.
#[allow(unsafe_code)]
pub fn cloexec_inherited_fds() {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors; it cannot
    // invalidate memory or descriptors in use. Errors (old kernels) are ignored.
    unsafe {
        libc::syscall(libc::SYS_close_range, 3 as libc::c_uint, libc::c_uint::MAX, CLOSE_RANGE_CLOEXEC);
    }
}
