//! Moving blob bytes between HTTP bodies and files without holding a blob in memory.
//!
//! Both directions hand the file work to one blocking thread per transfer and exchange
//! 1 MiB buffers with it over a bounded channel, so network and disk overlap and memory per
//! transfer stays at a few megabytes whatever the blob size.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;

/// Size of the buffers moved between the network and the disk.
const CHUNK: usize = 1 << 20;
/// Buffers in flight per transfer.
const DEPTH: usize = 4;

/// What happened while appending a request body to a file.
pub(crate) struct Pumped {
    /// The hash of everything the file held before plus everything written.
    pub(crate) hasher: Sha256,
    /// Bytes appended.
    pub(crate) written: u64,
    /// A write failure: the file may hold a partial buffer past `written`.
    pub(crate) io_error: Option<io::Error>,
    /// The body ended abnormally (client gone, bad framing); what arrived was written.
    pub(crate) body_error: Option<String>,
}

/// Appends `body` to `file`, feeding exactly the written bytes to `hasher`.
pub(crate) async fn pump_body(body: Body, file: File, hasher: Sha256) -> io::Result<Pumped> {
    let (tx, rx) = mpsc::channel::<Bytes>(DEPTH);
    let writer = tokio::task::spawn_blocking(move || write_loop(rx, file, hasher));
    let mut stream = body.into_data_stream();
    let mut buf = BytesMut::with_capacity(CHUNK);
    let mut body_error = None;
    while let Some(frame) = stream.next().await {
        match frame {
            Ok(bytes) => buf.extend_from_slice(&bytes),
            Err(e) => {
                body_error = Some(e.to_string());
                break;
            }
        }
        if buf.len() >= CHUNK {
            if tx.send(buf.split().freeze()).await.is_err() {
                break; // the writer failed; its error is reported below
            }
            buf.reserve(CHUNK);
        }
    }
    if !buf.is_empty() {
        let _ = tx.send(buf.freeze()).await;
    }
    drop(tx);
    let mut pumped = writer.await.map_err(io::Error::other)?;
    pumped.body_error = body_error;
    Ok(pumped)
}

fn write_loop(mut rx: mpsc::Receiver<Bytes>, mut file: File, mut hasher: Sha256) -> Pumped {
    let mut written = 0u64;
    while let Some(buf) = rx.blocking_recv() {
        if let Err(e) = file.write_all(&buf) {
            return Pumped { hasher, written, io_error: Some(e), body_error: None };
        }
        hasher.update(&buf);
        written += buf.len() as u64;
    }
    Pumped { hasher, written, io_error: None, body_error: None }
}

/// Hashes a whole file (resuming an upload whose running hash was lost with a restart).
pub(crate) fn hash_file(mut file: File) -> io::Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok((hasher, total));
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

/// A response body streaming `len` bytes of `file` from `offset`.
///
/// If the file turns out shorter than `len` the body ends with an error, so the client sees
/// an aborted transfer rather than a silently short blob.
pub(crate) fn file_body(file: File, offset: u64, len: u64) -> Body {
    let (tx, rx) = mpsc::channel(DEPTH);
    tokio::task::spawn_blocking(move || read_loop(file, offset, len, tx));
    Body::from_stream(ChannelStream(rx))
}

fn read_loop(mut file: File, offset: u64, len: u64, tx: mpsc::Sender<io::Result<Bytes>>) {
    if let Err(e) = file.seek(SeekFrom::Start(offset)) {
        let _ = tx.blocking_send(Err(e));
        return;
    }
    // One allocation for the whole transfer: each chunk is split off it, and once the
    // connection has sent a chunk its memory is reclaimed by `reserve`, so there is no
    // allocation, zeroing or page faulting per chunk.
    let mut pool = BytesMut::with_capacity(CHUNK * (DEPTH + 2));
    let mut remaining = len;
    while remaining > 0 {
        let want = remaining.min(CHUNK as u64) as usize;
        pool.reserve(want);
        if pool.len() < want {
            pool.resize(want, 0);
        }
        let result = match file.read(&mut pool[..want]) {
            Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "blob shorter than recorded")),
            Ok(n) => {
                remaining -= n as u64;
                let chunk = pool.split_to(n).freeze();
                Ok(chunk)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
        let failed = result.is_err();
        if tx.blocking_send(result).is_err() || failed {
            return; // client went away, or the error has been passed on
        }
    }
}

struct ChannelStream(mpsc::Receiver<io::Result<Bytes>>);

impl Stream for ChannelStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pump_appends_and_hashes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, b"ab").expect("write");
        let file = std::fs::OpenOptions::new().append(true).open(&path).expect("open");
        let mut hasher = Sha256::new();
        hasher.update(b"ab");
        let data = vec![7u8; 3 * CHUNK + 5];
        let pumped = pump_body(Body::from(data.clone()), file, hasher).await.expect("pump");
        assert_eq!(pumped.written, data.len() as u64);
        assert!(pumped.io_error.is_none() && pumped.body_error.is_none());
        let mut all = b"ab".to_vec();
        all.extend_from_slice(&data);
        assert_eq!(std::fs::read(&path).expect("read"), all);
        let (rehash, n) = hash_file(File::open(&path).expect("open")).expect("hash");
        assert_eq!(n, all.len() as u64);
        assert_eq!(rehash.finalize(), pumped.hasher.finalize());
    }

    #[tokio::test]
    async fn file_body_streams_a_range_and_errors_when_short() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..(2 * CHUNK + 10)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let body = file_body(File::open(&path).expect("open"), 5, (CHUNK + 3) as u64);
        let got = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        assert_eq!(&got[..], &data[5..5 + CHUNK + 3]);
        let short = file_body(File::open(&path).expect("open"), 0, data.len() as u64 + 1);
        assert!(axum::body::to_bytes(short, usize::MAX).await.is_err());
    }
}
