//! Running the stages of a build in order: global `ARG`s, then for each stage its `FROM`
//! (an image, an earlier stage or `scratch`), the base image's `ONBUILD` triggers, and its
//! instructions, printing `Step N/M : …` and ` ---> <id>` the way the classic builder does.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex};

use berth_build::{Dockerfile, Instruction, Location, Stage};
use berth_image::config::ImageConfig;
use berth_image::ImageRecord;

use super::cache::Pending;
use super::cache_from::CacheSources;
use super::context::Workspace;
use super::{short_id, BuildError, BuildOptions, PreparedBuild, Progress};
use crate::engine::Engine;
use crate::error::EngineError;

/// Build args Docker passes to `RUN` without an `ARG` declaring them, and leaves out of the
/// cache key unless declared.
pub const BUILTIN_ARGS: &[&str] =
    &["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"];

/// Where a stage is: the image built so far and the state instructions see.
pub struct StageState {
    /// The current image; `None` right after `FROM scratch`.
    pub image: Option<ImageRecord>,
    /// Its config (for `scratch`: an empty one for this host).
    pub config: ImageConfig,
    /// The stage's `ARG`s in effect, with their values.
    pub args: Vec<(String, String)>,
    /// Whether a `CMD` of this stage set a command (an `ENTRYPOINT` then keeps it).
    pub cmd_set: bool,
    /// After the first cache miss nothing later in the stage is looked up.
    pub cache_busted: bool,
}

impl StageState {
    /// The current image id, `""` for an untouched `scratch`.
    pub fn id(&self) -> &str {
        self.image.as_ref().map(|i| i.id.as_str()).unwrap_or("")
    }

    /// The config's `ENV` as pairs.
    pub fn env(&self) -> Vec<(String, String)> {
        self.config
            .config
            .env
            .iter()
            .flatten()
            .map(|e| match e.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect()
    }
}

/// One build in progress.
pub struct Builder {
    /// The engine whose images and containers the build uses.
    pub engine: Arc<Engine>,
    /// The build's private directories (context, step scratch dirs).
    pub ws: Workspace,
    /// The Dockerfile being built (swapped for a one-line file while a trigger runs).
    pub file: Dockerfile,
    stages: Vec<Stage>,
    /// What was asked.
    pub opts: BuildOptions,
    /// Where output goes.
    pub out: Progress,
    step: usize,
    total: usize,
    /// Global `ARG`s, resolved.
    pub globals: Vec<(String, String)>,
    /// `--build-arg`s that have a value.
    pub given: Vec<(String, String)>,
    /// Every `ARG` name declared anywhere so far (for the unused build-arg warning).
    pub referenced: BTreeSet<String>,
    /// The result of each finished stage (`None`: it ended on an untouched `scratch`).
    pub results: Vec<Option<ImageRecord>>,
    /// The names of finished stages (`AS name`), by index.
    pub stage_names: Vec<Option<String>>,
    /// Image names pulled during this build (`--pull` pulls each once).
    pub pulled: HashSet<String>,
    /// The `--cache-from` images (shared with the blocking lookups).
    pub cache_from: Arc<Mutex<CacheSources>>,
    /// Cache entries of this build's steps, written when it ends.
    pub pending: Pending,
}

impl Builder {
    /// A builder for a prepared build.
    pub fn new(engine: Arc<Engine>, p: PreparedBuild, out: Progress) -> Self {
        let given = p.options.build_args.iter().filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v))).collect();
        Self {
            engine,
            ws: p.workspace,
            file: p.dockerfile,
            stages: p.stages,
            opts: p.options,
            out,
            step: 1,
            total: p.total_steps,
            globals: Vec::new(),
            given,
            referenced: BTreeSet::new(),
            results: Vec::new(),
            stage_names: Vec::new(),
            pulled: HashSet::new(),
            cache_from: Arc::default(),
            pending: Pending::default(),
        }
    }

    /// Runs every stage; returns the last stage's image id. The workspace is deleted off
    /// the async workers afterwards, whatever happened.
    pub async fn run(mut self) -> Result<String, BuildError> {
        let result = self.run_stages().await;
        let (engine, pending) = (self.engine.clone(), self.pending.clone());
        // The steps that succeeded are cached even when a later one failed, as in Docker.
        let flushed = Engine::blocking(move || engine.cache_flush(&pending)).await;
        let ws = self.ws;
        let _ = tokio::task::spawn_blocking(move || drop(ws)).await;
        let id = result?;
        flushed?;
        Ok(id)
    }

    async fn run_stages(&mut self) -> Result<String, BuildError> {
        if !self.opts.cache_from.is_empty() {
            let (images, names) = (self.engine.images.clone(), self.opts.cache_from.clone());
            let sources = Engine::blocking(move || Ok(CacheSources::resolve(&images, &names))).await?;
            self.cache_from = Arc::new(Mutex::new(sources));
        }
        self.global_args().await?;
        let stages = std::mem::take(&mut self.stages);
        let mut last = None;
        for (i, stage) in stages.iter().enumerate() {
            let mut state = self.begin_stage(i, stage).await?;
            for ins in &stage.instructions {
                self.step_line(&ins.source().original).await?;
                let started = std::time::Instant::now();
                self.dispatch(&mut state, ins).await?;
                tracing::debug!(step = self.step - 1, elapsed = ?started.elapsed(), "build step done");
                self.out.say(format!(" ---> {}\n", short_id(state.id()))).await?;
            }
            if i + 1 == stages.len() {
                for (k, v) in self.opts.labels.clone() {
                    self.step_line(&format!("LABEL {k}={v}")).await?;
                    self.label_option(&mut state, &k, &v).await?;
                    self.out.say(format!(" ---> {}\n", short_id(state.id()))).await?;
                }
            }
            if !state.id().is_empty() {
                self.out.image_id(state.id()).await?;
            }
            last = state.image.clone();
            self.results.push(state.image);
            self.stage_names.push(stage.name.clone());
        }
        self.warn_unused_args().await?;
        last.map(|i| i.id).ok_or_else(|| BuildError::Engine(EngineError::Invalid("No image was generated. Is your Dockerfile empty?".into())))
    }

    /// Prints `Step N/M : text`.
    pub async fn step_line(&mut self, text: &str) -> Result<(), BuildError> {
        let line = format!("Step {}/{} : {}\n", self.step, self.total, text);
        self.step += 1;
        self.out.say(line).await
    }

    /// The location of an instruction of the Dockerfile, for errors.
    pub fn location(&self, ins: &Instruction) -> Location {
        Location { file: self.file.file.clone(), line: ins.line(), instruction: Some(ins.keyword().to_string()) }
    }

    async fn global_args(&mut self) -> Result<(), BuildError> {
        let args = self.file.global_args.clone();
        for arg in &args {
            self.step_line(&arg.source.original).await?;
            self.referenced.extend(arg.args.iter().map(|a| a.name.clone()));
        }
        self.globals = self.file.resolve_global_args(&self.given)?;
        Ok(())
    }

    async fn begin_stage(&mut self, index: usize, stage: &Stage) -> Result<StageState, BuildError> {
        self.step_line(&stage.original).await?;
        self.cache_from.lock().unwrap_or_else(|p| p.into_inner()).reset();
        let base = self.file.resolve_base(stage, &self.globals)?;
        let from = Location { file: self.file.file.clone(), line: stage.line, instruction: Some("FROM".into()) };
        let image = match self.file.base_stage(&base.base, index) {
            Some(earlier) => self.results.get(earlier).cloned().flatten(),
            None if Stage::is_scratch(&base.base) => None,
            None => Some(self.image_for(&base.base).await.map_err(|e| BuildError::at(&from, e))?),
        };
        let mut config = match &image {
            Some(img) => self.engine.images.config(img).map_err(|e| BuildError::at(&from, e))?,
            None => ImageConfig::new_for_host(),
        };
        set_default_path(&mut config);
        let mut state = StageState { image, config, args: Vec::new(), cmd_set: false, cache_busted: false };
        self.run_triggers(&mut state).await?;
        self.out.say(format!(" ---> {}\n", short_id(state.id()))).await?;
        Ok(state)
    }

    /// Finds an image in the local store (see [`Builder::image_for`], which pulls).
    pub async fn resolve_image(&self, name: &str) -> Result<ImageRecord, EngineError> {
        let images = self.engine.images.clone();
        let name = name.to_string();
        Engine::blocking(move || images.resolve(&name).map_err(EngineError::from)).await
    }

    /// Runs the base image's `ONBUILD` triggers, which do not carry over to this image.
    async fn run_triggers(&mut self, state: &mut StageState) -> Result<(), BuildError> {
        let Some(triggers) = state.config.config.on_build.take().filter(|t| !t.is_empty()) else { return Ok(()) };
        let plural = if triggers.len() > 1 { "s" } else { "" };
        self.out.say(format!("# Executing {} build trigger{plural}\n", triggers.len())).await?;
        for trigger in &triggers {
            let text = format!("FROM scratch\n{trigger}\n");
            let parsed = Dockerfile::parse_named(&text, "ONBUILD")?;
            let ins = parsed.stages.first().and_then(|s| s.instructions.first()).cloned();
            let Some(ins) = ins.filter(|_| parsed.stages.iter().map(|s| s.instructions.len()).sum::<usize>() == 1) else {
                return Err(BuildError::Engine(EngineError::Invalid("onbuild trigger should be a single expression".into())));
            };
            let saved = std::mem::replace(&mut self.file, parsed);
            let result = self.dispatch(state, &ins).await;
            self.file = saved;
            result?;
        }
        Ok(())
    }

    async fn warn_unused_args(&mut self) -> Result<(), BuildError> {
        let unused: Vec<&String> = self.opts.build_args.keys().filter(|k| !self.referenced.contains(*k) && !BUILTIN_ARGS.contains(&k.as_str())).collect();
        if unused.is_empty() {
            return Ok(());
        }
        let list = unused.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ");
        self.out.say(format!("[Warning] One or more build-args [{list}] were not consumed\n")).await
    }
}

/// Docker gives every built image a `PATH` when its base has none.
fn set_default_path(config: &mut ImageConfig) {
    let env = config.config.env.get_or_insert_with(Vec::new);
    if !env.iter().any(|e| e.split('=').next() == Some("PATH")) {
        env.push(format!("PATH={}", berth_runtime::spec::DEFAULT_PATH));
    }
}
