//! Where a container's runtime files live under the daemon's exec root.
//!
//! One directory per container, `<exec-root>/c/<id>/`, kept short because the shim's socket path
//! must fit the 108 bytes of `sockaddr_un`.

use std::path::{Path, PathBuf};

/// Paths of one container's runtime directory.
#[derive(Debug, Clone)]
pub struct ShimLayout {
    dir: PathBuf,
}

impl ShimLayout {
    /// The layout for container `id` under `exec_root`.
    pub fn new(exec_root: &Path, id: &str) -> Self {
        Self { dir: exec_root.join("c").join(id) }
    }

    /// The layout rooted at an existing directory (the shim gets this on its command line).
    pub fn at(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The container's runtime directory; also the OCI bundle.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The OCI runtime spec.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    /// Mount point of the container's root filesystem.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }
    /// The shim's control socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("shim.sock")
    }
    /// The socket libcontainer hands pty masters over.
    pub fn console_socket(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.tty"))
    }
    /// libcontainer's state root.
    pub fn runtime_root(&self) -> PathBuf {
        self.dir.join("rt")
    }
    /// The exit record of the main process.
    pub fn exit_file(&self) -> PathBuf {
        self.dir.join("exit.json")
    }
    /// The shim's pid.
    pub fn shim_pid_file(&self) -> PathBuf {
        self.dir.join("shim.pid")
    }
    /// The shim's own diagnostics.
    pub fn shim_log(&self) -> PathBuf {
        self.dir.join("shim.log")
    }
    /// The container's seccomp filter when the shim loads it as a cached program instead of
    /// leaving it in `config.json` (see `spec::write`).
    pub fn seccomp_filter(&self) -> PathBuf {
        self.dir.join("seccomp.json")
    }
    /// Compiled seccomp programs, shared by every container: `<exec-root>/seccomp` (a bundle
    /// outside an exec root keeps its own).
    pub fn seccomp_cache(&self) -> PathBuf {
        match self.dir.parent() {
            Some(c) if c.file_name().is_some_and(|n| n == "c") => c.parent().unwrap_or(c).join("seccomp"),
            _ => self.dir.join("seccomp-cache"),
        }
    }
    /// The OCI process spec of exec `id`.
    pub fn exec_process(&self, id: &str) -> PathBuf {
        self.dir.join(format!("exec-{id}.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_seccomp_programs_are_shared_under_the_exec_root() {
        let a = ShimLayout::new(Path::new("/run/berth"), "a");
        let b = ShimLayout::at(PathBuf::from("/run/berth/c/b"));
        assert_eq!(a.seccomp_cache(), PathBuf::from("/run/berth/seccomp"));
        assert_eq!(a.seccomp_cache(), b.seccomp_cache());
        assert_eq!(a.seccomp_filter(), PathBuf::from("/run/berth/c/a/seccomp.json"));
        // A bundle elsewhere keeps its own cache.
        assert_eq!(ShimLayout::at(PathBuf::from("/tmp/bundle")).seccomp_cache(), PathBuf::from("/tmp/bundle/seccomp-cache"));
    }
}
