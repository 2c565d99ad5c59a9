//! Upload sessions on disk: `uploads/<uuid>/{data,startedat,repository}`.
//!
//! `data` only ever grows by appends of received bytes; it leaves this directory only by a
//! rename into `blobs/` after its digest has been verified, so a partial upload can never be
//! served.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::fsutil;
use super::{Storage, StorageError, StorageResult};
use crate::names::RepoName;

/// An upload session id: a random UUID (version 4 layout), safe as a directory name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// Validates an id taken from a URL: `8-4-4-4-12` lowercase hex.
    pub fn parse(s: &str) -> Option<Self> {
        let groups: Vec<&str> = s.split('-').collect();
        let lens = [8, 4, 4, 4, 12];
        let ok = groups.len() == lens.len() && groups.iter().zip(lens).all(|(g, n)| g.len() == n && g.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        ok.then(|| Self(s.to_owned()))
    }

    fn random() -> StorageResult<Self> {
        let hex = fsutil::random_hex()?;
        let mut bytes = hex.into_bytes();
        bytes[12] = b'4';
        bytes[16] = [b'8', b'9', b'a', b'b'][usize::from(bytes[16] % 4)];
        let hex = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Self(format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])))
    }

    /// The id text, as used in `Location` and `Docker-Upload-UUID`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stale upload found by `gc`.
#[derive(Debug)]
pub(crate) struct StaleUpload {
    pub(crate) id: UploadId,
    pub(crate) bytes: u64,
}

impl Storage {
    fn upload_dir(&self, id: &UploadId) -> PathBuf {
        self.uploads_dir().join(id.as_str())
    }

    /// The file that accumulates an upload's bytes.
    pub(crate) fn upload_data_path(&self, id: &UploadId) -> PathBuf {
        self.upload_dir(id).join("data")
    }

    /// Starts a session for `name`: an empty data file plus its start time and repository.
    pub(crate) fn create_upload(&self, name: &RepoName) -> StorageResult<UploadId> {
        let id = UploadId::random()?;
        let dir = self.upload_dir(&id);
        fs::create_dir_all(&dir).map_err(|e| StorageError::io("create", &dir, e))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let tmp = self.tmp_dir();
        fsutil::write_atomic(&tmp, &dir.join("startedat"), now.to_string().as_bytes())?;
        fsutil::write_atomic(&tmp, &dir.join("repository"), name.as_str().as_bytes())?;
        let data = self.upload_data_path(&id);
        File::create(&data).map_err(|e| StorageError::io("create", &data, e))?;
        Ok(id)
    }

    /// The repository a session belongs to; `None` when the session does not exist.
    pub(crate) fn upload_repository(&self, id: &UploadId) -> StorageResult<Option<String>> {
        let bytes = fsutil::read_small(&self.upload_dir(id).join("repository"), 1024)?;
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Opens the session's data file for appending, with its current length.
    pub(crate) fn open_upload_data(&self, id: &UploadId) -> StorageResult<(File, u64)> {
        let path = self.upload_data_path(id);
        let file = OpenOptions::new().append(true).open(&path).map_err(|e| StorageError::io("open", &path, e))?;
        let len = file.metadata().map_err(|e| StorageError::io("stat", &path, e))?.len();
        Ok((file, len))
    }

    /// Discards a session and its data; returns whether it existed.
    pub(crate) fn remove_upload(&self, id: &UploadId) -> StorageResult<bool> {
        fsutil::remove_dir_all(&self.upload_dir(id))
    }

    /// Sessions started more than `max_age` ago (or with an unreadable start time).
    pub(crate) fn stale_uploads(&self, max_age: Duration) -> StorageResult<Vec<StaleUpload>> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let mut stale = Vec::new();
        for name in fsutil::list_dir(&self.uploads_dir())? {
            let Some(id) = UploadId::parse(&name) else {
                continue;
            };
            let started = fsutil::read_small(&self.upload_dir(&id).join("startedat"), 64)?.and_then(|b| String::from_utf8_lossy(&b).trim().parse::<u64>().ok());
            if started.is_some_and(|t| now.saturating_sub(t) < max_age.as_secs()) {
                continue;
            }
            let bytes = fs::metadata(self.upload_data_path(&id)).map_or(0, |m| m.len());
            stale.push(StaleUpload { id, bytes });
        }
        Ok(stale)
    }

    /// Temp files older than `max_age`, left behind by interrupted atomic writes.
    pub(crate) fn stale_temp_files(&self, max_age: Duration) -> StorageResult<Vec<(PathBuf, u64)>> {
        let dir = self.tmp_dir();
        let mut stale = Vec::new();
        for name in fsutil::list_dir(&dir)? {
            let path = dir.join(name);
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            let old = meta.modified().ok().and_then(|m| m.elapsed().ok()).is_some_and(|age| age >= max_age);
            if old && meta.is_file() {
                stale.push((path, meta.len()));
            }
        }
        Ok(stale)
    }

    /// Removes a temp file found by [`Storage::stale_temp_files`]; refuses paths elsewhere.
    pub(crate) fn remove_temp_file(&self, path: &std::path::Path) -> StorageResult<bool> {
        if path.parent() != Some(self.tmp_dir().as_path()) {
            return Ok(false);
        }
        fsutil::remove_file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_parse_back() {
        let id = UploadId::random().expect("random");
        assert_eq!(id.as_str().len(), 36);
        assert_eq!(UploadId::parse(id.as_str()), Some(id));
        for bad in ["", "../x", "0000000-0000-0000-0000-000000000000", "ZZZZZZZZ-0000-0000-0000-000000000000"] {
            assert!(UploadId::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn session_lifecycle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(dir.path()).expect("open");
        let name = RepoName::parse("a/b").expect("name");
        let id = s.create_upload(&name).expect("create");
        assert_eq!(s.upload_repository(&id).expect("repo").as_deref(), Some("a/b"));
        assert_eq!(s.open_upload_data(&id).expect("open").1, 0);
        assert!(s.stale_uploads(Duration::from_secs(3600)).expect("stale").is_empty());
        assert_eq!(s.stale_uploads(Duration::ZERO).expect("stale").len(), 1);
        assert!(s.remove_upload(&id).expect("remove"));
        assert!(s.upload_repository(&id).expect("repo").is_none());
    }
}
