//! One blob download: streamed from the registry into a temp file of the store (hashing on a
//! blocking thread as it is written), resumed with a `Range` request when the connection
//! drops, and verified against the manifest's digest and size. What is written is published
//! on a [`Feed`] so the layer can be unpacked while it downloads; the feed ends well only for
//! a verified blob. Nothing reaches the content store here: the caller commits the
//! [`TempBlob`] once the whole image is good.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_image::content::ContentStore;
use berth_image::Digest;
use berth_registry::client::Repository;
use bytes::Bytes;
use http_body_util::BodyExt;
use sha2::Digest as _;
use tokio::sync::mpsc;

use super::follow::Feed;
use super::manifest::LayerDesc;
use super::progress::{Progress, Throttle};
use crate::error::EngineError;

/// Attempts that made no progress before a download gives up.
const MAX_FAILURES: u32 = 5;
/// Attempts of any kind before a download gives up.
const MAX_ATTEMPTS: u32 = 20;
/// How long a registry may stay silent in the middle of a blob.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A verified blob in the store's temp dir, removed on drop unless committed. With an early
/// sync its fsync runs in the background (overlapping the layer's extraction); otherwise
/// [`TempBlob::commit`] syncs it, and a blob never committed is never written to disk at all.
pub struct TempBlob {
    path: PathBuf,
    /// The blob's digest (verified).
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    sync: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    file: Option<std::fs::File>,
}

impl TempBlob {
    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the blob into the content store once its fsync is done. It was hashed as it was
    /// written, so this is the content store's own verify-fsync-rename sequence.
    pub async fn commit(mut self, content: &ContentStore) -> Result<(), EngineError> {
        if self.sync.is_none() {
            if let Some(file) = self.file.take() {
                self.sync = Some(tokio::task::spawn_blocking(move || file.sync_all()));
            }
        }
        if let Some(sync) = self.sync.take() {
            sync.await
                .map_err(|e| EngineError::internal("blob fsync task", e))?
                .map_err(|e| EngineError::internal(&format!("fsync blob {}", self.digest), e))?;
        }
        if content.contains(&self.digest) {
            return Ok(());
        }
        let dest = content.path(&self.digest);
        std::fs::rename(&self.path, &dest).map_err(|e| EngineError::internal(&format!("store blob {}", self.digest), e))?;
        content.sync_dir().map_err(EngineError::from)
    }
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What the writer thread is told.
enum Chunk {
    Data(Bytes),
    /// The registry restarted from byte 0: start the file and the hash over.
    Restart,
}

/// Writes the chunks to `path`, publishing progress on `feed`, and verifies the result
/// against `want` before ending the feed.
fn write_blob(path: &Path, mut rx: mpsc::Receiver<Chunk>, feed: &Feed, want: &LayerDesc) -> std::io::Result<(Digest, u64, std::fs::File)> {
    let mut file = std::fs::File::create(path)?;
    let mut hasher = sha2::Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = rx.blocking_recv() {
        match chunk {
            Chunk::Data(b) => {
                file.write_all(&b)?;
                hasher.update(&b);
                size += b.len() as u64;
                feed.advance(size);
            }
            Chunk::Restart => {
                file.set_len(0)?;
                file.rewind()?;
                hasher = sha2::Sha256::new();
                size = 0;
                feed.restart();
            }
        }
    }
    let digest = Digest::from_hasher(hasher);
    if digest == want.digest && size == want.size {
        feed.finish(Ok(()));
    } else {
        feed.finish(Err(verification_failed(&want.digest).to_string()));
    }
    Ok((digest, size, file))
}

/// The moby wording for a blob whose bytes are not what the manifest says.
pub fn verification_failed(digest: &Digest) -> EngineError {
    EngineError::Invalid(format!("filesystem layer verification failed for digest {digest}"))
}

/// How one attempt ended.
enum Attempt {
    /// The body ended (complete or short).
    Ended,
    /// The connection failed; resume.
    Dropped(String),
}

/// Streams one response body into the writer; `written` counts what was handed over.
async fn stream_body(
    mut body: hyper::body::Incoming,
    layer: &LayerDesc,
    written: &mut u64,
    tx: &mpsc::Sender<Chunk>,
    throttle: &mut Throttle,
    progress: &Progress,
) -> Result<Attempt, EngineError> {
    loop {
        if progress.closed() {
            return Err(EngineError::Invalid("pull cancelled: the client went away".into()));
        }
        let frame = match tokio::time::timeout(IDLE_TIMEOUT, body.frame()).await {
            Err(_) => return Ok(Attempt::Dropped("no data for 60s".into())),
            Ok(None) => return Ok(Attempt::Ended),
            Ok(Some(Err(e))) => return Ok(Attempt::Dropped(e.to_string())),
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else { continue };
        *written += data.len() as u64;
        if *written > layer.size {
            return Err(verification_failed(&layer.digest));
        }
        if tx.send(Chunk::Data(data)).await.is_err() {
            return Err(EngineError::Internal(format!("writing blob {}: the writer stopped", layer.digest)));
        }
        throttle.update(*written);
    }
}

/// Fetches the blob, resuming after dropped connections, into the writer.
async fn fetch(repo: &Repository, layer: &LayerDesc, tx: &mpsc::Sender<Chunk>, progress: &Progress, id: &str) -> Result<(), EngineError> {
    let mut throttle = Throttle::new(progress.clone(), id, "Downloading", layer.size);
    let mut written = 0u64;
    let (mut failures, mut attempts) = (0, 0);
    loop {
        let before = written;
        let outcome = match repo.get_blob(layer.digest.as_str(), written).await {
            Ok(resp) => {
                if resp.offset == 0 && written > 0 {
                    written = 0;
                    let _ = tx.send(Chunk::Restart).await;
                }
                if resp.offset == 0 && resp.total.is_some_and(|t| t != layer.size) {
                    return Err(verification_failed(&layer.digest));
                }
                stream_body(resp.body, layer, &mut written, tx, &mut throttle, progress).await?
            }
            Err(e) if e.is_transport() => Attempt::Dropped(e.to_string()),
            Err(e) => return Err(super::client_error(e)),
        };
        let reason = match outcome {
            Attempt::Ended if written == layer.size => return Ok(()),
            Attempt::Ended => format!("connection closed after {written} of {} bytes", layer.size),
            Attempt::Dropped(why) => why,
        };
        attempts += 1;
        if written == before {
            failures += 1;
        }
        if failures >= MAX_FAILURES || attempts >= MAX_ATTEMPTS {
            return Err(EngineError::Internal(format!("downloading {}: {reason}", layer.digest)));
        }
        tracing::info!(digest = %layer.digest, written, %reason, "blob download interrupted, resuming");
        tokio::time::sleep(Duration::from_millis(200 * u64::from(failures.max(1)))).await;
    }
}

/// Downloads `layer` into `tmp` and verifies it, publishing on `feed`; progress under `id`.
/// With `early_sync` the blob's fsync starts as soon as it is verified (for blobs that will be
/// kept); otherwise only a commit syncs it.
pub async fn download(
    repo: Repository,
    layer: LayerDesc,
    tmp: PathBuf,
    feed: std::sync::Arc<Feed>,
    progress: Progress,
    id: String,
    early_sync: bool,
) -> Result<TempBlob, EngineError> {
    // Owns the temp file from now on: any early return removes it.
    let mut blob = TempBlob { path: tmp.clone(), digest: layer.digest.clone(), size: layer.size, sync: None, file: None };
    let (tx, rx) = mpsc::channel(64);
    let want = layer.clone();
    let writer = tokio::task::spawn_blocking(move || {
        let written = write_blob(&tmp, rx, &feed, &want);
        if let Err(e) = &written {
            feed.finish(Err(format!("writing blob {}: {e}", want.digest)));
        }
        written
    });
    let fetched = fetch(&repo, &layer, &tx, &progress, &id).await;
    drop(tx);
    let written = writer.await.map_err(|e| EngineError::internal("blob writer", e))?;
    fetched?;
    let (digest, size, file) = written.map_err(|e| EngineError::internal(&format!("writing blob {}", layer.digest), e))?;
    progress.layer(&id, "Verifying Checksum");
    if digest != layer.digest || size != layer.size {
        return Err(verification_failed(&layer.digest));
    }
    progress.layer(&id, "Download complete");
    blob.size = size;
    if early_sync {
        blob.sync = Some(tokio::task::spawn_blocking(move || file.sync_all()));
    } else {
        blob.file = Some(file);
    }
    Ok(blob)
}
