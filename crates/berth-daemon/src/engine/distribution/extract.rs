//! Unpacking a layer blob into the layer store (blocking), verified against the config's diff
//! id, and the rollback of layers a failed pull registered.

use std::io::Read;

use berth_image::layers::{CountingReader, LayerInfo};
use berth_image::{Digest, ImageError, ImageStore};

use super::progress::Throttle;
use crate::error::EngineError;

/// moby's wording for an unpacked layer that is not the one the config names.
pub const ROOTFS_MISMATCH: &str = "layers from manifest don't match image configuration";

/// Unpacks `blob` (gzip or plain tar, sniffed as dockerd does) on top of `parent`, refusing
/// anything whose uncompressed digest is not `diff_id` and anything `blob` fails to deliver to
/// its end (a follower of a download that did not verify). An uncompressed blob (its digest is
/// the diff id) is not hashed a second time: reading it to its end already proves it. Returns
/// the layer and whether this call registered it.
pub fn extract(
    images: &ImageStore,
    parent: Option<&Digest>,
    blob: impl Read,
    blob_digest: &Digest,
    diff_id: &Digest,
    throttle: Throttle,
) -> Result<(LayerInfo, bool), EngineError> {
    let chain = match parent {
        None => diff_id.clone(),
        Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
    };
    let existed = images.layers().exists(&chain);
    let mut throttle = throttle;
    // The blob's bytes read so far drive the `Extracting` progress.
    let counting = CountingReader::with_callback(std::io::BufReader::with_capacity(1 << 20, blob), move |n| throttle.update(n));
    let mismatch = |e| match e {
        ImageError::DigestMismatch { .. } => EngineError::Invalid(ROOTFS_MISMATCH.into()),
        e => EngineError::from(e),
    };
    let unpacked = if blob_digest == diff_id {
        images.layers().unpack_verified_elsewhere(counting, diff_id)
    } else {
        let tar = berth_image::import::decompress(counting).map_err(EngineError::from)?;
        images.layers().unpack(tar, Some(diff_id))
    }
    .map_err(mismatch)?;
    let info = images.layers().register(unpacked, parent).map_err(mismatch)?;
    Ok((info, !existed))
}

/// Removes layers a failed pull registered, newest first, unless an image uses them.
pub fn rollback(images: &ImageStore, created: &[Digest]) {
    // Without the image list nothing can be proven unused: keep everything.
    let Ok(all) = images.list() else { return };
    let used: std::collections::HashSet<&str> = all.iter().flat_map(|i| i.layers.iter().map(|l| l.chain_id.as_str())).collect();
    for chain in created.iter().rev() {
        if !used.contains(chain.as_str()) {
            images.layers().remove(chain);
        }
    }
}
