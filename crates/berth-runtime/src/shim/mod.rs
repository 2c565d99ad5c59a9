//! `berth shim`: the per-container supervisor.
//!
//! The daemon starts one shim per container start, from the sealed copy of our binary, with the
//! container's runtime directory (holding the OCI spec) prepared. The shim:
//! 1. creates the container through libcontainer (its init waits for `start`), holding the
//!    stdio pipes or the pty master;
//! 2. prints one JSON line on its stdout (`{"reply":"started","pid":N}` or an error) and closes it;
//! 3. serves [`crate::protocol`] requests on `shim.sock` until the container's init has exited
//!    and every client has been told, writing output to the json-file log as it goes;
//! 4. records the exit status in `exit.json`, deletes the libcontainer state (and cgroup), exits.
//!
//! It never starts a thread (libcontainer clones the calling process) and aborts on panic.

pub mod cgroup_sweep;
mod conn;
mod event_loop;
pub(crate) mod exec_seccomp;
mod executor;
mod logfile;
mod process;
pub mod rotate;
pub(crate) mod seccomp_bpf;
mod stdio;

use std::io::Write;
use std::path::PathBuf;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::syscall::syscall::SyscallType;

use crate::layout::ShimLayout;
use crate::protocol::Reply;

pub use logfile::{JsonLog, LogSettings, Stream};

/// The shim's command-line contract with the daemon.
#[derive(Debug, Clone)]
pub struct ShimArgs {
    /// Container id (also libcontainer's id).
    pub id: String,
    /// The container's runtime directory ([`ShimLayout`]).
    pub dir: PathBuf,
    /// json-file log to append output to; `None` disables logging.
    pub log: Option<PathBuf>,
    /// Rotation, service log and attributes of the log (engine operations).
    pub log_settings: LogSettings,
    /// Keep a stdin pipe open for attach clients.
    pub stdin: bool,
    /// Give the process a pty.
    pub tty: bool,
}

/// Runs the shim to completion and returns its exit code.
pub fn run(args: ShimArgs) -> i32 {
    // A panic must never unwind through libcontainer's cloned children.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("berth shim: panic: {info}");
        std::process::abort();
    }));
    let _ = nix::unistd::setsid();
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let layout = ShimLayout::at(args.dir.clone());
    if let Err(e) = std::env::set_current_dir(layout.dir()) {
        announce(&Reply::Error { message: format!("enter {}: {e}", layout.dir().display()) });
        return 1;
    }
    let _ = std::fs::write(layout.shim_pid_file(), std::process::id().to_string());
    match event_loop::Shim::create(&args, layout.clone()) {
        Ok(mut shim) => {
            announce(&Reply::Started { pid: shim.main_pid() });
            detach_stdout();
            // The heap creating the container used (spec, seccomp filter, libcontainer state):
            // the shim lives as long as its container, mostly asleep.
            crate::heap::release_free();
            shim.run();
            0
        }
        Err(message) => {
            tracing::error!(%message, "container create failed");
            cleanup_failed(&args.id, &layout);
            announce(&Reply::Error { message });
            1
        }
    }
}

/// Tells the daemon, on our stdout, whether the container was created.
fn announce(reply: &Reply) {
    let mut line = serde_json::to_vec(reply).unwrap_or_default();
    line.push(b'\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&line);
    let _ = out.flush();
}

/// Points our stdout at /dev/null so the daemon's pipe sees EOF once we have announced.
fn detach_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 1);
    }
}

/// Removes whatever a failed create left in libcontainer's state root.
fn cleanup_failed(id: &str, layout: &ShimLayout) {
    if let Ok(mut c) = Container::load(layout.runtime_root().join(id)) {
        let cgroup = c.spec().ok().map(|c| c.cgroup_path);
        let _ = c.delete(true);
        if let Some(cgroup) = cgroup {
            cgroup_sweep::sweep(&cgroup, cgroup_sweep::SWEEP_PATIENCE);
        }
    }
    let _ = std::fs::remove_file(layout.socket());
}

/// A libcontainer builder for container `id` with our executor and state root.
fn builder(id: &str, layout: &ShimLayout) -> Result<ContainerBuilder, String> {
    ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_executor(executor::BerthExecutor::default())
        .with_root_path(layout.runtime_root())
        .map_err(|e| error_chain(&e))
}

/// Formats an error with its sources, so users see why libcontainer failed.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut msg = err.to_string();
    let mut cur = err.source();
    while let Some(src) = cur {
        let s = src.to_string();
        if !msg.contains(&s) {
            msg.push_str(": ");
            msg.push_str(&s);
        }
        cur = src.source();
    }
    msg
}
