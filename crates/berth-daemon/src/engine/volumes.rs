//! Local volumes: `<data-root>/volumes/<name>/_data`, records in the metadata database.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::types::{Volume, VolumeCreateRequest};
use berth_image::meta::{MetaDb, Table};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};

use crate::error::EngineError;

/// Volume records by name.
pub const VOLUMES: Table = TableDefinition::new("volumes");

/// What is persisted about a volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub anonymous: bool,
}

/// The volume store.
pub struct VolumeStore {
    dir: PathBuf,
    meta: Arc<MetaDb>,
}

/// Whether a volume name is valid (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    name.len() >= 2
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

impl VolumeStore {
    /// Opens the store under the data root.
    pub fn open(root: &Path, meta: Arc<MetaDb>) -> Result<Self, EngineError> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(|e| EngineError::internal("create volumes dir", e))?;
        Ok(Self { dir, meta })
    }

    /// Where a volume's data lives.
    pub fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("_data")
    }

    /// Creates a volume, or returns the existing one of that name (Docker's behaviour).
    pub fn create(&self, req: &VolumeCreateRequest, anonymous: bool) -> Result<Volume, EngineError> {
        if !req.driver.is_empty() && req.driver != "local" {
            return Err(EngineError::NotFound(format!("plugin \"{}\" not found", req.driver)));
        }
        let name = if req.name.is_empty() { super::new_id() } else { req.name.clone() };
        if !valid_name(&name) {
            return Err(EngineError::Invalid(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        if let Some(existing) = self.meta.get::<VolumeRecord>(VOLUMES, &name)? {
            return Ok(self.to_api(&existing));
        }
        let data = self.data_path(&name);
        std::fs::create_dir_all(&data).map_err(|e| EngineError::internal(&format!("create {}", data.display()), e))?;
        let rec = VolumeRecord {
            name: name.clone(),
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            labels: req.labels.clone(),
            options: req.driver_opts.clone(),
            anonymous,
        };
        self.meta.put(VOLUMES, &name, &rec)?;
        Ok(self.to_api(&rec))
    }

    /// A volume by name.
    pub fn get(&self, name: &str) -> Result<Volume, EngineError> {
        self.meta.get::<VolumeRecord>(VOLUMES, name)?.map(|r| self.to_api(&r)).ok_or_else(|| EngineError::NotFound(format!("get {name}: no such volume")))
    }

    /// Every volume record.
    pub fn list(&self) -> Result<Vec<VolumeRecord>, EngineError> {
        Ok(self.meta.list::<VolumeRecord>(VOLUMES)?.into_iter().map(|(_, r)| r).collect())
    }

    /// Deletes a volume and its data. The caller checks it is unused.
    pub fn remove(&self, name: &str) -> Result<(), EngineError> {
        if !self.meta.delete(VOLUMES, name)? {
            return Err(EngineError::NotFound(format!("get {name}: no such volume")));
        }
        let _ = std::fs::remove_dir_all(self.dir.join(name));
        Ok(())
    }

    /// The API view of a record.
    pub fn to_api(&self, r: &VolumeRecord) -> Volume {
        Volume {
            name: r.name.clone(),
            driver: "local".into(),
            mountpoint: self.data_path(&r.name).display().to_string(),
            created_at: r.created_at.clone(),
            labels: r.labels.clone(),
            scope: "local".into(),
            options: r.options.clone(),
            ..Default::default()
        }
    }
}
