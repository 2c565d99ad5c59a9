//! `docker import`: a root filesystem tar (plain, gzip or zstd) becomes a one-layer image.

use std::io::{BufRead, BufReader, Read};

use crate::config::{History, ImageConfig};
use crate::error::ImageError;
use crate::manifest::{Compression, MEDIA_OCI_LAYER};
use crate::store::{ImageRecord, ImageStore, LayerRecord};

/// Wraps `reader` in the decompressor its first bytes call for.
pub fn decompress<'a>(reader: impl Read + 'a) -> Result<Box<dyn Read + 'a>, ImageError> {
    let mut buffered = BufReader::with_capacity(256 * 1024, reader);
    let head = buffered.fill_buf().map_err(|e| ImageError::io(std::path::Path::new("-"), e))?;
    Ok(match Compression::sniff(head) {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(buffered)),
        Compression::Zstd => return Err(ImageError::Invalid("zstd-compressed archives are not supported yet".into())),
        Compression::None => Box::new(buffered),
    })
}

impl ImageStore {
    /// Imports a rootfs tar as a new image. `edit` applies `--change` instructions and the
    /// comment to the config before it is stored.
    pub fn import(&self, reader: impl Read, edit: impl FnOnce(&mut ImageConfig)) -> Result<ImageRecord, ImageError> {
        let tar = decompress(reader)?;
        // The layer is hashed once, for its diff id, which is also the digest of this blob.
        // No copy of the tar is kept: the layer gives it back (its blob is named by the diff id).
        let unpacked = self.layers().unpack(tar, None)?;
        crate::archive::require_rebuildable(&unpacked)?;
        let info = self.layers().register(unpacked, None)?;
        let (blob_digest, blob_size) = (info.diff_id.clone(), info.size);
        let mut config = ImageConfig::new_for_host();
        config.rootfs.diff_ids = vec![info.diff_id.to_string()];
        config.history = vec![History { created: config.created.clone(), created_by: String::new(), comment: "Imported from -".into(), ..Default::default() }];
        edit(&mut config);
        let bytes = serde_json::to_vec(&config).map_err(|e| ImageError::Invalid(e.to_string()))?;
        let layer = LayerRecord {
            chain_id: info.chain_id.to_string(),
            diff_id: info.diff_id.to_string(),
            blob: blob_digest.to_string(),
            media_type: MEDIA_OCI_LAYER.to_string(),
            blob_size,
            size: info.size,
        };
        self.create_image(&bytes, vec![layer], None, "")
    }
}
