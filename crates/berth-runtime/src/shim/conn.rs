//! One client connection to the shim, with its buffered input and output.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use crate::protocol::{self, FrameKind, Reply};

/// Output buffered for a client beyond this pauses reading the process it follows.
pub const OUT_HIGH_WATER: usize = 4 << 20;

/// What a connection is for, decided by its first request.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// No request yet.
    New,
    /// Follows the main process's output, optionally feeding its stdin.
    Attach { stdin: bool, stdout: bool, stderr: bool },
    /// Owns exec `id`: its output goes here, this client's stdin goes there.
    Exec(String),
    /// Waits for the main process to exit.
    Wait,
    /// Answered; closes once flushed.
    Done,
}

/// A connected client.
pub struct Conn {
    stream: UnixStream,
    pub inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    pub role: Role,
    /// Close once everything queued has been written.
    pub closing: bool,
    /// The client shut down its sending side; it may still read.
    pub read_closed: bool,
}

impl Conn {
    /// Wraps an accepted, non-blocking stream.
    pub fn new(stream: UnixStream) -> Self {
        Self { stream, inbuf: Vec::new(), outbuf: Vec::new(), role: Role::New, closing: false, read_closed: false }
    }

    /// The stream, for polling.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Reads what the client sent; `Ok(false)` when it closed its end.
    pub fn fill(&mut self) -> std::io::Result<bool> {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.inbuf.extend_from_slice(&buf[..n]);
                    if self.inbuf.len() > protocol::MAX_FRAME * 2 {
                        return Ok(true);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Queues a frame.
    pub fn send(&mut self, kind: FrameKind, payload: &[u8]) {
        protocol::encode(kind, payload, &mut self.outbuf);
    }

    /// Queues a reply.
    pub fn reply(&mut self, reply: &Reply) {
        protocol::encode_json(reply, &mut self.outbuf);
    }

    /// Queues a reply and marks the connection for closing.
    pub fn finish(&mut self, reply: &Reply) {
        self.reply(reply);
        self.role = Role::Done;
        self.closing = true;
    }

    /// Whether output is waiting to be written.
    pub fn wants_write(&self) -> bool {
        !self.outbuf.is_empty()
    }

    /// Whether the client is too far behind to be sent more process output.
    pub fn congested(&self) -> bool {
        self.outbuf.len() > OUT_HIGH_WATER
    }

    /// Writes as much as the socket takes; an error means the client is gone.
    pub fn flush(&mut self) -> std::io::Result<()> {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the connection has nothing left to do.
    pub fn done(&self) -> bool {
        self.closing && self.outbuf.is_empty()
    }
}
