//! The layer pipeline of a pull: layers already unpacked are skipped (`Already exists`), the
//! others are downloaded three at a time (dockerd's default) and unpacked in order, each one
//! streamed from its download's file while the bytes arrive (see [`super::follow`]) as soon as
//! its parent is unpacked. On failure every download is stopped and what this pull unpacked is
//! removed; on success the blobs are committed to the content store.

use std::collections::HashMap;
use std::sync::Arc;

use berth_image::{Digest, LayerRecord};
use berth_registry::client::Repository;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::download::{download, TempBlob};
use super::extract::{extract, rollback};
use super::follow::{Feed, FinishOnDrop, Follower};
use super::manifest::ImageManifest;
use super::progress::{Progress, Throttle};
use crate::engine::Engine;
use crate::error::EngineError;

/// Parallel downloads of one pull (dockerd's `max-concurrent-downloads`).
pub const CONCURRENT_DOWNLOADS: usize = 3;

/// dockerd's per-layer id: the first 12 hex digits of the blob digest.
pub fn short_id(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

/// What the layer pipeline produced: records for the image, the layers it registered, and the
/// verified blobs still to commit.
pub struct PulledLayers {
    /// The image's layers, bottom first.
    pub records: Vec<LayerRecord>,
    /// Chain ids of the layers this pull registered.
    pub created: Vec<Digest>,
    /// Downloaded blobs, in the temp dir until committed.
    pub blobs: Vec<TempBlob>,
}

/// The downloads of one pull, by blob digest (a blob listed twice is fetched once).
struct Downloads {
    handles: Vec<JoinHandle<Result<TempBlob, EngineError>>>,
    /// Each download's temp file and feed, to unpack it as it arrives.
    files: Vec<(std::path::PathBuf, Arc<Feed>)>,
    by_digest: HashMap<Digest, usize>,
    done: HashMap<usize, TempBlob>,
}

impl Downloads {
    /// A reader of the blob's bytes as they arrive, and its feed.
    fn follow(&self, digest: &Digest) -> Result<(Follower, Arc<Feed>), EngineError> {
        let i = *self.by_digest.get(digest).ok_or_else(|| EngineError::Internal(format!("no download for {digest}")))?;
        let (path, feed) = self.files.get(i).ok_or_else(|| EngineError::Internal(format!("no download for {digest}")))?;
        Ok((feed.follow(path.clone()), feed.clone()))
    }

    async fn take(&mut self, digest: &Digest) -> Result<&TempBlob, EngineError> {
        let i = *self.by_digest.get(digest).ok_or_else(|| EngineError::Internal(format!("no download for {digest}")))?;
        if !self.done.contains_key(&i) {
            let h = self.handles.get_mut(i).ok_or_else(|| EngineError::Internal(format!("no download for {digest}")))?;
            let blob = h.await.map_err(|e| EngineError::internal("download task", e))??;
            self.done.insert(i, blob);
        }
        self.done.get(&i).ok_or_else(|| EngineError::Internal(format!("no download for {digest}")))
    }

    fn abort(&self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

impl Engine {
    fn start_downloads(&self, repo: &Repository, m: &ImageManifest, diff_ids: &[Digest], exists: &[bool], progress: &Progress) -> Downloads {
        let sem = Arc::new(Semaphore::new(CONCURRENT_DOWNLOADS));
        let mut d = Downloads { handles: Vec::new(), files: Vec::new(), by_digest: HashMap::new(), done: HashMap::new() };
        for ((layer, _), diff_id) in m.layers.iter().zip(exists).zip(diff_ids).filter(|((_, e), _)| !**e) {
            // An uncompressed blob is usually not kept (the layer gives its tar back): no
            // early fsync of what will be deleted.
            let early_sync = layer.digest != *diff_id;
            if d.by_digest.contains_key(&layer.digest) {
                continue;
            }
            let id = short_id(&layer.digest);
            if d.handles.len() >= CONCURRENT_DOWNLOADS {
                progress.layer(&id, "Waiting");
            }
            let (sem, repo, layer2, progress) = (sem.clone(), repo.clone(), layer.clone(), progress.clone());
            let tmp = self.images.content().temp_path("pull");
            let feed = Feed::new();
            d.by_digest.insert(layer.digest.clone(), d.handles.len());
            d.files.push((tmp.clone(), feed.clone()));
            d.handles.push(tokio::spawn(async move {
                let _guard = FinishOnDrop(feed.clone());
                let _permit = sem.acquire_owned().await.map_err(|e| EngineError::internal("download slot", e))?;
                download(repo, layer2, tmp, feed, progress, id, early_sync).await
            }));
        }
        d
    }

    /// Fetches and unpacks the layers of `m` whose uncompressed digests are `diff_ids`.
    pub(super) async fn pull_layers(
        &self,
        repo: &Repository,
        m: &ImageManifest,
        diff_ids: &[Digest],
        progress: &Progress,
    ) -> Result<PulledLayers, EngineError> {
        let chains = berth_image::digest::chain_ids(diff_ids);
        let exists: Vec<bool> = chains.iter().map(|c| self.images.layers().exists(c)).collect();
        for (layer, e) in m.layers.iter().zip(&exists) {
            progress.layer(&short_id(&layer.digest), if *e { "Already exists" } else { "Pulling fs layer" });
        }
        let mut downloads = self.start_downloads(repo, m, diff_ids, &exists, progress);
        let mut created = Vec::new();
        let result = self.unpack_in_order(m, diff_ids, &chains, &exists, &mut downloads, &mut created, progress).await;
        match result {
            Ok(records) => {
                // An uncompressed blob whose layer rebuilds it exactly is not kept: push and
                // save rebuild it. Compressed blobs are kept to push the same bytes.
                let images = &self.images;
                let needed = |b: &TempBlob| {
                    !records.iter().any(|r| {
                        r.blob == b.digest.as_str()
                            && r.diff_id == b.digest.as_str()
                            && Digest::parse(&r.chain_id).is_ok_and(|c| images.layers().rebuildable(&c))
                    })
                };
                let blobs = downloads.done.into_values().filter(needed).collect();
                Ok(PulledLayers { records, created, blobs })
            }
            Err(e) => {
                downloads.abort();
                self.rollback_layers(created).await;
                Err(e)
            }
        }
    }

    /// Removes the layers a failed pull registered (unless an image uses them).
    pub(super) async fn rollback_layers(&self, created: Vec<Digest>) {
        let images = self.images.clone();
        let _ = tokio::task::spawn_blocking(move || rollback(&images, &created)).await;
    }

    /// Unpacks one layer blob read from `blob` on a blocking thread.
    #[allow(clippy::too_many_arguments)]
    async fn extract_from(
        &self,
        blob: impl std::io::Read + Send + 'static,
        blob_digest: &Digest,
        parent: Option<Digest>,
        diff_id: &Digest,
        progress: &Progress,
        id: &str,
        size: u64,
    ) -> Result<(berth_image::layers::LayerInfo, bool), EngineError> {
        let (images, diff, blob_digest) = (self.images.clone(), diff_id.clone(), blob_digest.clone());
        let throttle = Throttle::new(progress.clone(), id, "Extracting", size);
        tokio::task::spawn_blocking(move || extract(&images, parent.as_ref(), blob, &blob_digest, &diff, throttle))
            .await
            .map_err(|e| EngineError::internal("extract task", e))?
    }

    #[allow(clippy::too_many_arguments)]
    async fn unpack_in_order(
        &self,
        m: &ImageManifest,
        diff_ids: &[Digest],
        chains: &[Digest],
        exists: &[bool],
        downloads: &mut Downloads,
        created: &mut Vec<Digest>,
        progress: &Progress,
    ) -> Result<Vec<LayerRecord>, EngineError> {
        let mut records = Vec::with_capacity(m.layers.len());
        for (i, layer) in m.layers.iter().enumerate() {
            let id = short_id(&layer.digest);
            let record = |size: u64| LayerRecord {
                chain_id: chains[i].to_string(),
                diff_id: diff_ids[i].to_string(),
                blob: layer.digest.to_string(),
                media_type: layer.media_type.clone(),
                blob_size: layer.size,
                size,
            };
            if exists[i] {
                let info = self.images.layers().info(&chains[i]).map_err(EngineError::from)?;
                records.push(record(info.size));
                continue;
            }
            if progress.closed() {
                return Err(EngineError::Invalid("pull cancelled: the client went away".into()));
            }
            let parent = i.checked_sub(1).map(|p| chains[p].clone());
            let (follower, feed) = downloads.follow(&layer.digest)?;
            let streamed = self.extract_from(follower, &layer.digest, parent.clone(), &diff_ids[i], progress, &id, layer.size).await;
            let (info, new) = match streamed {
                Ok(done) => {
                    downloads.take(&layer.digest).await?;
                    done
                }
                // The download's own error says more (verification failed, registry gone).
                Err(e) if feed.failed() => {
                    downloads.take(&layer.digest).await?;
                    return Err(e);
                }
                // The registry restarted the blob from byte 0: unpack again from the whole file.
                Err(_) if feed.restarted() => {
                    let path = downloads.take(&layer.digest).await?.path().to_path_buf();
                    let file = std::fs::File::open(&path).map_err(|e| EngineError::internal(&format!("open {}", path.display()), e))?;
                    self.extract_from(file, &layer.digest, parent, &diff_ids[i], progress, &id, layer.size).await?
                }
                Err(e) => return Err(e),
            };
            if new {
                created.push(info.chain_id.clone());
            }
            progress.layer(&id, "Pull complete");
            records.push(record(info.size));
        }
        Ok(records)
    }
}
