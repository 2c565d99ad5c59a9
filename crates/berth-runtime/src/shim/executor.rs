//! The executor libcontainer calls inside the container, right before `execve`.

#![allow(unsafe_code)]

use libcontainer::oci_spec::runtime::Spec;
use libcontainer::workload::default::DefaultExecutor;
use libcontainer::workload::{Executor, ExecutorError, ExecutorValidationError};

/// Runs the container's process like libcontainer's default executor, after undoing what the
/// shim's own runtime set up: Rust ignores SIGPIPE in every program, and an ignored signal stays
/// ignored across `execve`, so without this `yes | head` would never end inside a container.
#[derive(Clone)]
pub struct BerthExecutor;

impl Executor for BerthExecutor {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        // SAFETY: restoring the default disposition installs no handler and touches no memory;
        // this runs single-threaded in the freshly cloned container process.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
        DefaultExecutor {}.exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        DefaultExecutor {}.validate(spec)
    }
}
