//! The engine: owns containers, execs, volumes, events and the image store. HTTP handlers call
//! its methods with typed arguments and get typed results back.

pub mod archive;
pub mod archive_io;
pub mod attach;
pub mod build;
pub mod cgroup_stats;
pub mod changes;
pub mod create;
pub mod df;
pub mod diff;
pub mod distribution;
pub mod etc_files;
pub mod events;
pub mod exec;
pub mod health;
pub mod health_monitor;
pub mod image_io;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod logconfig;
pub mod logs;
pub mod metrics;
pub mod monitor;
pub mod names;
pub mod network;
pub mod ops;
pub mod record;
pub mod registry;
pub mod restart;
pub mod restore;
pub mod start;
pub mod stats;
pub mod user;
pub mod volumes;

use std::collections::BTreeMap;
use std::sync::Arc;

use berth_image::meta::MetaDb;
use berth_image::ImageStore;
use berth_runtime::seal::SealedExe;
use redb::TableDefinition;

use crate::config::DaemonConfig;
use crate::error::EngineError;
use record::ContainerRecord;
use registry::{ContainerHandle, Registry};

/// Container records by id.
pub const CONTAINERS: berth_image::meta::Table = TableDefinition::new("containers");

/// The engine's state.
pub struct Engine {
    pub config: DaemonConfig,
    pub meta: Arc<MetaDb>,
    pub images: Arc<ImageStore>,
    pub containers: Registry,
    pub execs: exec::ExecRegistry,
    pub volumes: volumes::VolumeStore,
    pub events: events::EventBus,
    /// Health checks, restart policies, stats and metrics state (engine operations).
    pub ops: ops::Ops,
    /// Networks, endpoints and their host state (bridges, veths, firewall, proxies, DNS).
    pub net: network::NetworkManager,
    pub sealed: SealedExe,
    /// A stable id for `/info`.
    pub daemon_id: String,
}

impl Engine {
    /// Opens the stores under the configured roots.
    pub async fn open(config: DaemonConfig) -> Result<Self, EngineError> {
        for dir in [&config.data_root, &config.exec_root, &config.data_root.join("containers")] {
            std::fs::create_dir_all(dir).map_err(|e| EngineError::internal(&format!("create {}", dir.display()), e))?;
        }
        let meta = Arc::new(MetaDb::open(&config.data_root.join("berth.db"))?);
        let images = Arc::new(ImageStore::open(&config.data_root, meta.clone())?);
        let volumes = volumes::VolumeStore::open(&config.data_root, meta.clone())?;
        let sealed = SealedExe::create().map_err(|e| EngineError::internal("seal executable", e))?;
        let daemon_id = load_daemon_id(&config.data_root);
        let net = network::NetworkManager::open(&config, meta.clone(), network::HostOps::kernel(), tokio::runtime::Handle::current())?;
        Ok(Self {
            config,
            meta,
            images,
            containers: Registry::default(),
            execs: exec::ExecRegistry::default(),
            volumes,
            events: events::EventBus::default(),
            ops: ops::Ops::default(),
            net,
            sealed,
            daemon_id,
        })
    }

    /// Writes a container's record to the metadata database.
    pub fn persist(&self, h: &ContainerHandle) -> Result<(), EngineError> {
        let rec = h.snapshot();
        self.meta.put(CONTAINERS, &rec.id, &rec)?;
        Ok(())
    }

    /// Publishes a container event with Docker's attributes (labels, name, image).
    pub fn container_event(&self, rec: &ContainerRecord, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = rec.config.labels.clone();
        attrs.insert("name".into(), rec.name.clone());
        attrs.insert("image".into(), rec.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.events.publish("container", action, &rec.id, attrs);
    }

    /// Runs blocking work (file system, image store) off the async workers.
    pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, EngineError> + Send + 'static) -> Result<T, EngineError> {
        tokio::task::spawn_blocking(f).await.map_err(|e| EngineError::internal("blocking task", e))?
    }
}

fn load_daemon_id(root: &std::path::Path) -> String {
    let path = root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if !id.trim().is_empty() {
            return id.trim().to_string();
        }
    }
    let id = berth_image::random_hex(16);
    let _ = berth_runtime::status::write_atomic(&path, id.as_bytes());
    id
}

/// A new 64-hex container or exec id.
pub fn new_id() -> String {
    berth_image::random_hex(32)
}
