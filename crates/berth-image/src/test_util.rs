//! Helpers the unit tests of this crate share: a store in a temp dir and small layer tars.

use std::path::Path;
use std::sync::Arc;

use crate::meta::MetaDb;
use crate::store::ImageStore;

/// A store under `dir` (database and root beside each other).
pub fn open_store(dir: &Path) -> ImageStore {
    let meta = Arc::new(MetaDb::open(&dir.join("db")).unwrap_or_else(|e| panic!("{e}")));
    ImageStore::open(&dir.join("root"), meta).unwrap_or_else(|e| panic!("{e}"))
}

/// A store in a fresh temp dir, which must outlive it.
pub fn store() -> (tempfile::TempDir, ImageStore) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = open_store(dir.path());
    (dir, store)
}

/// A tar of regular files (mode 0644, fixed mtime).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap_or_else(|e| panic!("{e}"));
    }
    b.into_inner().unwrap_or_else(|e| panic!("{e}"))
}
