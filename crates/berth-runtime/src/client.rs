//! The daemon's side of the shim protocol, on tokio.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use crate::protocol::{self, FrameKind, Reply, Request};

/// Why talking to a shim failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connect to shim at {path}: {source}")]
    Connect { path: PathBuf, source: std::io::Error },
    #[error("shim connection: {0}")]
    Io(#[from] std::io::Error),
    #[error("shim protocol: {0}")]
    Protocol(String),
    #[error("shim closed the connection without answering")]
    Closed,
}

impl ClientError {
    /// Whether the shim is gone or going (its container has exited): nobody listens on its
    /// socket, or it closed the connection while shutting down.
    pub fn shim_gone(&self) -> bool {
        match self {
            ClientError::Connect { .. } | ClientError::Closed => true,
            ClientError::Io(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::UnexpectedEof),
            ClientError::Protocol(_) => false,
        }
    }
}

/// Sends one request to the shim at `socket` and returns its first reply.
pub async fn call(socket: &Path, req: &Request) -> Result<Reply, ClientError> {
    let mut conn = ShimConn::connect(socket).await?;
    conn.send_request(req).await?;
    conn.reply().await
}

/// A connection to a shim.
pub struct ShimConn {
    reader: FrameReader,
    writer: FrameWriter,
}

impl ShimConn {
    /// Connects to the shim's socket.
    pub async fn connect(socket: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(socket).await.map_err(|source| ClientError::Connect { path: socket.to_path_buf(), source })?;
        let (r, w) = stream.into_split();
        Ok(Self { reader: FrameReader { half: r, buf: Vec::new() }, writer: FrameWriter { half: w } })
    }

    /// Sends the connection's request.
    pub async fn send_request(&mut self, req: &Request) -> Result<(), ClientError> {
        self.writer.request(req).await
    }

    /// Reads frames until a JSON reply arrives.
    pub async fn reply(&mut self) -> Result<Reply, ClientError> {
        self.reader.reply().await
    }

    /// Splits into independently usable halves (output reading vs stdin writing).
    pub fn split(self) -> (FrameReader, FrameWriter) {
        (self.reader, self.writer)
    }
}

/// The reading half of a shim connection.
pub struct FrameReader {
    half: OwnedReadHalf,
    buf: Vec<u8>,
}

impl FrameReader {
    /// The next frame, or `None` when the shim closed the connection.
    pub async fn next(&mut self) -> Result<Option<(FrameKind, Vec<u8>)>, ClientError> {
        loop {
            match protocol::decode(&mut self.buf) {
                Ok(Some(frame)) => return Ok(Some(frame)),
                Ok(None) => {}
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            }
            let mut chunk = [0u8; 32 * 1024];
            let n = self.half.read(&mut chunk).await?;
            if n == 0 {
                return Ok(None);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads frames until a JSON reply arrives, skipping output.
    pub async fn reply(&mut self) -> Result<Reply, ClientError> {
        while let Some((kind, body)) = self.next().await? {
            if kind == FrameKind::Json {
                return serde_json::from_slice(&body).map_err(|e| ClientError::Protocol(e.to_string()));
            }
        }
        Err(ClientError::Closed)
    }
}

/// The writing half of a shim connection.
pub struct FrameWriter {
    half: OwnedWriteHalf,
}

impl FrameWriter {
    /// Sends a request frame.
    pub async fn request(&mut self, req: &Request) -> Result<(), ClientError> {
        let mut buf = Vec::new();
        protocol::encode_json(req, &mut buf);
        self.half.write_all(&buf).await?;
        Ok(())
    }

    /// Sends stdin bytes, in frames no larger than the protocol allows.
    pub async fn stdin(&mut self, data: &[u8]) -> Result<(), ClientError> {
        for chunk in data.chunks(64 * 1024) {
            let mut buf = Vec::with_capacity(chunk.len() + protocol::HEADER_LEN);
            protocol::encode(FrameKind::Stdin, chunk, &mut buf);
            self.half.write_all(&buf).await?;
        }
        Ok(())
    }

    /// Tells the shim no more stdin will come.
    pub async fn stdin_eof(&mut self) -> Result<(), ClientError> {
        let mut buf = Vec::new();
        protocol::encode(FrameKind::StdinEof, &[], &mut buf);
        self.half.write_all(&buf).await?;
        Ok(())
    }
}
