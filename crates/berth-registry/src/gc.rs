//! Garbage collection: mark every blob reachable from a manifest revision, sweep the rest.
//!
//! Roots are all manifest revisions of all repositories (tagged or not). From each, the
//! config, layers, child manifests (recursively) and subject are marked. Unmarked blobs are
//! deleted, repository links to them dropped, and uploads and temp files older than an hour
//! removed. Like CNCF distribution's `garbage-collect`, run it while no push is in progress:
//! a blob uploaded but not yet referenced by a manifest counts as garbage.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::digest::Digest;
use crate::manifest::MAX_MANIFEST_BYTES;
use crate::storage::{Storage, StorageError, StorageResult};

/// Age after which an upload session or temp file is considered abandoned.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Why `gc` failed.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Reading or deleting failed.
    #[error("registry gc: {0}")]
    Storage(#[from] StorageError),
}

/// What `gc` found and did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct GcReport {
    /// True when nothing was deleted.
    pub dry_run: bool,
    /// Blobs reachable from some manifest.
    pub blobs_kept: usize,
    /// Unreachable blobs deleted.
    pub blobs_removed: usize,
    /// Bytes of those blobs.
    pub bytes_freed: u64,
    /// Repository links to deleted blobs dropped.
    pub links_removed: usize,
    /// Abandoned upload sessions deleted.
    pub uploads_removed: usize,
    /// Bytes of those uploads.
    pub upload_bytes_freed: u64,
    /// Leftover temp files deleted.
    pub temp_files_removed: usize,
}

/// Collects garbage under a registry root. With `dry_run`, only reports.
pub fn gc(root: &Path, dry_run: bool) -> Result<GcReport, GcError> {
    let storage = Storage::open_existing(root)?;
    let marked = mark(&storage)?;
    let mut report = GcReport { dry_run, ..GcReport::default() };
    let mut removed = HashSet::new();
    for blob in storage.all_blobs()? {
        if marked.contains(&blob) {
            report.blobs_kept += 1;
            continue;
        }
        report.blobs_removed += 1;
        report.bytes_freed += if dry_run { storage.blob_size(&blob)?.unwrap_or(0) } else { storage.delete_blob(&blob)? };
        removed.insert(blob);
    }
    for repo in storage.list_repositories()? {
        for linked in storage.linked_blobs(&repo)? {
            if removed.contains(&linked) || storage.blob_size(&linked)?.is_none() {
                report.links_removed += 1;
                if !dry_run {
                    storage.unlink_blob(&repo, &linked)?;
                }
            }
        }
    }
    sweep_uploads(&storage, dry_run, &mut report)?;
    tracing::info!(?report, "registry gc finished");
    Ok(report)
}

fn sweep_uploads(storage: &Storage, dry_run: bool, report: &mut GcReport) -> StorageResult<()> {
    for upload in storage.stale_uploads(STALE_AFTER)? {
        report.uploads_removed += 1;
        report.upload_bytes_freed += upload.bytes;
        if !dry_run {
            storage.remove_upload(&upload.id)?;
        }
    }
    for (path, _) in storage.stale_temp_files(STALE_AFTER)? {
        report.temp_files_removed += 1;
        if !dry_run {
            storage.remove_temp_file(&path)?;
        }
    }
    Ok(())
}

/// Every blob reachable from a manifest revision.
fn mark(storage: &Storage) -> StorageResult<HashSet<Digest>> {
    let mut marked = HashSet::new();
    let mut manifests: Vec<Digest> = Vec::new();
    for repo in storage.list_repositories()? {
        manifests.extend(storage.list_revisions(&repo)?);
    }
    while let Some(digest) = manifests.pop() {
        if !marked.insert(digest.clone()) {
            continue;
        }
        let Some(bytes) = storage.read_blob(&digest, MAX_MANIFEST_BYTES as u64)? else {
            continue;
        };
        let Ok(doc) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        for blob in descriptor_digests(&doc, &["config"], &["layers", "blobs"]) {
            marked.insert(blob);
        }
        manifests.extend(descriptor_digests(&doc, &["subject"], &["manifests"]));
    }
    Ok(marked)
}

/// Digests of the single descriptors under `one` and the descriptor arrays under `many`.
/// Read leniently: gc must not drop what a manifest points at because of an odd field.
fn descriptor_digests(doc: &Value, one: &[&str], many: &[&str]) -> Vec<Digest> {
    let single = one.iter().map(|k| &doc[*k]);
    let listed = many.iter().flat_map(|k| doc[*k].as_array().into_iter().flatten());
    single.chain(listed).filter_map(|d| d["digest"].as_str()).filter_map(|d| d.parse().ok()).collect()
}
