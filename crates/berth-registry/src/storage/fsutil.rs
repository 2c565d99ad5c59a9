//! Durable file operations: atomic replace, durable rename, bounded reads.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use super::{StorageError, StorageResult};

/// A random 128-bit name, hex encoded, for temp files and upload ids.
pub(crate) fn random_hex() -> StorageResult<String> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf).map_err(|e| StorageError::Io { op: "getrandom", path: "/dev/urandom".into(), source: io::Error::other(e.to_string()) })?;
    Ok(hex::encode(buf))
}

/// Replaces `path` with `bytes` atomically: write a temp file in `tmp_dir`, fsync it, rename it
/// over `path`, fsync the directory. Readers see the old content or the new, never a mix.
pub(crate) fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> StorageResult<()> {
    let tmp = tmp_dir.join(random_hex()?);
    let result = (|| {
        let mut file = File::create(&tmp).map_err(|e| StorageError::io("create", &tmp, e))?;
        file.write_all(bytes).map_err(|e| StorageError::io("write", &tmp, e))?;
        file.sync_all().map_err(|e| StorageError::io("fsync", &tmp, e))?;
        rename_durable(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Renames `from` to `to` (creating `to`'s parent) and fsyncs the destination directory.
pub(crate) fn rename_durable(from: &Path, to: &Path) -> StorageResult<()> {
    let parent = to.parent().ok_or_else(|| StorageError::Corrupt { path: to.to_owned(), reason: "no parent directory".into() })?;
    fs::create_dir_all(parent).map_err(|e| StorageError::io("create", parent, e))?;
    fs::rename(from, to).map_err(|e| StorageError::io("rename", to, e))?;
    sync_dir(parent)
}

/// Fsyncs a directory so a rename or unlink inside it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> StorageResult<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| StorageError::io("fsync", dir, e))
}

/// Reads a small file whole; `None` if it does not exist, an error if it exceeds `limit`.
pub(crate) fn read_small(path: &Path, limit: u64) -> StorageResult<Option<Vec<u8>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("open", path, e)),
    };
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(|e| StorageError::io("read", path, e))?;
    if bytes.len() as u64 > limit {
        return Err(StorageError::Corrupt { path: path.to_owned(), reason: format!("larger than {limit} bytes") });
    }
    Ok(Some(bytes))
}

/// Removes a file; returns whether it existed.
pub(crate) fn remove_file(path: &Path) -> StorageResult<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StorageError::io("remove", path, e)),
    }
}

/// Removes a directory tree; returns whether it existed.
pub(crate) fn remove_dir_all(path: &Path) -> StorageResult<bool> {
    match fs::remove_dir_all(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StorageError::io("remove", path, e)),
    }
}

/// Lists the entry names of a directory; an absent directory lists as empty. Names that are
/// not UTF-8 are skipped: nothing this registry writes has one.
pub(crate) fn list_dir(dir: &Path) -> StorageResult<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(it) => it,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::io("list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("list", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().expect("tempdir");
        let tmp = dir.path().join("tmp");
        fs::create_dir(&tmp).expect("mkdir");
        let target = dir.path().join("a/b/file");
        write_atomic(&tmp, &target, b"one").expect("write");
        write_atomic(&tmp, &target, b"two").expect("write");
        assert_eq!(fs::read(&target).expect("read"), b"two");
        assert!(list_dir(&tmp).expect("list").is_empty());
    }

    #[test]
    fn read_small_limits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        assert!(read_small(&p, 4).expect("absent").is_none());
        fs::write(&p, b"12345").expect("write");
        assert!(read_small(&p, 4).is_err());
        assert_eq!(read_small(&p, 5).expect("read").as_deref(), Some(&b"12345"[..]));
    }
}
