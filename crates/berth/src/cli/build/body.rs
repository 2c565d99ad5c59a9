//! A request body written by a blocking producer (the context tar writer) on its own thread
//! while the request is sent, instead of a whole tar built in memory first. The producer's
//! error ends the body with an error, so the daemon sees an aborted upload rather than a
//! short tar, and the CLI reports the producer's own message.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use berth_api::client::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::{mpsc, oneshot};

use crate::cli::error::{CliError, Result};

/// Size of the pieces handed to the connection.
const PIECE: usize = 256 << 10;
/// Pieces in flight.
const QUEUE: usize = 8;

/// What the producer did: bytes written and how it ended.
pub struct Sent {
    bytes: Arc<AtomicU64>,
    done: tokio::sync::Mutex<Option<oneshot::Receiver<Result<()>>>>,
}

impl Sent {
    /// A body that was complete from the start.
    pub fn done(bytes: u64) -> Self {
        Self { bytes: Arc::new(AtomicU64::new(bytes)), done: tokio::sync::Mutex::new(None) }
    }

    /// Bytes produced.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Waits for the producer; its error if it failed.
    pub async fn result(&self) -> Result<()> {
        let Some(rx) = self.done.lock().await.take() else {
            return Ok(());
        };
        rx.await.unwrap_or_else(|_| Err(CliError::msg("build context writer stopped")))
    }
}

/// A body fed by `produce`, run on a new thread with a writer into the body.
pub fn stream(produce: impl FnOnce(&mut dyn Write) -> Result<()> + Send + 'static) -> (Body, Sent) {
    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
    let (done_tx, done_rx) = oneshot::channel();
    let bytes = Arc::new(AtomicU64::new(0));
    let counter = bytes.clone();
    std::thread::spawn(move || {
        let mut w = ChanWriter { tx: tx.clone(), buf: Vec::with_capacity(PIECE), bytes: counter };
        let result = produce(&mut w).and_then(|_| w.flush().map_err(CliError::from));
        if let Err(e) = &result {
            let _ = tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
        let _ = done_tx.send(result);
    });
    (ChannelBody { rx }.boxed(), Sent { bytes, done: tokio::sync::Mutex::new(Some(done_rx)) })
}

struct ChanWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
    bytes: Arc<AtomicU64>,
}

impl Write for ChanWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(PIECE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == PIECE {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.buf, Vec::with_capacity(PIECE));
        self.bytes.fetch_add(piece.len() as u64, Ordering::Relaxed);
        self.tx.blocking_send(Ok(Bytes::from(piece))).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the daemon stopped reading the build context"))
    }
}

struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<std::result::Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx).map(|item| item.map(|r| r.map(Frame::data)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bodies_carry_what_was_written_or_the_error() {
        let (body, sent) = stream(|w| {
            w.write_all(&vec![7u8; PIECE + 10])?;
            Ok(())
        });
        let data = body.collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        assert_eq!(data.len(), PIECE + 10);
        assert!(sent.result().await.is_ok());
        assert_eq!(sent.bytes(), (PIECE + 10) as u64);
        let (body, sent) = stream(|w| {
            w.write_all(b"abc")?;
            Err(CliError::msg("can't stat 'x'"))
        });
        assert!(body.collect().await.is_err());
        assert!(sent.result().await.is_err_and(|e| e.to_string().contains("can't stat")));
    }
}
