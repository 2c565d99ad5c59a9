//! The build cache: a table in the metadata database from a content-addressed step key to the
//! intermediate image that step produced.
//!
//! A key is the sha256 of the parent image id, the step as recorded in history (after
//! expansion: `ENV A=1`, `|1 V=2 /bin/sh -c make`, `COPY file:<sha256> in /app/`) and any
//! extra inputs the history line leaves out (resolved `ARG` values). Copied files enter
//! through their checksums, so an unchanged rebuild finds every step and a changed file
//! misses from its `COPY` on, which then changes every later parent id. Entries whose image
//! was deleted (or no longer has that parent) are misses; they are overwritten on the next
//! store and dropped by `POST /build/prune`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use berth_image::meta::Table;
use berth_image::{Digest, ImageRecord};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::EngineError;

/// Step key (hex) → [`CacheEntry`].
pub const BUILD_CACHE: Table = TableDefinition::new("build_cache");

/// Version of the key derivation; bump it when what goes into a key changes.
const KEY_VERSION: &str = "berth-build-cache/2";

/// What a key points at.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The image the step produced.
    pub image: String,
    /// Its parent (the step's input), checked on lookup.
    pub parent: String,
}

/// A step's cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of a step: `parent` image id (`""` for `scratch`), the history line, and
    /// extra inputs. Fields are length-prefixed so no two inputs share a key.
    pub fn new(parent: &str, created_by: &str, extra: &[&str]) -> Self {
        let mut buf = Vec::new();
        for part in [KEY_VERSION, parent, created_by].iter().chain(extra) {
            buf.extend_from_slice(&(part.len() as u64).to_le_bytes());
            buf.extend_from_slice(part.as_bytes());
        }
        Self(Digest::of(&buf).hex().to_string())
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Cache entries a build recorded, written in one transaction when the build ends (one
/// database sync per build instead of one per step; an entry lost to a crash only costs a
/// rebuild of that step). Lookups see them at once.
#[derive(Clone, Default)]
pub struct Pending(Arc<Mutex<BTreeMap<String, CacheEntry>>>);

impl Pending {
    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, CacheEntry>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `key` from `parent` produced `image`.
    pub fn record(&self, key: &CacheKey, parent: &str, image: &str) {
        self.entries().insert(key.as_str().to_string(), CacheEntry { image: image.to_string(), parent: parent.to_string() });
    }
}

impl Engine {
    /// The image a previous step (of this build, or recorded by an earlier one) made for
    /// `key` from `parent`, if it still exists.
    pub(crate) fn cache_lookup(&self, key: &CacheKey, parent: &str, pending: &Pending) -> Result<Option<ImageRecord>, EngineError> {
        let recorded = pending.entries().get(key.as_str()).cloned();
        let entry = match recorded {
            Some(e) => e,
            None => match self.meta.get::<CacheEntry>(BUILD_CACHE, key.as_str())? {
                Some(e) => e,
                None => return Ok(None),
            },
        };
        if entry.parent != parent {
            return Ok(None);
        }
        Ok(self.images.get(&entry.image)?.filter(|img| img.parent == parent))
    }

    /// Writes the entries `pending` holds, in one transaction.
    pub(crate) fn cache_flush(&self, pending: &Pending) -> Result<(), EngineError> {
        let entries = std::mem::take(&mut *pending.entries());
        if entries.is_empty() {
            return Ok(());
        }
        self.meta.write(|txn| -> Result<(), EngineError> {
            for (key, entry) in &entries {
                berth_image::meta::put_in(txn, BUILD_CACHE, key, entry)?;
            }
            Ok(())
        })
    }

    /// `POST /build/prune`: forgets every cache entry; returns the keys dropped. The
    /// intermediate images stay (they are ordinary images: `docker image prune` removes
    /// the dangling ones).
    pub fn prune_build_cache(&self) -> Result<Vec<String>, EngineError> {
        let keys: Vec<String> = self.meta.list::<CacheEntry>(BUILD_CACHE)?.into_iter().map(|(k, _)| k).collect();
        self.meta.write(|txn| -> Result<(), EngineError> {
            for k in &keys {
                berth_image::meta::delete_in(txn, BUILD_CACHE, k)?;
            }
            Ok(())
        })?;
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_their_inputs() {
        let a = CacheKey::new("sha256:p", "ENV A=1", &[]);
        assert_eq!(a, CacheKey::new("sha256:p", "ENV A=1", &[]));
        assert_ne!(a, CacheKey::new("sha256:q", "ENV A=1", &[]));
        assert_ne!(a, CacheKey::new("sha256:p", "ENV A=2", &[]));
        assert_ne!(CacheKey::new("p", "ab", &["c"]), CacheKey::new("p", "a", &["bc"]));
        assert_eq!(a.as_str().len(), 64);
    }
}
