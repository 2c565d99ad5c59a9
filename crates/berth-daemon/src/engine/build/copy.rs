//! `COPY` and `ADD` steps: find the sources (the context, or the mounted image of
//! `--from=<stage|index|image>`), expand globs, checksum them for the cache key, and on a miss
//! copy them into an overlay of the current image whose changes become the step's layer.
//!
//! Source paths are confined to their root: a path whose `..` climb out of the context is
//! refused by name ("forbidden path outside the build context"), and everything else is
//! resolved inside the root by `berth_archive::inroot`. Destinations are relative to
//! `WORKDIR` and written through the same in-root resolution (see [`super::copy_apply`]).

use std::path::Path;
use std::sync::Arc;

use berth_build::{CopySource, Location};
use berth_image::ImageRecord;

use super::cache::CacheKey;
use super::context::Context;
use super::copy_apply::{self, Attrs, CopyJob, Origin, Source};
use super::index::Lookup;
use super::rootfs::StepRoot;
use super::stage::{Builder, StageState};
use super::steps::{nop_line, normalize_workdir};
use super::BuildError;
use crate::engine::Engine;
use crate::error::EngineError;

/// What one `COPY`/`ADD` asks for, expanded.
struct Request<'a> {
    cmd: &'static str,
    from: Option<&'a str>,
    chown: Option<&'a str>,
    chmod: Option<&'a str>,
    sources: &'a [CopySource],
    dest: &'a str,
    decompress: bool,
    unsupported: Vec<&'static str>,
}

/// Where sources are read from: the context, or a mounted image (kept mounted as long as
/// this lives).
struct SourceRoot {
    path: std::path::PathBuf,
    image_id: String,
    /// The build context (unpacked only when the disk is needed).
    context: Option<Arc<Context>>,
    _mount: Option<StepRoot>,
}

/// A tree sources are looked up in: a directory on disk, or the context's index. `None`
/// answers mean the tree cannot tell.
pub trait SourceTree {
    /// Whether `rel` exists (symlinks followed inside the tree).
    fn exists(&self, rel: &str) -> Option<bool>;
    /// The names in directory `rel`, sorted, each with whether it is a directory.
    fn list(&self, rel: &str) -> Option<std::io::Result<Vec<(String, bool)>>>;
}

/// A directory on disk, read with in-root resolution.
struct DiskTree<'a>(&'a Path);

impl SourceTree for DiskTree<'_> {
    fn exists(&self, rel: &str) -> Option<bool> {
        Some(berth_archive::inroot::metadata_in_root(self.0, rel).is_ok())
    }

    fn list(&self, rel: &str) -> Option<std::io::Result<Vec<(String, bool)>>> {
        Some(berth_archive::inroot::list_in_root(self.0, rel).map(|v| v.into_iter().map(|(n, d)| (n.to_string_lossy().into_owned(), d)).collect()))
    }
}

impl Builder {
    /// `COPY`.
    pub async fn copy_step(&mut self, state: &mut StageState, c: &berth_build::Copy, loc: &Location) -> Result<(), BuildError> {
        let mut unsupported = Vec::new();
        if c.link {
            unsupported.push("link");
        }
        if c.parents {
            unsupported.push("parents");
        }
        if !c.excludes.is_empty() {
            unsupported.push("exclude");
        }
        let req = Request {
            cmd: "COPY",
            from: c.from.as_deref(),
            chown: c.chown.as_deref(),
            chmod: c.chmod.as_deref(),
            sources: &c.sources,
            dest: &c.dest,
            decompress: false,
            unsupported,
        };
        self.copy_like(state, req, loc).await
    }

    /// `ADD`: `COPY` plus unpacking of local tar archives and downloads of URLs
    /// ([`super::remote`]).
    pub async fn add_step(&mut self, state: &mut StageState, a: &berth_build::Add, loc: &Location) -> Result<(), BuildError> {
        let mut unsupported = Vec::new();
        if a.link {
            unsupported.push("link");
        }
        if a.checksum.is_some() {
            unsupported.push("checksum");
        }
        if !a.excludes.is_empty() {
            unsupported.push("exclude");
        }
        let req = Request {
            cmd: "ADD",
            from: None,
            chown: a.chown.as_deref(),
            chmod: a.chmod.as_deref(),
            sources: &a.sources,
            dest: &a.dest,
            decompress: a.unpack != Some(false),
            unsupported,
        };
        self.copy_like(state, req, loc).await
    }

    async fn copy_like(&mut self, state: &mut StageState, req: Request<'_>, loc: &Location) -> Result<(), BuildError> {
        if let Some(flag) = req.unsupported.first() {
            return Err(BuildError::at(loc, format!("the --{flag} option requires BuildKit, which this builder does not implement")));
        }
        let chmod = req.chmod.map(parse_chmod).transpose().map_err(|e| BuildError::at(loc, e))?;
        let dest = normalize_dest(&state.config.config.working_dir, req.dest);
        let src = self.source_root(req.from, loc).await?;
        let (local, urls): (Vec<CopySource>, Vec<String>) = split_urls(req.sources, req.cmd);
        let downloads = self.download_all(&urls, &dest, loc).await?;
        let (sources, hash) = self.plan(&src, &local, &downloads, req.cmd, &dest, loc).await?;
        let mut comment = format!("{} ", req.cmd);
        if let Some(chown) = req.chown {
            comment.push_str(&format!("--chown={chown} "));
        }
        if let Some(mode) = chmod {
            comment.push_str(&format!("--chmod={mode:o} "));
        }
        comment.push_str(&format!("{hash} in {dest} "));
        let created_by = nop_line(&state.config, &comment, true);
        let key = CacheKey::new(state.id(), &created_by, &[&src.image_id]);
        let cfg = state.config.clone();
        if self.probe(state, &key, &created_by, &cfg).await? {
            return Ok(());
        }
        let (images, base, step) = (self.engine.images.clone(), state.image.clone(), self.ws.step_dir()?);
        let (chown, from_image, decompress, loc2) = (req.chown.map(String::from), req.from.is_some(), req.decompress, loc.clone());
        let layer = Engine::blocking(move || {
            // Context sources the index resolves are copied from the spooled tar; the
            // context is unpacked only for others (and for ADD, which may unpack archives).
            let from_index = match &src.context {
                Some(ctx) if !decompress => sources.iter().all(|s| match s {
                    Source::Path { rel, .. } => matches!(ctx.index.resolve(rel), Lookup::Found(_)),
                    _ => true,
                }),
                _ => false,
            };
            let reads_root = sources.iter().any(|s| matches!(s, Source::Path { .. }));
            if let (Some(ctx), true, false) = (&src.context, reads_root, from_index) {
                ctx.root()?;
            }
            let root = StepRoot::mount(&images, base.as_ref(), step)?;
            let owner = match &chown {
                Some(spec) => Some(resolve_chown(root.path(), spec).map_err(|e| step_err(&loc2, e))?),
                None if from_image => None,
                None => Some((0, 0)),
            };
            let origin = match &src.context {
                Some(ctx) if from_index => Origin::Index(ctx),
                _ => Origin::Disk(&src.path),
            };
            let job = CopyJob { src: origin, dest_root: root.path(), dest: &dest, attrs: Attrs { owner, chmod }, decompress };
            let started = std::time::Instant::now();
            copy_apply::perform(&job, &sources).map_err(|e| step_err(&loc2, format!("{} failed: {e}", if decompress { "ADD" } else { "COPY" })))?;
            drop(src);
            drop(downloads);
            tracing::debug!(elapsed = ?started.elapsed(), "copy written");
            let layer = root.into_layer(&images, base.as_ref());
            tracing::debug!(elapsed = ?started.elapsed(), "copy committed as a layer");
            layer
        })
        .await
        .map_err(|e| self.located(loc, e))?;
        self.commit(state, &key, layer, cfg, created_by).await
    }

    /// An engine error of this step, with the location unless it already has one.
    fn located(&self, loc: &Location, e: EngineError) -> BuildError {
        let text = e.to_string();
        if text.starts_with(&format!("{}:", loc.file)) {
            BuildError::Engine(e)
        } else {
            BuildError::at(loc, text)
        }
    }

    async fn source_root(&mut self, from: Option<&str>, loc: &Location) -> Result<SourceRoot, BuildError> {
        let Some(from) = from else {
            let ctx = self.ws.context.clone();
            return Ok(SourceRoot { path: ctx.dir().to_path_buf(), image_id: String::new(), context: Some(ctx), _mount: None });
        };
        let image: Option<ImageRecord> = match self.stage_ref(from) {
            Some(result) => result,
            None => Some(self.image_for(from).await.map_err(|e| BuildError::at(loc, format!("invalid from flag value {from}: {e}")))?),
        };
        let (images, step) = (self.engine.images.clone(), self.ws.step_dir()?);
        let id = image.as_ref().map(|i| i.id.clone()).unwrap_or_default();
        let mount = Engine::blocking(move || StepRoot::mount(&images, image.as_ref(), step)).await?;
        Ok(SourceRoot { path: mount.path().to_path_buf(), image_id: id, context: None, _mount: Some(mount) })
    }

    /// The result of an earlier stage named `from` (by name or index), `Some(None)` for one
    /// that ended on an empty `scratch`; `None` when `from` names no stage.
    fn stage_ref(&self, from: &str) -> Option<Option<ImageRecord>> {
        if let Ok(i) = from.parse::<usize>() {
            return self.results.get(i).cloned();
        }
        let name = from.to_lowercase();
        let index = self.stage_names.iter().rposition(|n| n.as_deref() == Some(name.as_str()))?;
        self.results.get(index).cloned()
    }

    /// Downloads the URL sources of an `ADD`, each into its own directory of the workspace
    /// (removed when the result is dropped), with its checksum.
    async fn download_all(&self, urls: &[String], dest: &str, loc: &Location) -> Result<Downloads, BuildError> {
        let mut out = Downloads::default();
        if urls.is_empty() {
            return Ok(out);
        }
        let client = self.engine.registry_client();
        for url in urls {
            let dir = self.ws.step_dir()?;
            out.dirs.push(dir.clone());
            let got = super::remote::download(&client, url, &dir).await.map_err(|e| BuildError::at(loc, format!("ADD failed: {e}")))?;
            if got.name.is_none() && dest.ends_with('/') {
                return Err(BuildError::at(loc, format!("ADD failed: cannot determine filename for source {url}")));
            }
            let file = got.file.clone();
            let hash = Engine::blocking(move || copy_apply::remote_hash(&file).map_err(|e| EngineError::internal("checksum download", e))).await?;
            let name = got.name.unwrap_or_else(|| super::remote::UNNAMED.to_string());
            out.sources.push((Source::Remote { file: got.file, name }, hash));
        }
        Ok(out)
    }

    /// Sources after globbing (then the downloaded ones), and their combined checksum.
    /// Sources from the context are answered by its index when it can; otherwise the
    /// context is unpacked and read.
    async fn plan(
        &self,
        src: &SourceRoot,
        raw: &[CopySource],
        downloads: &Downloads,
        cmd: &'static str,
        dest: &str,
        loc: &Location,
    ) -> Result<(Vec<Source>, String), BuildError> {
        let (root, raw, context) = (src.path.clone(), raw.to_vec(), src.context.clone());
        let started = std::time::Instant::now();
        let only_remote = raw.is_empty() && !downloads.sources.is_empty();
        let planned = Engine::blocking(move || {
            if only_remote {
                return Ok(Ok((Vec::new(), Vec::new())));
            }
            if let Some(ctx) = &context {
                if let Some(answer) = super::from_index::plan(&ctx.index, &raw, cmd) {
                    return Ok(answer.map_err(|e| (false, e)));
                }
                ctx.root()?;
            }
            let sources = match plan_sources(&DiskTree(&root), &raw, cmd, context.is_some()) {
                Ok(s) => s.unwrap_or_default(),
                Err(e) => return Ok(Err((false, e))),
            };
            let hashes = sources.iter().map(|s| copy_apply::source_hash(&root, s)).collect::<Result<Vec<_>, _>>();
            Ok(hashes.map(|h| (sources, h)).map_err(|e| (true, format!("checksum sources: {e}"))))
        })
        .await
        .map_err(|e| self.located(loc, e))?;
        let (mut sources, mut hashes) =
            planned.map_err(|(internal, e)| if internal { BuildError::at(loc, e) } else { BuildError::at(loc, format!("{cmd} failed: {e}")) })?;
        for (source, hash) in &downloads.sources {
            sources.push(source.clone());
            hashes.push(hash.clone());
        }
        tracing::debug!(elapsed = ?started.elapsed(), "copy sources checksummed");
        if sources.len() > 1 && !dest.ends_with('/') {
            return Err(BuildError::at(loc, format!("When using {cmd} with more than one source file, the destination must be a directory and end with a /")));
        }
        let hash = match hashes.as_slice() {
            [one] => one.clone(),
            many => format!("multi:{}", berth_image::Digest::of(many.join(",").as_bytes()).hex()),
        };
        Ok((sources, hash))
    }
}

/// The downloaded sources of one `ADD` and their directories, deleted on drop.
#[derive(Default)]
struct Downloads {
    sources: Vec<(Source, String)>,
    dirs: Vec<std::path::PathBuf>,
}

impl Drop for Downloads {
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Splits the URL sources of an `ADD` from the others (in order); `COPY` keeps them all,
/// for [`plan_sources`] to refuse.
fn split_urls(sources: &[CopySource], cmd: &str) -> (Vec<CopySource>, Vec<String>) {
    let mut local = Vec::new();
    let mut urls = Vec::new();
    for s in sources {
        match s {
            CopySource::Path(p) if cmd == "ADD" && super::remote::is_url(p) => urls.push(p.clone()),
            other => local.push(other.clone()),
        }
    }
    (local, urls)
}

fn step_err(loc: &Location, e: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(format!("{loc}: {e}"))
}

/// Expands the raw sources into paths that exist in `tree` (or heredoc files); `Ok(None)`
/// when the tree cannot tell.
pub fn plan_sources(tree: &dyn SourceTree, raw: &[CopySource], cmd: &str, context: bool) -> Result<Option<Vec<Source>>, String> {
    let mut out = Vec::new();
    for source in raw {
        let path = match source {
            CopySource::Heredoc(doc) => {
                out.push(Source::Inline { name: doc.name.clone(), data: doc.content.clone().into_bytes() });
                continue;
            }
            CopySource::Path(p) => p,
        };
        if super::remote::is_url(path) {
            return Err(format!("source can't be a URL for {cmd}"));
        }
        let rel = clean_source(path).ok_or_else(|| format!("forbidden path outside the build context: {path} ()"))?;
        if super::glob::has_wildcards(&rel) {
            let mut unknown = false;
            let mut list = |prefix: &str| match tree.list(prefix) {
                Some(r) => r,
                None => {
                    unknown = true;
                    Err(std::io::Error::other("unknown"))
                }
            };
            let expanded = super::glob::expand_with(&mut list, &rel);
            if unknown {
                return Ok(None);
            }
            let matches = expanded.map_err(|e| format!("{path}: {e}"))?;
            out.extend(matches.into_iter().map(|m| Source::Path { name: base_name(&m), rel: m }));
            continue;
        }
        let Some(exists) = tree.exists(&rel) else {
            return Ok(None);
        };
        if !exists {
            return Err(if context {
                format!("file not found in build context or excluded by .dockerignore: stat {path}: file does not exist")
            } else {
                format!("stat {path}: file does not exist in the source image")
            });
        }
        out.push(Source::Path { name: base_name(&rel), rel });
    }
    if out.is_empty() {
        return Err("no source files were specified".into());
    }
    Ok(Some(out))
}

/// A source path relative to its root, or `None` when its `..` climb out of it (the layer
/// applier places tar paths the same way).
pub(super) fn clean_source(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.trim_start_matches('/').split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

fn base_name(rel: &str) -> String {
    rel.rsplit('/').next().unwrap_or(rel).to_string()
}

/// A destination relative to `WORKDIR`, cleaned, keeping a trailing `/`.
pub fn normalize_dest(workdir: &str, dest: &str) -> String {
    let clean = normalize_workdir(workdir, dest);
    let dir_like = dest.ends_with('/') || dest.ends_with("/.") || dest == ".";
    if dir_like && clean != "/" {
        format!("{clean}/")
    } else {
        clean
    }
}

/// `--chmod`: an octal mode.
fn parse_chmod(s: &str) -> Result<u32, String> {
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(|| format!("invalid chmod parameter: {s:?} (an octal mode is expected)"))
}

/// `--chown=user[:group]` against the destination's `/etc/passwd` and `/etc/group` (read
/// inside its root); a missing group part means a group of the user's name, as in Docker.
fn resolve_chown(root: &Path, spec: &str) -> Result<(u32, u32), String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (user, group) = match parts.as_slice() {
        [u] => (*u, *u),
        [u, g] => (*u, *g),
        _ => return Err(format!("invalid chown string format: {spec}")),
    };
    let uid = lookup(root, "/etc/passwd", user)
        .map_err(|e| format!("unable to convert uid/gid chown string to host mapping: can't find uid for user {user}: {e}"))?;
    let gid = lookup(root, "/etc/group", group)
        .map_err(|e| format!("unable to convert uid/gid chown string to host mapping: can't find gid for group {group}: {e}"))?;
    Ok((uid, gid))
}

fn lookup(root: &Path, file: &str, name: &str) -> Result<u32, String> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    let mut text = String::new();
    if let Ok(f) = berth_archive::inroot::open_in_root(root, file) {
        let _ = std::io::Read::read_to_string(&mut std::io::Read::take(f, 4 << 20), &mut text);
    }
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(2).and_then(|id| id.parse().ok()))
        .ok_or_else(|| format!("no such entry {name:?} in {file}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_never_climb_out() {
        assert_eq!(clean_source("./a/b").as_deref(), Some("a/b"));
        assert_eq!(clean_source("/a/../b").as_deref(), Some("b"));
        assert_eq!(clean_source(".").as_deref(), Some(""));
        assert_eq!(clean_source("../x"), None);
        assert_eq!(clean_source("a/../../x"), None);
    }

    #[test]
    fn destinations_follow_workdir() {
        assert_eq!(normalize_dest("/app", "."), "/app/");
        assert_eq!(normalize_dest("/app", "x"), "/app/x");
        assert_eq!(normalize_dest("/app", "sub/"), "/app/sub/");
        assert_eq!(normalize_dest("", "/abs/f"), "/abs/f");
        assert_eq!(normalize_dest("", "/"), "/");
        assert_eq!(normalize_dest("/app", "../up/"), "/up/");
        assert_eq!(parse_chmod("755"), Ok(0o755));
        assert!(parse_chmod("u+x").is_err());
    }
}
