//! The in-memory index of containers: handles by id, lookup by id, name or unique id prefix,
//! and the per-container signals waiters and attachers follow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use super::attach::PendingAttach;
use super::record::ContainerRecord;
use crate::error::EngineError;

/// What waiters watch: bumps on every exit, and once on removal.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signal {
    pub running: bool,
    pub exits: u64,
    pub exit_code: i64,
    pub removed: bool,
}

/// One container: its record and its runtime companions.
pub struct ContainerHandle {
    pub id: String,
    record: Mutex<ContainerRecord>,
    /// Serializes lifecycle operations (start, stop, remove, restart).
    pub op: tokio::sync::Mutex<()>,
    pub signal: watch::Sender<Signal>,
    /// Attach streams waiting for the next start.
    pub pending: Mutex<Vec<PendingAttach>>,
}

impl ContainerHandle {
    /// A handle for a loaded or new record.
    pub fn new(record: ContainerRecord) -> Arc<Self> {
        let running = record.state.status.is_running();
        Arc::new(Self {
            id: record.id.clone(),
            signal: watch::Sender::new(Signal { running, exit_code: record.state.exit_code, ..Default::default() }),
            record: Mutex::new(record),
            op: tokio::sync::Mutex::new(()),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// A copy of the current record.
    pub fn snapshot(&self) -> ContainerRecord {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Changes the record in memory; the caller persists it.
    pub fn update<R>(&self, f: impl FnOnce(&mut ContainerRecord) -> R) -> R {
        let mut r = self.record.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut r)
    }
}

/// Every container the daemon knows.
#[derive(Default)]
pub struct Registry {
    by_id: RwLock<HashMap<String, Arc<ContainerHandle>>>,
    names: RwLock<HashMap<String, String>>,
}

impl Registry {
    /// Adds a container; its name must be free (checked by [`Registry::reserve_name`]).
    pub fn insert(&self, handle: Arc<ContainerHandle>) {
        let rec = handle.snapshot();
        self.names.write().unwrap_or_else(|p| p.into_inner()).insert(rec.name.clone(), rec.id.clone());
        self.by_id.write().unwrap_or_else(|p| p.into_inner()).insert(rec.id, handle);
    }

    /// Claims `name` for `id`, or reports Docker's conflict.
    pub fn reserve_name(&self, name: &str, id: &str) -> Result<(), EngineError> {
        let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
        if let Some(owner) = names.get(name) {
            return Err(EngineError::Conflict(format!(
                "Conflict. The container name \"/{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
            )));
        }
        names.insert(name.to_string(), id.to_string());
        Ok(())
    }

    /// Frees `name`.
    pub fn release_name(&self, name: &str) {
        self.names.write().unwrap_or_else(|p| p.into_inner()).remove(name);
    }

    /// Drops a container.
    pub fn remove(&self, id: &str) {
        if let Some(h) = self.by_id.write().unwrap_or_else(|p| p.into_inner()).remove(id) {
            let name = h.snapshot().name;
            let mut names = self.names.write().unwrap_or_else(|p| p.into_inner());
            if names.get(&name).is_some_and(|owner| owner == id) {
                names.remove(&name);
            }
        }
    }

    /// Finds a container by full id, name (with or without `/`) or unique id prefix.
    pub fn get(&self, name_or_id: &str) -> Result<Arc<ContainerHandle>, EngineError> {
        let not_found = || EngineError::NotFound(format!("No such container: {name_or_id}"));
        let key = name_or_id.strip_prefix('/').unwrap_or(name_or_id);
        if key.is_empty() {
            return Err(not_found());
        }
        let by_id = self.by_id.read().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = by_id.get(key) {
            return Ok(h.clone());
        }
        if let Some(id) = self.names.read().unwrap_or_else(|p| p.into_inner()).get(key) {
            if let Some(h) = by_id.get(id) {
                return Ok(h.clone());
            }
        }
        let matches: Vec<&Arc<ContainerHandle>> = by_id.iter().filter(|(id, _)| id.starts_with(key)).map(|(_, h)| h).collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(not_found()),
            _ => Err(EngineError::Invalid(format!("multiple IDs found with provided prefix: {key}"))),
        }
    }

    /// Every container.
    pub fn all(&self) -> Vec<Arc<ContainerHandle>> {
        self.by_id.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    /// Renames a container in the name index.
    pub fn rename(&self, id: &str, old: &str, new: &str) -> Result<(), EngineError> {
        self.reserve_name(new, id)?;
        self.release_name(old);
        Ok(())
    }
}
