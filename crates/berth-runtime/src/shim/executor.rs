//! The executor libcontainer calls inside the container, right before `execve`.

#![allow(unsafe_code)]

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

use super::exec_seccomp::ExecSeccomp;

/// Runs the container's process like libcontainer's default executor, after undoing what the
/// shim's own runtime set up: Rust ignores SIGPIPE in every program, and an ignored signal stays
/// ignored across `execve`, so without this `yes | head` would never end inside a container.
/// For an exec'd process it also loads the container's seccomp filter (see `exec_seccomp`).
#[derive(Clone, Default)]
pub struct BerthExecutor {
    pub seccomp: Option<ExecSeccomp>,
}

const CAP_SYS_ADMIN: u32 = 21;
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Clears CAP_SYS_ADMIN from the effective and permitted sets.
fn drop_sys_admin() -> std::io::Result<()> {
    let mut header = CapHeader { version: LINUX_CAPABILITY_VERSION_3, pid: 0 };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget/capset read and write exactly one header and two data structs (version 3),
    // which live on this stack frame for the duration of the calls.
    unsafe {
        if libc::syscall(libc::SYS_capget, &mut header as *mut CapHeader, data.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let bit = !(1u32 << CAP_SYS_ADMIN);
        data[0].effective &= bit;
        data[0].permitted &= bit;
        if libc::syscall(libc::SYS_capset, &mut header as *mut CapHeader, data.as_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Executor for BerthExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // SAFETY: restoring the default disposition installs no handler and touches no memory;
        // this runs single-threaded in the freshly cloned container process.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        if let Some(s) = &self.seccomp {
            match &s.bpf {
                Some(bpf) => super::seccomp_bpf::load(bpf).map_err(|e| ExecutorError::Other(format!("load seccomp program: {e}")))?,
                None => {
                    libcontainer::seccomp::initialize_seccomp(&s.filter).map_err(|e| ExecutorError::Other(format!("load seccomp filter: {e}")))?;
                }
            }
            // execve drops the lent capability anyway (it is in no set that survives it), so a
            // profile that refuses capset only leaves it until then.
            if s.drop_admin {
                let _ = drop_sys_admin();
            }
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
