//! Request bodies read by blocking code (an archive being loaded, imported or copied into a
//! container).

use axum::body::Body;
use bytes::Bytes;
use futures_util::StreamExt;

/// Body bytes handed to the reading thread at a time, at most: what the connection has
/// already received, so one wake-up of the reader covers many small chunks (the docker CLI
/// sends 32 KiB chunks).
const BATCH: usize = 1 << 20;

/// A blocking reader over an async request body (an archive being loaded, imported or
/// extracted by `cp`), for sync code. One task forwards the body's chunks in batches through a
/// bounded channel; a broken body is an error, never an early end.
pub fn body_reader(body: Body) -> BodyReader {
    use futures_util::FutureExt;
    // Sixteen batches (each at least one chunk the connection read) keep the socket drained
    // while the reader stalls briefly on the disk.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<Bytes>>>(16);
    tokio::spawn(async move {
        let mut stream = body.into_data_stream();
        let mut ended = false;
        while !ended {
            let mut next = stream.next().await;
            let (mut batch, mut size, mut failed) = (Vec::new(), 0, None);
            // Take what is ready without waiting, up to BATCH.
            loop {
                match next {
                    None => {
                        ended = true;
                        break;
                    }
                    Some(Ok(b)) => {
                        size += b.len();
                        if !b.is_empty() {
                            batch.push(b);
                        }
                    }
                    Some(Err(e)) => {
                        failed = Some(std::io::Error::other(e));
                        break;
                    }
                }
                if size >= BATCH {
                    break;
                }
                match stream.next().now_or_never() {
                    Some(item) => next = item,
                    None => break,
                }
            }
            if !batch.is_empty() && tx.send(Ok(batch)).await.is_err() {
                return;
            }
            if let Some(e) = failed {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    });
    BodyReader { rx, batch: std::collections::VecDeque::new() }
}

/// See [`body_reader`].
pub struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<Vec<Bytes>>>,
    batch: std::collections::VecDeque<Bytes>,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.batch.front_mut() {
                Some(b) if b.is_empty() => {
                    self.batch.pop_front();
                }
                Some(b) => {
                    let n = out.len().min(b.len());
                    out[..n].copy_from_slice(&b[..n]);
                    bytes::Buf::advance(b, n);
                    return Ok(n);
                }
                None => match self.rx.blocking_recv() {
                    Some(Ok(batch)) => self.batch = batch.into(),
                    Some(Err(e)) => return Err(e),
                    None => return Ok(0),
                },
            }
        }
    }
}
