//! A supervised process (the container's init or an exec): its pid, a pidfd that becomes
//! readable when it exits, and its stdio as the shim sees it.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

use super::logfile::Stream;
use super::stdio::ShimStdio;
use crate::status::ExitStatus;

/// Stdin bytes buffered beyond this stop being accepted from clients until the process reads.
pub const STDIN_HIGH_WATER: usize = 1 << 20;

/// One output fd of a process.
pub struct Output {
    pub stream: Stream,
    pub file: File,
    /// Cleared at EOF; closed outputs are pruned after each poll round.
    pub open: bool,
}

/// One supervised process.
pub struct Process {
    pub pid: i32,
    pub pidfd: Option<OwnedFd>,
    pub outputs: Vec<Output>,
    pub stdin: Option<File>,
    pub stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is drained.
    pub stdin_close_pending: bool,
    pub pty: Option<File>,
    pub exit: Option<ExitStatus>,
}

/// The result of reading one output fd.
pub enum ReadOutcome {
    Data(Vec<u8>),
    WouldBlock,
    Eof,
}

impl Process {
    /// Wraps a started process and its stdio.
    pub fn new(pid: i32, stdio: ShimStdio) -> Self {
        let pidfd = rustix::process::Pid::from_raw(pid).and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
        Self {
            pid,
            pidfd,
            outputs: stdio.outputs.into_iter().map(|(stream, file)| Output { stream, file, open: true }).collect(),
            stdin: stdio.stdin,
            stdin_buf: Vec::new(),
            stdin_close_pending: false,
            pty: stdio.pty,
            exit: None,
        }
    }

    /// Whether the process has exited and all its output has been read.
    pub fn finished(&self) -> bool {
        self.exit.is_some() && self.outputs.is_empty()
    }

    /// Reads what output fd `idx` holds now.
    pub fn read_output(&mut self, idx: usize) -> ReadOutcome {
        let Some(Output { file, .. }) = self.outputs.get_mut(idx) else { return ReadOutcome::Eof };
        let mut buf = vec![0u8; 32 * 1024];
        match file.read(&mut buf) {
            Ok(0) => ReadOutcome::Eof,
            Ok(n) => {
                buf.truncate(n);
                ReadOutcome::Data(buf)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => ReadOutcome::WouldBlock,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => ReadOutcome::WouldBlock,
            // EIO is how a pty master reports that every slave is closed.
            Err(_) => ReadOutcome::Eof,
        }
    }

    /// Queues bytes for the process's stdin (dropped if it has none).
    pub fn queue_stdin(&mut self, data: &[u8]) {
        if self.stdin.is_some() && !self.stdin_close_pending {
            self.stdin_buf.extend_from_slice(data);
            self.flush_stdin();
        }
    }

    /// Closes stdin once everything queued has been written. With a pty, sends EOF (^D) instead:
    /// the master stays open for output.
    pub fn close_stdin(&mut self) {
        if self.pty.is_some() {
            self.queue_stdin(&[4]);
            return;
        }
        self.stdin_close_pending = true;
        self.flush_stdin();
    }

    /// Writes as much queued stdin as the pipe takes now.
    pub fn flush_stdin(&mut self) {
        let Some(stdin) = self.stdin.as_mut() else {
            self.stdin_buf.clear();
            return;
        };
        while !self.stdin_buf.is_empty() {
            match stdin.write(&self.stdin_buf) {
                Ok(0) => break,
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    // The reader is gone (EPIPE): nothing more can be delivered.
                    self.stdin_buf.clear();
                    self.stdin = None;
                    return;
                }
            }
        }
        if self.stdin_close_pending {
            self.stdin = None;
        }
    }

    /// Whether stdin has bytes waiting for the pipe to drain.
    pub fn stdin_blocked(&self) -> bool {
        self.stdin.is_some() && !self.stdin_buf.is_empty()
    }

    /// The pidfd, for polling.
    pub fn pidfd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.pidfd.as_ref().map(|f| f.as_fd())
    }

    /// Sets the pty's window size.
    pub fn resize(&self, height: u16, width: u16) -> std::io::Result<()> {
        let Some(pty) = self.pty.as_ref() else { return Ok(()) };
        let size = rustix::termios::Winsize { ws_row: height, ws_col: width, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(pty, size).map_err(std::io::Error::from)
    }
}
