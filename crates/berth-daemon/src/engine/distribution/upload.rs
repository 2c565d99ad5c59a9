//! One layer of a push: skipped when the registry has it (`Layer already exists`), mounted
//! from another repository of the same registry when one is known to hold it (`Mounted from
//! …`), otherwise streamed from the content store (`Pushing`, `Pushed`), retried from the
//! start after a dropped connection.

use std::time::Duration;

use berth_image::content::ContentStore;
use berth_image::Digest;
use berth_registry::client::{streamed, MountOutcome, Repository};
use futures_util::StreamExt;

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
}

async fn stream_once(repo: &Repository, content: &ContentStore, blob: &PushBlob, location: Option<String>, progress: &Progress) -> Result<(), EngineError> {
    let location = match location {
        Some(l) => l,
        None => repo.start_upload().await.map_err(super::client_error)?,
    };
    let path = content.path(&blob.digest);
    let file = tokio::fs::File::open(&path).await.map_err(|e| EngineError::internal(&format!("open {}", path.display()), e))?;
    let mut throttle = Throttle::new(progress.clone(), &blob.id, "Pushing", blob.size);
    let mut sent = 0u64;
    let chunks = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map(move |chunk| {
        if let Ok(c) = &chunk {
            sent += c.len() as u64;
            throttle.update(sent);
        }
        chunk
    });
    repo.upload_blob(&location, blob.digest.as_str(), blob.size, streamed(chunks)).await.map_err(super::client_error)
}

/// Pushes one blob (the caller announced it as `Preparing`).
pub async fn push_blob(repo: Repository, content: ContentStore, blob: PushBlob, progress: Progress) -> Result<(), EngineError> {
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
        match stream_once(&repo, &content, &blob, location.take(), &progress).await {
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
