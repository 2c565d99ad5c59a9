//! The framing spoken on a shim's unix socket.
//!
//! Every message is a frame: one kind byte, a big-endian u32 payload length, then the payload.
//! A connection starts with one [`Request`] from the client; what follows depends on it (a single
//! [`Reply`] for control requests, a stream of output frames for attach and exec). Frames keep the
//! shim's event loop simple: it never has to guess where a JSON value ends.

use serde::{Deserialize, Serialize};

use crate::status::ExitStatus;

/// Largest payload either side accepts; bigger frames mean a confused or hostile peer.
pub const MAX_FRAME: usize = 1 << 20;

/// Size of the frame header (kind + length).
pub const HEADER_LEN: usize = 5;

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// A JSON [`Request`] or [`Reply`].
    Json = 1,
    /// Bytes the process wrote to stdout (or the pty).
    Stdout = 2,
    /// Bytes the process wrote to stderr.
    Stderr = 3,
    /// Bytes for the process's stdin.
    Stdin = 4,
    /// The client has no more stdin; the shim closes the process's stdin.
    StdinEof = 5,
}

impl FrameKind {
    /// Decodes a kind byte; unknown kinds are a protocol error.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Json,
            2 => Self::Stdout,
            3 => Self::Stderr,
            4 => Self::Stdin,
            5 => Self::StdinEof,
            _ => return None,
        })
    }
}

/// A request, always the first frame a client sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Start the created container's process.
    Start,
    /// Answer with the main process's [`ExitStatus`] once it has exited.
    Wait,
    /// Stream the main process's output; accept stdin frames when `stdin` is set.
    Attach { stdin: bool, stdout: bool, stderr: bool },
    /// Run the process described by the OCI process JSON at `process` inside the container,
    /// then stream its output and end with an [`Reply::Exited`].
    Exec { id: String, process: std::path::PathBuf, tty: bool, stdin: bool },
    /// Resize the pty of the main process (`exec: None`) or of an exec.
    Resize { exec: Option<String>, height: u16, width: u16 },
    /// Send a signal to the main process, or to every process of the container.
    Kill { signal: i32, all: bool },
    /// Send a signal to exec `id` (a health check past its timeout). A separate request, not a
    /// field of `Kill`: a shim that predates it must refuse it, not signal the main process.
    KillExec { id: String, signal: i32 },
    /// Freeze every process of the container.
    Pause,
    /// Thaw a paused container.
    Resume,
    /// Report the shim's view of the container.
    State,
}

/// The shim's answer to a request.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The request was carried out.
    Ok,
    /// The request failed; the message is meant for users.
    Error { message: String },
    /// An exec was started with this host pid.
    Started { pid: i32 },
    /// The process exited.
    Exited(ExitStatus),
    /// The shim's view of the container.
    State(ShimState),
}

/// What a shim knows about its container.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ShimState {
    /// Host pid of the container's init process.
    pub pid: i32,
    /// `created`, `running`, `paused` or `stopped`.
    pub status: String,
    /// Set once the init process has exited.
    pub exit: Option<ExitStatus>,
}

/// Encodes one frame into `out`.
pub fn encode(kind: FrameKind, payload: &[u8], out: &mut Vec<u8>) {
    out.push(kind as u8);
    // Payloads are bounded by MAX_FRAME (or by pipe reads well under it).
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Encodes a JSON frame.
pub fn encode_json<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    // Serializing our own enums cannot fail: they hold only strings, numbers and paths.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    encode(FrameKind::Json, &body, out);
}

/// Why a frame could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FrameError {
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// Tries to take one complete frame off the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed; on success the frame's bytes are removed from
/// `buf`.
pub fn decode(buf: &mut Vec<u8>) -> Result<Option<(FrameKind, Vec<u8>)>, FrameError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let kind = FrameKind::from_byte(buf[0]).ok_or(FrameError::UnknownKind(buf[0]))?;
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let payload = buf[HEADER_LEN..HEADER_LEN + len].to_vec();
    buf.drain(..HEADER_LEN + len);
    Ok(Some((kind, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_more_bytes() {
        let mut buf = Vec::new();
        encode_json(&Request::Kill { signal: 15, all: false }, &mut buf);
        encode(FrameKind::Stdin, b"hello", &mut buf);
        let mut partial = buf[..3].to_vec();
        assert_eq!(decode(&mut partial), Ok(None));

        let (kind, body) = decode(&mut buf).unwrap().unwrap();
        assert_eq!(kind, FrameKind::Json);
        let req: Request = serde_json::from_slice(&body).unwrap();
        assert_eq!(req, Request::Kill { signal: 15, all: false });
        assert_eq!(decode(&mut buf), Ok(Some((FrameKind::Stdin, b"hello".to_vec()))));
        assert!(buf.is_empty());
    }

    #[test]
    fn hostile_frames_are_rejected() {
        let mut buf = vec![9, 0, 0, 0, 0];
        assert_eq!(decode(&mut buf), Err(FrameError::UnknownKind(9)));
        let mut buf = vec![1, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(decode(&mut buf), Err(FrameError::TooLarge(_))));
    }
}
