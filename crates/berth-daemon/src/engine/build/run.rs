//! `RUN` steps: a container from the current image runs the command through the shim, like
//! any container; its output streams into the build, and its writable layer becomes the
//! step's layer. As in Docker: no entrypoint, no healthcheck, the build args in effect as
//! environment (and in the cache key, as `|N k=v …` before the command), log driver `none`,
//! the container removed after success (`--rm`, default) and also after failure only with
//! `--force-rm`.

use berth_api::types::{ContainerConfig, ContainerCreateRequest, HealthConfig, HostConfig, LogConfig};
use berth_build::{CommandForm, Location, Run};

use super::cache::CacheKey;
use super::rootfs::{drop_mount_points, top_chain};
use super::stage::{Builder, StageState, BUILTIN_ARGS};
use super::steps::shell_of;
use super::{short_id, BuildError};
use crate::engine::lifecycle::WaitCondition;
use crate::engine::record::ContainerDirs;
use crate::engine::Engine;

/// Where a `RUN <<EOF` script with a shebang is mounted, as BuildKit does.
const PIPES: &str = "/dev/pipes";

/// The argv a `RUN` runs, and for a heredoc script with a shebang, the script file
/// (name, content) to mount at [`PIPES`].
pub fn command_line(run: &Run, shell: &[String]) -> (Vec<String>, Option<(String, String)>) {
    let line = match &run.command {
        CommandForm::Exec(args) => return (args.clone(), None),
        CommandForm::Shell(line) => line,
    };
    let with_shell = |cmd: String| shell.iter().cloned().chain(std::iter::once(cmd)).collect::<Vec<_>>();
    let Some(first) = run.heredocs.first() else { return (with_shell(line.clone()), None) };
    let word = line.trim();
    let single = run.heredocs.len() == 1 && word.starts_with("<<") && !word.contains(char::is_whitespace);
    if single && first.content.starts_with("#!") {
        let path = format!("{PIPES}/{}", first.name);
        return (with_shell(path), Some((first.name.clone(), first.content.clone())));
    }
    if single {
        return (with_shell(first.content.clone()), None);
    }
    let mut full = line.clone();
    for doc in &run.heredocs {
        full.push('\n');
        full.push_str(&doc.content);
        full.push_str(&doc.name);
    }
    (with_shell(full), None)
}

/// Appends `data` to `carry` and returns the longest valid UTF-8 text, keeping an
/// incomplete trailing character for the next chunk.
fn take_text(carry: &mut Vec<u8>, data: &[u8]) -> String {
    carry.extend_from_slice(data);
    let upto = match std::str::from_utf8(carry) {
        Ok(_) => carry.len(),
        Err(e) if e.error_len().is_none() => e.valid_up_to(),
        Err(_) => carry.len(),
    };
    let rest = carry.split_off(upto);
    let text = String::from_utf8_lossy(carry).into_owned();
    *carry = rest;
    text
}

impl Builder {
    /// `RUN`.
    pub async fn run_step(&mut self, state: &mut StageState, run: &Run, loc: &Location) -> Result<(), BuildError> {
        if let Some(flag) = run.flags.first() {
            return Err(BuildError::at(loc, format!("the --{} option requires BuildKit, which this builder does not implement", flag.name)));
        }
        let (argv, script) = command_line(run, &shell_of(&state.config));
        let args = self.arg_scope(state);
        let mut keyed: Vec<String> =
            args.iter().filter(|(k, _)| !BUILTIN_ARGS.contains(&k.as_str()) || self.referenced.contains(k)).map(|(k, v)| format!("{k}={v}")).collect();
        keyed.sort();
        let mut saved = Vec::new();
        if !keyed.is_empty() {
            saved.push(format!("|{}", keyed.len()));
            saved.extend(keyed);
        }
        saved.extend(argv.iter().cloned());
        let created_by = saved.join(" ");
        let script_text = script.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
        let key = CacheKey::new(state.id(), &created_by, &[&script_text]);
        let cfg = state.config.clone();
        if self.probe(state, &key, &created_by, &cfg).await? {
            return Ok(());
        }
        let Some(image) = state.image.clone() else {
            return Err(BuildError::at(loc, "cannot RUN in an empty image: FROM scratch has no files yet"));
        };
        let binds = match &script {
            Some((name, text)) => {
                let dir = self.ws.script_dir(name, text.as_bytes())?;
                vec![format!("{}:{PIPES}:ro", dir.display())]
            }
            None => Vec::new(),
        };
        let env: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let id = self.create_run_container(&image.id, argv.clone(), env, binds).await.map_err(|e| BuildError::at(loc, e))?;
        self.out.say(format!(" ---> Running in {}\n", short_id(&id))).await?;
        let code = match self.run_container(&id).await {
            Ok(code) => code,
            Err(e) => return Err(self.failed(&id, e).await),
        };
        if code != 0 {
            let err = BuildError::RunFailed { command: argv.join(" "), code };
            return Err(self.failed(&id, err).await);
        }
        let layer = self.commit_container(&id, &image).await.map_err(|e| BuildError::at(loc, e))?;
        self.commit(state, &key, Some(layer), cfg, created_by).await?;
        if self.opts.remove || self.opts.force_remove {
            self.remove_run_container(&id).await?;
        }
        Ok(())
    }

    async fn create_run_container(&self, image: &str, argv: Vec<String>, env: Vec<String>, binds: Vec<String>) -> Result<String, crate::error::EngineError> {
        let network_mode = match self.opts.network_mode.as_str() {
            "default" => String::new(),
            other => other.to_string(),
        };
        let req = ContainerCreateRequest {
            config: ContainerConfig {
                image: image.to_string(),
                cmd: Some(argv),
                entrypoint: Some(Vec::new()),
                env,
                attach_stdout: true,
                attach_stderr: true,
                healthcheck: Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }),
                ..Default::default()
            },
            host_config: HostConfig {
                binds,
                network_mode,
                log_config: LogConfig { typ: "none".into(), ..Default::default() },
                extra_hosts: self.opts.extra_hosts.clone(),
                shm_size: self.opts.shm_size,
                ..Default::default()
            },
            ..Default::default()
        };
        Ok(self.engine.create_container(None, req).await?.id)
    }

    /// Starts the container, streams its output, and returns its exit code. A client that
    /// goes away stops and removes the container.
    async fn run_container(&self, id: &str) -> Result<i64, BuildError> {
        let engine = &self.engine;
        let h = engine.containers.get(id)?;
        let ticket = engine.attach(&h, false, true, true).await?;
        let before = h.signal.borrow().clone();
        engine.start_container(id).await?;
        let (mut reader, _writer) = ticket.connection().await?.split();
        let mut carry = Vec::new();
        while let Ok(Some((kind, data))) = reader.next().await {
            use berth_runtime::protocol::FrameKind;
            if !matches!(kind, FrameKind::Stdout | FrameKind::Stderr) {
                continue;
            }
            let text = take_text(&mut carry, &data);
            if !text.is_empty() {
                self.out.say(text).await?;
            }
        }
        if !carry.is_empty() {
            self.out.say(String::from_utf8_lossy(&carry).into_owned()).await?;
        }
        let status = engine.wait(h, WaitCondition::NextExit, before).await;
        Ok(status.status_code)
    }

    /// After a failed `RUN`: removes the container with `--force-rm` (or when the client is
    /// gone), keeps it otherwise, as Docker does; returns `err`.
    async fn failed(&self, id: &str, err: BuildError) -> BuildError {
        if self.opts.force_remove || matches!(err, BuildError::Cancelled) {
            let _ = self.engine.remove_container(id, true, true).await;
            if !matches!(err, BuildError::Cancelled) {
                let _ = self.out.say(format!(" ---> Removed intermediate container {}\n", short_id(id))).await;
            }
        }
        err
    }

    async fn remove_run_container(&self, id: &str) -> Result<(), BuildError> {
        match self.engine.remove_container(id, true, true).await {
            Ok(()) => self.out.say(format!(" ---> Removed intermediate container {}\n", short_id(id))).await,
            Err(e) => self.out.say(format!("Removing intermediate container {}: {e}\n", short_id(id))).await,
        }
    }

    /// The container's writable layer, minus runtime mount points, as a layer on `image`.
    async fn commit_container(&self, id: &str, image: &berth_image::ImageRecord) -> Result<berth_image::LayerRecord, crate::error::EngineError> {
        let upper = ContainerDirs::new(&self.engine.config.data_root, id).upper();
        let (images, image) = (self.engine.images.clone(), image.clone());
        Engine::blocking(move || {
            drop_mount_points(&upper)?;
            Ok(images.layer_from_upper(top_chain(Some(&image))?.as_ref(), &upper)?)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Run {
        let df = berth_build::Dockerfile::parse(&format!("FROM scratch\n{text}\n")).expect("parse");
        match df.stages[0].instructions[0].clone() {
            berth_build::Instruction::Run(r) => r,
            other => panic!("not a RUN: {other:?}"),
        }
    }

    #[test]
    fn heredoc_forms_become_commands() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(command_line(&run("RUN echo hi"), &sh).0, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(command_line(&run("RUN [\"a\", \"b\"]"), &sh).0, ["a", "b"]);
        let (argv, script) = command_line(&run("RUN <<EOF\necho one\necho two\nEOF"), &sh);
        assert_eq!(argv, ["/bin/sh", "-c", "echo one\necho two\n"]);
        assert!(script.is_none());
        let (argv, script) = command_line(&run("RUN <<EOF\n#!/bin/sh\necho x\nEOF"), &sh);
        assert_eq!(argv, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
        assert_eq!(script, Some(("EOF".to_string(), "#!/bin/sh\necho x\n".to_string())));
        let (argv, _) = command_line(&run("RUN cat <<EOF > /f\nhello\nEOF"), &sh);
        assert_eq!(argv, ["/bin/sh", "-c", "cat <<EOF > /f\nhello\nEOF"]);
    }

    #[test]
    fn output_text_keeps_split_characters_whole() {
        let mut carry = Vec::new();
        let bytes = "é!".as_bytes();
        assert_eq!(take_text(&mut carry, &bytes[..1]), "");
        assert_eq!(take_text(&mut carry, &bytes[1..]), "é!");
        assert!(carry.is_empty());
    }
}
