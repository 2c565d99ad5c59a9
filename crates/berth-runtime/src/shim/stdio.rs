//! The container side and the shim side of a process's stdio: pipes, or a pty whose master
//! libcontainer hands back over a console socket.

use std::fs::File;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use super::logfile::Stream;

/// The fds libcontainer installs as the process's 0, 1 and 2.
pub struct ChildStdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// What the shim keeps: where to write stdin and where to read output.
pub struct ShimStdio {
    pub stdin: Option<File>,
    pub outputs: Vec<(Stream, File)>,
    /// The pty master, for resizing, when the process has a terminal.
    pub pty: Option<File>,
}

/// Marks `fd` non-blocking so the event loop never stalls on it.
pub fn set_nonblocking(fd: RawFd) -> std::io::Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL).map_err(std::io::Error::from)?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd, FcntlArg::F_SETFL(flags)).map_err(std::io::Error::from)?;
    Ok(())
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(std::io::Error::from)
}

/// Pipes for a process without a terminal; stdin is `/dev/null` unless `open_stdin`.
pub fn pipes(open_stdin: bool) -> std::io::Result<(ChildStdio, ShimStdio)> {
    let (stdin_child, stdin_shim) = if open_stdin {
        let (r, w) = pipe()?;
        set_nonblocking(w.as_raw_fd())?;
        (r, Some(File::from(w)))
    } else {
        (OwnedFd::from(File::open("/dev/null")?), None)
    };
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    set_nonblocking(out_r.as_raw_fd())?;
    set_nonblocking(err_r.as_raw_fd())?;
    Ok((
        ChildStdio { stdin: stdin_child, stdout: out_w, stderr: err_w },
        ShimStdio { stdin: stdin_shim, outputs: vec![(Stream::Stdout, File::from(out_r)), (Stream::Stderr, File::from(err_r))], pty: None },
    ))
}

/// A listening socket libcontainer connects to and sends the pty master over.
pub struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ConsoleSocket {
    /// Listens at `path` (removing a stale socket left by a previous run).
    pub fn bind(path: &Path) -> std::io::Result<Self> {
        let _ = std::fs::remove_file(path);
        Ok(Self { listener: UnixListener::bind(path)?, path: path.to_path_buf() })
    }

    /// Where libcontainer must connect.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the pty master libcontainer sent, waiting at most `timeout_ms`.
    pub fn receive(self, timeout_ms: u16) -> std::io::Result<ShimStdio> {
        let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&self.listener), PollFlags::POLLIN)];
        let ready = poll(&mut fds, PollTimeout::from(timeout_ms)).map_err(std::io::Error::from)?;
        if ready == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no pty from runtime"));
        }
        let (conn, _) = self.listener.accept()?;
        let master = receive_fd(conn.as_raw_fd())?;
        let _ = std::fs::remove_file(&self.path);
        set_nonblocking(master.as_raw_fd())?;
        let reader = File::from(master.try_clone()?);
        let writer = File::from(master.try_clone()?);
        Ok(ShimStdio { stdin: Some(writer), outputs: vec![(Stream::Stdout, reader)], pty: Some(File::from(master)) })
    }
}

#[allow(unsafe_code)]
fn receive_fd(sock: RawFd) -> std::io::Result<OwnedFd> {
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).map_err(std::io::Error::from)?;
    for cmsg in msg.cmsgs().map_err(std::io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor in our table for us; nothing
                // else refers to it, so taking ownership is sound.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "console socket sent no fd"))
}
