//! Dispatching one instruction, and the steps that only change the image config (`ENV`,
//! `LABEL`, `CMD`, `ENTRYPOINT`, `EXPOSE`, `VOLUME`, `USER`, `STOPSIGNAL`, `SHELL`,
//! `HEALTHCHECK`, `ONBUILD`, `MAINTAINER`, `ARG`) plus `WORKDIR`, which also creates its
//! directory. Config edits go through [`crate::engine::changes::apply`], the same code as
//! `import --change`. Every step ends in [`Builder::commit`]: a new intermediate image whose
//! history line is what Docker records (`/bin/sh -c #(nop)  ENV A=1`), found again by its
//! cache key on the next build.

use berth_build::{CommandForm, HealthcheckSpec, Instruction, Location, Overlay};
use berth_image::config::{History, ImageConfig};
use berth_image::LayerRecord;

use super::cache::CacheKey;
use super::cache_from::Found;
use super::rootfs::StepRoot;
use super::stage::{Builder, StageState, BUILTIN_ARGS};
use super::BuildError;
use crate::engine::changes::{self, DEFAULT_SHELL};
use crate::engine::Engine;
use crate::error::EngineError;

/// Go's `%q` of a string list (`["a" "b"]`), as Docker's history lines show commands.
pub fn go_quoted(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| serde_json::to_string(s).unwrap_or_default()).collect();
    format!("[{}]", items.join(" "))
}

/// The shell a config's shell-form commands (and history comments) use.
pub fn shell_of(config: &ImageConfig) -> Vec<String> {
    config.config.shell.clone().unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
}

/// Docker's history line for a step that runs nothing: the shell, `#(nop) `, the comment.
/// `WORKDIR`, `COPY` and `ADD` use the single-argument form (one space), others two.
pub fn nop_line(config: &ImageConfig, comment: &str, single_arg: bool) -> String {
    let mut parts = shell_of(config);
    if single_arg {
        parts.push(format!("#(nop) {comment}"));
    } else {
        parts.push("#(nop) ".into());
        parts.push(comment.to_string());
    }
    parts.join(" ")
}

impl Builder {
    /// The expansion scope of a stage: `ENV` first, then the `ARG`s (declared, or built-in
    /// proxy args given with `--build-arg`) that no `ENV` overrides.
    pub fn arg_scope(&self, state: &StageState) -> Vec<(String, String)> {
        let mut args = state.args.clone();
        for (k, v) in &self.given {
            if BUILTIN_ARGS.contains(&k.as_str()) && !args.iter().any(|(n, _)| n == k) {
                args.push((k.clone(), v.clone()));
            }
        }
        let env = state.env();
        args.retain(|(k, _)| !env.iter().any(|(e, _)| e == k));
        args
    }

    /// Carries out one instruction.
    pub async fn dispatch(&mut self, state: &mut StageState, ins: &Instruction) -> Result<(), BuildError> {
        let loc = self.location(ins);
        let expanded = {
            let env = state.env();
            let args = self.arg_scope(state);
            self.file.expand(ins, &Overlay { top: &env, base: &args })?
        };
        match &expanded {
            Instruction::Arg(_) => self.arg_step(state, ins, &expanded, &loc).await,
            Instruction::Run(r) => self.run_step(state, r, &loc).await,
            Instruction::Copy(c) => self.copy_step(state, c, &loc).await,
            Instruction::Add(a) => self.add_step(state, a, &loc).await,
            Instruction::Workdir(w) => self.workdir_step(state, &w.path, &loc).await,
            other => self.config_step(state, other, &loc).await,
        }
    }

    async fn arg_step(&mut self, state: &mut StageState, raw: &Instruction, expanded: &Instruction, loc: &Location) -> Result<(), BuildError> {
        let (Instruction::Arg(arg), Instruction::Arg(defaults)) = (raw, expanded) else { return Ok(()) };
        let resolved = {
            let env = state.env();
            let args = self.arg_scope(state);
            let scope = Overlay { top: &env, base: &args };
            let lexer = self.file.shell_words();
            arg.resolve(&lexer, &scope, &self.given, &self.globals).map_err(|k| berth_build::Error::new(loc.clone(), k))?
        };
        let mut values = Vec::new();
        for r in resolved {
            self.referenced.insert(r.name.clone());
            state.args.retain(|(k, _)| *k != r.name);
            if let Some(v) = r.value {
                values.push(format!("{}={v}", r.name));
                state.args.push((r.name, v));
            }
        }
        let shown: Vec<String> = defaults
            .args
            .iter()
            .map(|d| match &d.default {
                Some(v) => format!("{}={v}", d.name),
                None => d.name.clone(),
            })
            .collect();
        let comment = format!("ARG {}", shown.join(" "));
        let extra = values.join("\n");
        self.commit_config(state, &comment, false, &[&extra], |_| Ok(())).await
    }

    /// A `--label` option: a `LABEL` step whose value is never expanded.
    pub async fn label_option(&mut self, state: &mut StageState, key: &str, value: &str) -> Result<(), BuildError> {
        let (k, v) = (key.to_string(), value.to_string());
        self.commit_config(state, &format!("LABEL {key}={value}"), false, &[], move |cfg| {
            cfg.config.labels.get_or_insert_with(Default::default).insert(k, v);
            Ok(())
        })
        .await
    }

    async fn config_step(&mut self, state: &mut StageState, ins: &Instruction, loc: &Location) -> Result<(), BuildError> {
        if let Instruction::StopSignal(s) = ins {
            crate::engine::lifecycle::parse_signal(&s.signal).map_err(|e| BuildError::at(loc, e))?;
        }
        if let Instruction::Healthcheck(_) = ins {
            if let Some(old) = state.config.config.healthcheck.as_ref().and_then(|h| h.get("Test")).and_then(|t| t.as_array()) {
                let old: Vec<String> = old.iter().filter_map(|v| v.as_str().map(String::from)).collect();
                if old.first().is_some_and(|f| f != "NONE") {
                    self.out.say(format!("Note: overriding previous HEALTHCHECK: [{}]\n", old.join(" "))).await?;
                }
            }
        }
        let comment = comment_of(ins, &state.config);
        let keep_cmd = state.cmd_set;
        if let Instruction::Cmd(c) = ins {
            state.cmd_set |= !matches!(&c.command, CommandForm::Exec(a) if a.is_empty());
        }
        let ins = ins.clone();
        let loc = loc.clone();
        self.commit_config(state, &comment, false, &[], move |cfg| {
            let saved_cmd = cfg.config.cmd.clone();
            changes::apply(&mut cfg.config, &ins).map_err(|e| BuildError::at(&loc, e))?;
            match &ins {
                Instruction::Entrypoint(_) if keep_cmd => cfg.config.cmd = saved_cmd,
                Instruction::Maintainer(m) => cfg.author = m.name.clone(),
                _ => {}
            }
            Ok(())
        })
        .await
    }

    /// A step without a layer: edits a copy of the config, then looks it up in the cache
    /// or records a new image.
    pub async fn commit_config(
        &mut self,
        state: &mut StageState,
        comment: &str,
        single_arg: bool,
        extra: &[&str],
        edit: impl FnOnce(&mut ImageConfig) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let mut cfg = state.config.clone();
        edit(&mut cfg)?;
        let created_by = nop_line(&cfg, comment, single_arg);
        let key = CacheKey::new(state.id(), &created_by, extra);
        if self.probe(state, &key, &created_by, &cfg).await? {
            return Ok(());
        }
        self.commit(state, &key, None, cfg, created_by).await
    }

    /// Looks the step up unless the cache is off or already missed in this stage: the local
    /// cache by `key`, then the `--cache-from` images by `created_by` (a hit there is rebuilt
    /// with `cfg`, the step's resulting config, and recorded under `key`). On a hit the state
    /// moves to the cached image and ` ---> Using cache` is printed.
    pub async fn probe(&mut self, state: &mut StageState, key: &CacheKey, created_by: &str, cfg: &ImageConfig) -> Result<bool, BuildError> {
        if self.opts.no_cache || state.cache_busted {
            return Ok(false);
        }
        let engine = self.engine.clone();
        let (key2, parent) = (key.clone(), state.id().to_string());
        let sources = self.cache_from.clone();
        let pending = self.pending.clone();
        let base = state.image.clone();
        let parent_cfg = base.as_ref().map(|_| state.config.clone());
        let (step_cfg, created_by) = (cfg.clone(), created_by.to_string());
        let hit = Engine::blocking(move || {
            let mut sources = sources.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(img) = engine.cache_lookup(&key2, &parent, &pending)? {
                if sources.is_empty() || sources.has_descendant_of(&engine.images, &img.id) {
                    let cfg = engine.images.config(&img)?;
                    return Ok(Some((img, cfg)));
                }
            }
            if sources.is_empty() {
                return Ok(None);
            }
            let Some(found) = sources.find(parent_cfg.as_ref(), &created_by) else { return Ok(None) };
            let img = match found {
                Found::Whole(img) => img,
                Found::Step { history, layer } => {
                    let mut cfg = step_cfg;
                    strip_stale(&mut cfg);
                    engine.images.derive(base.as_ref(), layer, cfg, history)?
                }
            };
            pending.record(&key2, &parent, &img.id);
            let cfg = engine.images.config(&img)?;
            Ok(Some((img, cfg)))
        })
        .await?;
        let Some((img, cfg)) = hit else {
            state.cache_busted = true;
            return Ok(false);
        };
        self.out.say(" ---> Using cache\n").await?;
        state.image = Some(img);
        state.config = cfg;
        Ok(true)
    }

    /// Records the step's image (`layer` on top of the current one, `cfg` as its config)
    /// and its cache entry, and moves the state to it.
    pub async fn commit(
        &mut self,
        state: &mut StageState,
        key: &CacheKey,
        layer: Option<LayerRecord>,
        mut cfg: ImageConfig,
        created_by: String,
    ) -> Result<(), BuildError> {
        strip_stale(&mut cfg);
        let engine = self.engine.clone();
        let base = state.image.clone();
        let key = key.clone();
        let pending = self.pending.clone();
        let (img, cfg) = Engine::blocking(move || {
            let history = History { created_by, ..Default::default() };
            let img = engine.images.derive(base.as_ref(), layer, cfg, history)?;
            pending.record(&key, base.as_ref().map(|b| b.id.as_str()).unwrap_or(""), &img.id);
            let cfg = engine.images.config(&img)?;
            Ok((img, cfg))
        })
        .await?;
        state.image = Some(img);
        state.config = cfg;
        Ok(())
    }

    async fn workdir_step(&mut self, state: &mut StageState, path: &str, loc: &Location) -> Result<(), BuildError> {
        let dir = normalize_workdir(&state.config.config.working_dir, path);
        let comment = format!("WORKDIR {dir}");
        let mut cfg = state.config.clone();
        cfg.config.working_dir = dir.clone();
        let created_by = nop_line(&cfg, &comment, true);
        let key = CacheKey::new(state.id(), &created_by, &[]);
        if self.probe(state, &key, &created_by, &cfg).await? {
            return Ok(());
        }
        let (images, base, step) = (self.engine.images.clone(), state.image.clone(), self.ws.step_dir()?);
        let loc2 = loc.clone();
        let layer = Engine::blocking(move || {
            let root = StepRoot::mount(&images, base.as_ref(), step)?;
            if berth_archive::inroot::metadata_in_root(root.path(), &dir).is_ok_and(|m| m.is_dir()) {
                return Ok(None);
            }
            berth_archive::inroot::mkdir_all_in_root(root.path(), &dir).map_err(|e| EngineError::Invalid(format!("{loc2}: mkdir {dir}: {e}")))?;
            root.into_layer(&images, base.as_ref())
        })
        .await?;
        self.commit(state, &key, layer, cfg, created_by).await
    }
}

/// Drops the config fields of the base image that describe how it was made, not this step.
fn strip_stale(cfg: &mut ImageConfig) {
    for stale in ["container_config", "container", "docker_version"] {
        cfg.extra.remove(stale);
    }
}

/// `WORKDIR` relative to the current one, cleaned (`/a/../b` is `/b`).
pub fn normalize_workdir(current: &str, requested: &str) -> String {
    let joined = if requested.starts_with('/') { requested.to_string() } else { format!("/{current}/{requested}") };
    let mut parts: Vec<&str> = Vec::new();
    for comp in joined.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The comment Docker's history records for a config-only instruction (expanded).
fn comment_of(ins: &Instruction, cfg: &ImageConfig) -> String {
    let shell = shell_of(cfg);
    match ins {
        Instruction::Env(e) => format!("ENV {}", e.vars.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect::<Vec<_>>().join(" ")),
        Instruction::Label(l) => format!("LABEL {}", l.labels.iter().map(|kv| format!("{}={}", kv.key, kv.value)).collect::<Vec<_>>().join(" ")),
        Instruction::Cmd(c) => format!("CMD {}", go_quoted(&c.command.to_argv(&shell))),
        Instruction::Entrypoint(e) => format!("ENTRYPOINT {}", go_quoted(&e.command.to_argv(&shell))),
        Instruction::Expose(x) => format!("EXPOSE {}", x.ports.join(" ")),
        Instruction::Volume(v) => format!("VOLUME [{}]", v.paths.join(" ")),
        Instruction::User(u) => format!("USER {}", u.user),
        Instruction::StopSignal(s) => format!("STOPSIGNAL {}", s.signal),
        Instruction::Shell(s) => format!("SHELL [{}]", s.shell.join(" ")),
        Instruction::Onbuild(o) => format!("ONBUILD {}", o.expression),
        Instruction::Maintainer(m) => format!("MAINTAINER {}", m.name),
        Instruction::Healthcheck(h) => match &h.check {
            HealthcheckSpec::None => "HEALTHCHECK &{[\"NONE\"] \"0s\" \"0s\" \"0s\" \"0s\" '\\x00'}".into(),
            HealthcheckSpec::Cmd(c) => format!(
                "HEALTHCHECK &{{{} \"{}\" \"{}\" \"{}\" \"{}\" '\\x{:02x}'}}",
                go_quoted(&h.check.test()),
                go_duration(c.interval_ns),
                go_duration(c.timeout_ns),
                go_duration(c.start_period_ns),
                go_duration(c.start_interval_ns),
                c.retries
            ),
        },
        other => other.source().original.clone(),
    }
}

/// Go's `time.Duration` text for whole and fractional seconds (`30s`, `1m30s`, `0s`).
fn go_duration(ns: u64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let f = format!("{frac:09}");
        out.push_str(&format!("{s}.{}s", f.trim_end_matches('0')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdirs_are_joined_and_cleaned() {
        assert_eq!(normalize_workdir("", "/app"), "/app");
        assert_eq!(normalize_workdir("/app", "src"), "/app/src");
        assert_eq!(normalize_workdir("/app", "../x/./y/"), "/x/y");
        assert_eq!(normalize_workdir("", "rel"), "/rel");
        assert_eq!(normalize_workdir("/a", "/b/../../.."), "/");
    }

    #[test]
    fn history_lines_look_like_dockers() {
        let cfg = ImageConfig::default();
        assert_eq!(nop_line(&cfg, "ENV A=1", false), "/bin/sh -c #(nop)  ENV A=1");
        assert_eq!(nop_line(&cfg, "WORKDIR /app", true), "/bin/sh -c #(nop) WORKDIR /app");
        assert_eq!(go_quoted(&["sh".into(), "-c".into(), "echo \"hi\"".into()]), r#"["sh" "-c" "echo \"hi\""]"#);
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
    }
}
