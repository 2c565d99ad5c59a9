//! The classic builder behind `POST /build`: a Dockerfile and a context tar become an image,
//! one intermediate image per step, with the stream `DOCKER_BUILDKIT=0 docker build` expects.
//!
//! A build runs in two phases, as Docker's does:
//! 1. [`Engine::prepare_build`] (before the response starts, so failures are plain HTTP
//!    errors): receive and index the context tar in a private workspace ([`context`]; it is
//!    unpacked only if a step needs it on disk), read and parse the Dockerfile,
//!    pick the stages up to `--target`, validate the tags.
//! 2. [`Engine::run_build`] streams `Step N/M : …` lines while each stage runs
//!    ([`stage`]): config-only instructions edit the image config ([`steps`]), `COPY`/`ADD`
//!    write into an overlay of the current image ([`copy`], [`rootfs`]), `RUN` runs in a
//!    container through the shim like any other ([`run`]). Every step first asks the cache
//!    ([`cache`]): a content-addressed key of the parent image, the expanded instruction, the
//!    build args in effect and the checksums of copied files.
//!
//! Nothing a Dockerfile or a context holds can reach outside the workspace or the image's
//! root: the context is unpacked by the layer applier, sources are read with in-root
//! resolution and destinations written through it (`berth_archive::inroot`).

mod cache;
mod cache_from;
mod context;
mod copy;
mod copy_apply;
mod from_index;
mod glob;
mod index;
mod pull;
mod remote;
mod rootfs;
mod run;
mod spool;
mod stage;
mod steps;
#[cfg(test)]
mod test_tar;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

use berth_api::types::JsonMessage;
use berth_build::{Dockerfile, Location, Stage};
use berth_image::Reference;
use tokio::sync::mpsc;

use super::Engine;
use crate::error::EngineError;
pub use cache::BUILD_CACHE;
use context::Workspace;
pub use pull::parse_registry_config;

/// What a build was asked to do (the `POST /build` query, validated).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Path of the Dockerfile inside the context.
    pub dockerfile: String,
    /// Names to tag the result with (`-t`, repeated), already normalized.
    pub tags: Vec<Reference>,
    /// `--build-arg`: a name without a value (`None`) counts as given but unset.
    pub build_args: BTreeMap<String, Option<String>>,
    /// `--label`: added to the last stage as `LABEL` steps, never expanded.
    pub labels: BTreeMap<String, String>,
    /// `--target`: the stage to stop at.
    pub target: Option<String>,
    /// `--cache-from`: images whose history serves as the cache ([`cache_from`]).
    pub cache_from: Vec<String>,
    /// `--no-cache`: run every step (results are still recorded for later builds).
    pub no_cache: bool,
    /// `--pull`: pull every named base image (and `COPY --from` image) even if present.
    pub pull: bool,
    /// Registry credentials by registry host (`X-Registry-Config`), for those pulls.
    pub auth_configs: BTreeMap<String, crate::engine::distribution::credentials::AuthConfig>,
    /// `--rm`: remove intermediate containers after successful steps (default true).
    pub remove: bool,
    /// `--force-rm`: remove them even after a failed step.
    pub force_remove: bool,
    /// `--network` for `RUN` containers (`""` means the default bridge).
    pub network_mode: String,
    /// `--add-host` entries for `RUN` containers.
    pub extra_hosts: Vec<String>,
    /// `--shm-size` of `RUN` containers, bytes (0: default).
    pub shm_size: i64,
}

/// Why a build failed. Everything but `Engine` names the Dockerfile line it failed at.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile does not parse, or a word does not expand.
    #[error("{0}")]
    Dockerfile(#[from] berth_build::Error),
    /// A step could not be carried out (missing source, bad `--chown`, unknown image, ...).
    #[error("{}", step_message(location, message))]
    Step { location: Location, message: String },
    /// A `RUN` exited non-zero: Docker's exact wording, which clients show as is.
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed { command: String, code: i64 },
    /// The engine failed outside any step (workspace, tagging).
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The client went away; the build stopped at the next step boundary.
    #[error("build cancelled")]
    Cancelled,
}

/// `Dockerfile:3: COPY: no such file`, or `Dockerfile:3: COPY failed: …` when the message
/// already starts with the instruction.
fn step_message(location: &Location, message: &str) -> String {
    match &location.instruction {
        Some(k) if message.starts_with(&format!("{k} ")) => {
            format!("{}:{}: {message}", location.file, location.line)
        }
        _ => format!("{location}: {message}"),
    }
}

impl BuildError {
    /// The `errorDetail.code` of the in-stream error: a failed `RUN`'s exit code, so the CLI
    /// exits with it.
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// An error at `location` (file, line, instruction).
    pub(crate) fn at(location: &Location, message: impl std::fmt::Display) -> Self {
        BuildError::Step { location: location.clone(), message: message.to_string() }
    }

    /// The error as an engine error, for failures before the stream starts.
    pub fn into_engine(self) -> EngineError {
        match self {
            BuildError::Engine(e) => e,
            other => EngineError::Invalid(other.to_string()),
        }
    }
}

/// Where build output goes: `{"stream": …}` and `{"aux": …}` messages for the client. A send
/// that fails means the client is gone, which cancels the build.
#[derive(Clone)]
pub struct Progress {
    tx: mpsc::Sender<JsonMessage>,
}

impl Progress {
    /// Output into `tx`.
    pub fn new(tx: mpsc::Sender<JsonMessage>) -> Self {
        Self { tx }
    }

    /// Sends one `stream` text.
    pub async fn say(&self, text: impl Into<String>) -> Result<(), BuildError> {
        self.tx.send(JsonMessage::stream(text)).await.map_err(|_| BuildError::Cancelled)
    }

    /// Sends any message (a pull's progress lines).
    pub async fn send(&self, msg: JsonMessage) -> Result<(), BuildError> {
        self.tx.send(msg).await.map_err(|_| BuildError::Cancelled)
    }

    /// Sends the `{"aux":{"ID":…}}` that `--iidfile` and compose read.
    pub async fn image_id(&self, id: &str) -> Result<(), BuildError> {
        let msg = JsonMessage { aux: Some(serde_json::json!({ "ID": id })), ..Default::default() };
        self.tx.send(msg).await.map_err(|_| BuildError::Cancelled)
    }
}

/// A build whose context is received and whose Dockerfile parsed: ready to run.
pub struct PreparedBuild {
    workspace: Workspace,
    dockerfile: Dockerfile,
    /// The stages to build: all of them up to `--target`.
    stages: Vec<Stage>,
    options: BuildOptions,
    /// `M` of `Step N/M`.
    total_steps: usize,
}

/// The short form of an image id, as build output shows it.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

impl Engine {
    /// Phase one of a build: receives the context `body` (a tar, gzip-compressed or not),
    /// reads and parses the Dockerfile and selects the stages. Errors here are the caller's
    /// to report as a plain HTTP error.
    pub async fn prepare_build(self: &Arc<Self>, body: impl Read + Send + 'static, options: BuildOptions) -> Result<PreparedBuild, EngineError> {
        let data_root = self.config.data_root.clone();
        let started = std::time::Instant::now();
        let (workspace, dockerfile) = Self::blocking(move || {
            let mut ws = Workspace::create(&data_root)?;
            ws.receive(body)?;
            tracing::debug!(elapsed = ?started.elapsed(), "build context received");
            let text = ws.read_dockerfile(&options.dockerfile)?;
            ws.drop_ignored_build_files(&options.dockerfile)?;
            Ok((ws, (text, options)))
        })
        .await?;
        let (text, options) = dockerfile;
        let name = if options.dockerfile.is_empty() { berth_build::DEFAULT_FILE_NAME } else { options.dockerfile.as_str() };
        let parsed = Dockerfile::parse_bytes(&text, name).map_err(|e| EngineError::Invalid(format!("dockerfile parse error: {e}")))?;
        let stages = select_stages(&parsed, options.target.as_deref())?;
        let total_steps = parsed.global_args.len() + stages.iter().map(|s| 1 + s.instructions.len()).sum::<usize>() + options.labels.len();
        Ok(PreparedBuild { workspace, dockerfile: parsed, stages, options, total_steps })
    }

    /// Phase two: runs the build, streaming its output to `progress`; returns the image id.
    /// Tags are applied at the end, each announced with `Successfully tagged`.
    pub async fn run_build(self: &Arc<Self>, prepared: PreparedBuild, progress: Progress) -> Result<String, BuildError> {
        let options = prepared.options.clone();
        let id = stage::Builder::new(self.clone(), prepared, progress.clone()).run().await?;
        progress.say(format!("Successfully built {}\n", short_id(&id))).await?;
        for tag in &options.tags {
            let images = self.images.clone();
            let (image, reference) = (id.clone(), tag.clone());
            // A tag already on this image is left alone (no write), as Docker's reference
            // store does.
            Self::blocking(move || match images.resolve(&reference.to_string()) {
                Ok(current) if current.id == image => Ok(()),
                _ => images.tag(&image, &reference).map_err(EngineError::from),
            })
            .await?;
            self.events.publish("image", "tag", &id, BTreeMap::from([("name".to_string(), tag.familiar())]));
            progress.say(format!("Successfully tagged {}\n", tag.familiar())).await?;
        }
        Ok(id)
    }
}

/// The stages to build: every stage up to and including `target` (the classic builder
/// builds them all, used or not), or all of them.
fn select_stages(file: &Dockerfile, target: Option<&str>) -> Result<Vec<Stage>, EngineError> {
    let Some(target) = target.filter(|t| !t.is_empty()) else {
        return Ok(file.stages.clone());
    };
    let wanted = target.to_lowercase();
    match file.stages.iter().position(|s| s.name.as_deref() == Some(wanted.as_str())) {
        Some(i) => Ok(file.stages[..=i].to_vec()),
        None => Err(EngineError::Invalid(format!("target stage \"{target}\" could not be found"))),
    }
}
