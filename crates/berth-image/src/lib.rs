//! berth-image: the content-addressed image store.
//!
//! - [`content`]: blobs by digest, written atomically and verified.
//! - [`layers`]: layers unpacked once (`layers/<chain-id>/diff`) and stacked with overlayfs.
//! - [`store`]: image records and tags in the metadata database ([`meta`]).
//! - [`reference`]: Docker's name normalisation; [`config`] and [`manifest`]: the formats.
//! - [`import`], [`archive`] (load), [`save`], [`commit`]: the ways images are made and leave;
//!   [`layer_tar`]: where a layer's tar comes from when it leaves the store.
//!
//! Invariants: a digest is always recomputed, never trusted; nothing half-written is ever
//! visible under its final name; unpacking never writes outside the layer dir (berth-archive).

pub mod archive;
pub mod commit;
pub mod config;
pub mod content;
pub mod digest;
pub mod error;
pub mod import;
pub mod layer_tar;
pub mod layers;
pub mod manifest;
pub mod meta;
pub mod mount;
pub mod reference;
pub mod save;
pub mod store;
#[cfg(test)]
mod test_util;

pub use digest::Digest;
pub use error::ImageError;
pub use reference::Reference;
pub use store::{ImageRecord, ImageStore, LayerRecord};

/// Now, as Docker writes times (RFC 3339, nanoseconds, UTC).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// `n` random bytes as hex, for temp names and ids.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The OS RNG does not fail on Linux once booted; a zeroed buffer only weakens temp names.
    let _ = getrandom::fill(&mut buf);
    hex::encode(buf)
}

/// A 26-character upper-case id for overlay short links, as overlay2 uses.
pub fn random_short_id() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut buf = [0u8; 26];
    let _ = getrandom::fill(&mut buf);
    buf.iter().map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char).collect()
}
