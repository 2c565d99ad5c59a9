//! Live upload sessions: the running hash and offset of each upload, one writer at a time.
//!
//! The data itself lives on disk ([`crate::storage`]); this table keeps the sha256 state so
//! bytes are hashed as they stream in and never read back. A session missing from the table
//! (after a restart) is reloaded from disk by hashing what was received so far, so uploads are
//! resumable across restarts. Each session sits behind an async mutex held for a whole request,
//! which serialises concurrent PATCHes to one upload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use sha2::Sha256;
use tokio::sync::OwnedMutexGuard;

use crate::digest::Digest;
use crate::errors::ApiError;
use crate::names::RepoName;
use crate::storage::{Storage, StorageError, UploadId};
use crate::stream;
use crate::task::blocking;

/// Table size above which idle sessions are dropped from memory (they stay on disk).
const EVICT_ABOVE: usize = 1024;
/// How long a session must be idle before it can be dropped from memory.
const IDLE: Duration = Duration::from_secs(3600);

/// One upload in progress.
pub(crate) struct Session {
    /// The session id.
    pub(crate) id: UploadId,
    /// Bytes received so far; the data file is exactly this long.
    pub(crate) offset: u64,
    repo: RepoName,
    hasher: Sha256,
    last_used: Instant,
}

/// A point to roll a session back to when a chunk turns out to be unacceptable.
pub(crate) struct Checkpoint {
    offset: u64,
    hasher: Sha256,
}

enum Slot {
    Unloaded,
    Live(Session),
    Ended,
}

/// Exclusive access to one session for the duration of a request.
pub(crate) struct SessionGuard {
    slot: OwnedMutexGuard<Slot>,
}

impl SessionGuard {
    /// The live session; an error when it was ended by a request that held it before us.
    pub(crate) fn live(&mut self) -> Result<&mut Session, ApiError> {
        match &mut *self.slot {
            Slot::Live(s) => Ok(s),
            _ => Err(ApiError::BlobUploadUnknown("upload ended".into())),
        }
    }
}

/// All sessions this process knows about.
#[derive(Default)]
pub(crate) struct Sessions {
    slots: Mutex<HashMap<UploadId, Arc<tokio::sync::Mutex<Slot>>>>,
}

impl Sessions {
    /// Starts a new upload into `name`.
    pub(crate) async fn create(&self, storage: &Storage, name: &RepoName) -> Result<SessionGuard, ApiError> {
        let (s, n) = (storage.clone(), name.clone());
        let id = blocking(move || s.create_upload(&n)).await?;
        let session = Session { id: id.clone(), offset: 0, repo: name.clone(), hasher: Sha256::default(), last_used: Instant::now() };
        let slot = Arc::new(tokio::sync::Mutex::new(Slot::Live(session)));
        let guard = slot.clone().lock_owned().await;
        let mut slots = self.slots.lock().map_err(|_| ApiError::Internal("session table poisoned".into()))?;
        if slots.len() > EVICT_ABOVE {
            evict_idle(&mut slots);
        }
        slots.insert(id, slot);
        Ok(SessionGuard { slot: guard })
    }

    /// Opens an existing upload of `name` by the id from its URL, loading it from disk if this
    /// process has not seen it (or has forgotten it).
    pub(crate) async fn open(&self, storage: &Storage, name: &RepoName, id: &str) -> Result<SessionGuard, ApiError> {
        let unknown = || ApiError::BlobUploadUnknown(id.to_owned());
        let id = UploadId::parse(id).ok_or_else(unknown)?;
        let slot = {
            let mut slots = self.slots.lock().map_err(|_| ApiError::Internal("session table poisoned".into()))?;
            slots.entry(id.clone()).or_insert_with(|| Arc::new(tokio::sync::Mutex::new(Slot::Unloaded))).clone()
        };
        let mut guard = SessionGuard { slot: slot.lock_owned().await };
        if matches!(*guard.slot, Slot::Unloaded) {
            match load(storage, &id).await? {
                Some(session) => *guard.slot = Slot::Live(session),
                None => {
                    *guard.slot = Slot::Ended;
                    self.forget(&id);
                }
            }
        }
        let session = guard.live().map_err(|_| unknown())?;
        if &session.repo != name {
            return Err(unknown());
        }
        session.last_used = Instant::now();
        Ok(guard)
    }

    /// Ends a session (finished or cancelled): later requests for it get `BLOB_UPLOAD_UNKNOWN`.
    pub(crate) fn end(&self, mut guard: SessionGuard) {
        if let Slot::Live(s) = std::mem::replace(&mut *guard.slot, Slot::Ended) {
            self.forget(&s.id);
        }
    }

    fn forget(&self, id: &UploadId) {
        if let Ok(mut slots) = self.slots.lock() {
            slots.remove(id);
        }
    }
}

fn evict_idle(slots: &mut HashMap<UploadId, Arc<tokio::sync::Mutex<Slot>>>) {
    slots.retain(|_, slot| match slot.try_lock() {
        Ok(s) => matches!(&*s, Slot::Live(live) if live.last_used.elapsed() < IDLE),
        Err(_) => true,
    });
}

/// Rebuilds a session from disk: its repository, and the hash of the bytes received so far.
async fn load(storage: &Storage, id: &UploadId) -> Result<Option<Session>, ApiError> {
    let (s, i) = (storage.clone(), id.clone());
    let loaded = blocking(move || {
        let Some(repo) = s.upload_repository(&i)? else {
            return Ok(None);
        };
        let path = s.upload_data_path(&i);
        let file = std::fs::File::open(&path).map_err(|e| StorageError::io("open", &path, e))?;
        let (hasher, offset) = stream::hash_file(file).map_err(|e| StorageError::io("read", &path, e))?;
        Ok(Some((repo, hasher, offset)))
    })
    .await?;
    let Some((repo, hasher, offset)) = loaded else {
        return Ok(None);
    };
    let Ok(repo) = RepoName::parse(&repo) else {
        return Ok(None);
    };
    Ok(Some(Session { id: id.clone(), offset, repo, hasher, last_used: Instant::now() }))
}

impl Session {
    /// Remembers the current state so a rejected chunk can be undone.
    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint { offset: self.offset, hasher: self.hasher.clone() }
    }

    /// Undoes everything appended since `cp`.
    pub(crate) async fn rollback(&mut self, storage: &Storage, cp: Checkpoint) -> Result<(), ApiError> {
        let path = storage.upload_data_path(&self.id);
        let len = cp.offset;
        blocking(move || {
            let file = std::fs::OpenOptions::new().write(true).open(&path).map_err(|e| StorageError::io("open", &path, e))?;
            file.set_len(len).map_err(|e| StorageError::io("truncate", &path, e))
        })
        .await?;
        self.offset = cp.offset;
        self.hasher = cp.hasher;
        Ok(())
    }

    /// Appends a request body to the upload, hashing it as it streams. Bytes that arrived
    /// before a client disconnect are kept, so the client can resume from the new offset.
    pub(crate) async fn append(&mut self, storage: &Storage, body: Body) -> Result<u64, ApiError> {
        let (s, id) = (storage.clone(), self.id.clone());
        let (file, len) = blocking(move || s.open_upload_data(&id)).await?;
        if len != self.offset {
            // The file and our state disagree (a crash mid-write): trust neither, rehash.
            let reloaded = load(storage, &self.id).await?.ok_or_else(|| ApiError::BlobUploadUnknown(self.id.to_string()))?;
            self.offset = reloaded.offset;
            self.hasher = reloaded.hasher;
        }
        let cp = self.checkpoint();
        let pumped = stream::pump_body(body, file, self.hasher.clone()).await.map_err(|e| ApiError::Internal(format!("upload writer: {e}")))?;
        if let Some(e) = pumped.io_error {
            self.rollback(storage, cp).await?;
            let path = storage.upload_data_path(&self.id);
            return Err(StorageError::io("write", &path, e).into());
        }
        self.offset += pumped.written;
        self.hasher = pumped.hasher;
        self.last_used = Instant::now();
        match pumped.body_error {
            Some(e) => Err(ApiError::Body(e)),
            None => Ok(pumped.written),
        }
    }

    /// Verifies the upload against `expected` and, only if it matches, moves the synced data
    /// into the blob store and links it into the repository. On a mismatch the upload is
    /// discarded and nothing is stored.
    pub(crate) async fn commit(&mut self, storage: &Storage, expected: &Digest) -> Result<(), ApiError> {
        let computed = Digest::from_hasher(self.hasher.clone());
        let (s, id, repo) = (storage.clone(), self.id.clone(), self.repo.clone());
        if &computed != expected {
            blocking(move || s.remove_upload(&id)).await?;
            return Err(ApiError::DigestMismatch { expected: expected.to_string(), computed });
        }
        blocking(move || {
            let data = s.upload_data_path(&id);
            std::fs::File::open(&data).and_then(|f| f.sync_all()).map_err(|e| StorageError::io("fsync", &data, e))?;
            s.commit_blob_file(&data, &computed)?;
            s.link_blob(&repo, &computed)?;
            s.remove_upload(&id).map(|_| ())
        })
        .await
    }

    /// Discards the upload's data.
    pub(crate) async fn cancel(&mut self, storage: &Storage) -> Result<(), ApiError> {
        let (s, id) = (storage.clone(), self.id.clone());
        blocking(move || s.remove_upload(&id).map(|_| ())).await
    }
}
