//! The persisted record of a container, and its lifecycle states.

use std::path::PathBuf;

use berth_api::types::{ContainerConfig, HostConfig, MountPoint, NetworkingConfig};
use serde::{Deserialize, Serialize};

/// Docker's zero time, for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Where a container is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    /// The name Docker uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// Whether a shim (and process) is alive for this state.
    pub fn is_running(self) -> bool {
        matches!(self, Status::Running | Status::Paused | Status::Restarting)
    }
}

/// The runtime state of a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StateRecord {
    pub status: Status,
    pub pid: i64,
    pub exit_code: i64,
    pub error: String,
    pub started_at: String,
    pub finished_at: String,
    pub oom_killed: bool,
}

impl Default for StateRecord {
    fn default() -> Self {
        Self {
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: ZERO_TIME.into(),
            finished_at: ZERO_TIME.into(),
            oom_killed: false,
        }
    }
}

/// Everything persisted about a container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    pub created: String,
    /// The image as the user named it.
    pub image: String,
    pub image_id: String,
    pub config: ContainerConfig,
    pub host_config: HostConfig,
    pub path: String,
    pub args: Vec<String>,
    pub state: StateRecord,
    pub restart_count: i64,
    pub mounts: Vec<MountPoint>,
    pub networking: NetworkingConfig,
    /// Set by `docker stop`/`kill`, so restart policies know the exit was wanted.
    #[serde(default)]
    pub manually_stopped: bool,
    /// Anonymous volumes created for this container (removed with `rm -v` and `--rm`).
    #[serde(default)]
    pub anonymous_volumes: Vec<String>,
    /// `State.Health`: set at the first start of a container with a health check, updated by
    /// every probe, kept across daemon restarts (engine operations).
    #[serde(default)]
    pub health: Option<berth_api::types::Health>,
}

/// Paths of a container's files under the data root.
pub struct ContainerDirs {
    pub dir: PathBuf,
}

impl ContainerDirs {
    /// The container's directory.
    pub fn new(data_root: &std::path::Path, id: &str) -> Self {
        Self { dir: data_root.join("containers").join(id) }
    }
    /// The json-file log.
    pub fn log(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}-json.log"))
    }
    /// Overlay upper dir.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("fs").join("upper")
    }
    /// Overlay work dir.
    pub fn work(&self) -> PathBuf {
        self.dir.join("fs").join("work")
    }
    /// /etc/hostname source.
    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }
    /// /etc/hosts source.
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }
    /// /etc/resolv.conf source.
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }
}
