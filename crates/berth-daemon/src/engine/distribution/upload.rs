//! One layer of a push: skipped when the registry has it (`Layer already exists`), mounted
//! from another repository of the same registry when one is known to hold it (`Mounted from
//! …`), otherwise streamed from the content store or rebuilt from the unpacked layer
//! (`Pushing`, `Pushed`), retried from the start after a dropped connection.

use std::io::Write;
use std::time::Duration;

use berth_image::content::ContentStore;
use berth_image::layers::LayerStore;
use berth_image::Digest;
use berth_registry::client::{streamed, MountOutcome, Repository};
use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::progress::{Progress, Throttle};
use crate::error::EngineError;

/// Upload attempts of one blob.
const ATTEMPTS: u32 = 3;

/// A blob to push.
#[derive(Debug, Clone, PartialEq)]
pub struct PushBlob {
    /// Its digest.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type in the manifest.
    pub media_type: String,
    /// The id progress is shown under (dockerd: the diff id's first 12 hex digits).
    pub id: String,
    /// Other repositories of the same registry that may hold it (mount sources).
    pub sources: Vec<String>,
    /// Where its bytes come from.
    pub from: BlobSource,
}

/// Where the bytes of a pushed blob come from.
#[derive(Debug, Clone, PartialEq)]
pub enum BlobSource {
    /// The content store holds the blob.
    Content,
    /// The tar of this layer (chain id), rebuilt from its unpacked tree; its digest is the
    /// layer's diff id.
    Layer(Digest),
}

/// Chunks of a layer tar being rebuilt: sent as they fill, the last one only once the whole
/// tar matched the layer's diff id, so a registry never receives a complete wrong blob.
struct ChunkSender {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 1 << 20;

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() >= CHUNK {
            let full = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.tx.blocking_send(Ok(Bytes::from(full))).map_err(|_| std::io::Error::other("upload stopped"))?;
        }
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    /// Sends nothing: the held chunk goes out only after verification.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The rebuilt tar of layer `chain` as a stream of chunks.
fn rebuilt(layers: LayerStore, chain: Digest) -> BoxStream<'static, std::io::Result<Bytes>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkSender { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let last = match layers.write_tar(&chain, &mut out) {
            Ok(_) => Ok(Bytes::from(std::mem::take(&mut out.buf))),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        let _ = tx.blocking_send(last);
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

async fn stream_once(
    repo: &Repository,
    stores: &(ContentStore, LayerStore),
    blob: &PushBlob,
    location: Option<String>,
    progress: &Progress,
) -> Result<(), EngineError> {
    let location = match location {
        Some(l) => l,
        None => repo.start_upload().await.map_err(super::client_error)?,
    };
    let source = match &blob.from {
        BlobSource::Content => {
            let path = stores.0.path(&blob.digest);
            let file = tokio::fs::File::open(&path).await.map_err(|e| EngineError::internal(&format!("open {}", path.display()), e))?;
            tokio_util::io::ReaderStream::with_capacity(file, CHUNK).boxed()
        }
        BlobSource::Layer(chain) => rebuilt(stores.1.clone(), chain.clone()),
    };
    let mut throttle = Throttle::new(progress.clone(), &blob.id, "Pushing", blob.size);
    let mut sent = 0u64;
    let chunks = source.map(move |chunk| {
        if let Ok(c) = &chunk {
            sent += c.len() as u64;
            throttle.update(sent);
        }
        chunk
    });
    repo.upload_blob(&location, blob.digest.as_str(), blob.size, streamed(chunks)).await.map_err(super::client_error)
}

/// Pushes one blob (the caller announced it as `Preparing`).
pub async fn push_blob(repo: Repository, stores: (ContentStore, LayerStore), blob: PushBlob, progress: Progress) -> Result<(), EngineError> {
    if repo.blob_size(blob.digest.as_str()).await.map_err(super::client_error)?.is_some() {
        progress.layer(&blob.id, "Layer already exists");
        return Ok(());
    }
    let mut location = None;
    for from in &blob.sources {
        match repo.mount_blob(blob.digest.as_str(), from).await {
            Ok(MountOutcome::Mounted) => {
                progress.layer(&blob.id, &format!("Mounted from {from}"));
                return Ok(());
            }
            Ok(MountOutcome::Upload(l)) => {
                location = Some(l);
                break;
            }
            Err(e) => tracing::debug!(from = %from, error = %e, "cross-repository mount refused"),
        }
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match stream_once(&repo, &stores, &blob, location.take(), &progress).await {
            Ok(()) => break,
            Err(e) if attempt < ATTEMPTS && !progress.closed() => {
                tracing::info!(digest = %blob.digest, error = %e, attempt, "blob upload failed, retrying");
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e),
        }
    }
    progress.layer(&blob.id, "Pushed");
    Ok(())
}
