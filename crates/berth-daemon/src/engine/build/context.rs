//! A build's private workspace under `<data-root>/build/<id>/`: the context tar as received
//! ([`Spool`]) with its [`ContextIndex`], the context unpacked only when a step needs it on
//! disk, and one scratch directory per step (overlay upper and work dirs, mount points).
//! Dropping the workspace unmounts and deletes whatever is left; a daemon that died
//! mid-build has its leftovers removed before its next build.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use berth_archive::inroot;
use berth_archive::{apply_layer, ApplyOptions, WhiteoutMode};
use berth_build::DockerIgnore;

use super::index::{self, ContextIndex, Kind, Lookup, Node};
use super::spool::{Recorder, Spool, SpoolReader};
use crate::error::EngineError;

/// Largest Dockerfile read (Docker has no limit; 16 MiB is far beyond any real one).
const MAX_DOCKERFILE: u64 = 16 << 20;

/// Data roots whose stale build workspaces were already cleaned by this process.
static CLEANED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// A build's directory tree.
pub struct Workspace {
    /// `<data-root>/build/<id>`.
    pub dir: PathBuf,
    /// The build context.
    pub context: Arc<Context>,
    steps: AtomicUsize,
}

/// The build context: the tar as received, its index, and the directory it is unpacked
/// into on first need.
pub struct Context {
    dir: PathBuf,
    spool: Spool,
    /// What the tar holds (see [`ContextIndex`]).
    pub index: ContextIndex,
    /// Build files `.dockerignore` drops, removed from the directory once unpacked.
    dropped: Vec<String>,
    unpacked: Mutex<bool>,
}

fn io_err<'a>(what: &str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    let what = what.to_string();
    move |e| EngineError::internal(&format!("{what} {}", path.display()), e)
}

impl Context {
    /// The context directory, unpacked from the spool on the first call (with the layer
    /// applier, which keeps every entry inside it whatever the tar holds).
    pub fn root(&self) -> Result<&Path, EngineError> {
        let mut done = self.unpacked.lock().unwrap_or_else(|p| p.into_inner());
        if !*done {
            let started = std::time::Instant::now();
            std::fs::create_dir_all(&self.dir).map_err(io_err("create", &self.dir))?;
            let opts = ApplyOptions { whiteouts: WhiteoutMode::Plain, same_owner: true };
            apply_layer(&self.dir, self.spool.all(), &opts).map_err(|e| EngineError::Invalid(format!("failed to read build context: {e}")))?;
            for name in &self.dropped {
                inroot::remove_file_in_root(&self.dir, name).map_err(io_err("remove", Path::new(name)))?;
            }
            *done = true;
            tracing::debug!(elapsed = ?started.elapsed(), "build context unpacked");
        }
        Ok(&self.dir)
    }

    /// Where the context is (or will be) unpacked.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The content of a regular file of the index.
    pub fn content(&self, node: &Node) -> SpoolReader<'_> {
        self.spool.range(node.offset, node.size)
    }

    /// Up to `limit` bytes of the file at `rel` (symlinks followed inside the context),
    /// `None` when there is no regular file there.
    fn read_small(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, EngineError> {
        let mut text = Vec::new();
        match self.index.resolve(rel) {
            Lookup::Found(n) if n.kind == Kind::File => {
                self.content(n).take(limit).read_to_end(&mut text).map_err(io_err("read", Path::new(rel)))?;
            }
            Lookup::Found(_) | Lookup::Missing => return Ok(None),
            Lookup::Unknown => {
                let root = self.root()?;
                match inroot::metadata_in_root(root, rel) {
                    Ok(m) if m.is_file() => {}
                    _ => return Ok(None),
                }
                let file = inroot::open_in_root(root, rel).map_err(io_err("open", Path::new(rel)))?;
                file.take(limit).read_to_end(&mut text).map_err(io_err("read", Path::new(rel)))?;
            }
        }
        Ok(Some(text))
    }
}

impl Workspace {
    /// Creates a fresh workspace (after removing the leftovers of a previous daemon).
    pub fn create(data_root: &Path) -> Result<Self, EngineError> {
        let base = data_root.join("build");
        clean_stale_once(&base);
        let dir = base.join(berth_image::random_hex(8));
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let context = Context {
            dir: dir.join("context"),
            spool: Spool::new(dir.join("context.tar")),
            index: ContextIndex::default(),
            dropped: Vec::new(),
            unpacked: Mutex::new(false),
        };
        Ok(Self { dir, context: Arc::new(context), steps: AtomicUsize::new(0) })
    }

    /// A new, empty scratch directory for one step.
    pub fn step_dir(&self) -> Result<PathBuf, EngineError> {
        let n = self.steps.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("s{n}"));
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(dir)
    }

    /// Receives the context tar (plain or gzip) into the spool, indexing it on the way.
    /// A tar the index cannot describe is unpacked right away, so that a broken one fails
    /// here, before the build's output starts.
    pub fn receive(&mut self, body: impl Read) -> Result<(), EngineError> {
        let tar = berth_image::import::decompress(body).map_err(|e| EngineError::Invalid(format!("failed to read build context: {e}")))?;
        let ctx = Arc::get_mut(&mut self.context).ok_or_else(|| EngineError::Internal("build context already shared".into()))?;
        ctx.index = index::scan(Recorder { inner: Terminated::new(tar), spool: &mut ctx.spool });
        if !ctx.index.trusted() {
            self.context.root()?;
        }
        Ok(())
    }

    /// The Dockerfile's bytes, read inside the context (`Dockerfile`, then `dockerfile`).
    pub fn read_dockerfile(&self, name: &str) -> Result<Vec<u8>, EngineError> {
        let name = if name.is_empty() { berth_build::DEFAULT_FILE_NAME } else { name };
        let mut candidates = vec![name.to_string()];
        if name == berth_build::DEFAULT_FILE_NAME {
            candidates.push("dockerfile".into());
        }
        for candidate in &candidates {
            let Some(rel) = super::copy::clean_source(candidate) else {
                continue;
            };
            if let Some(text) = self.context.read_small(&rel, MAX_DOCKERFILE)? {
                return Ok(text);
            }
        }
        Err(EngineError::Invalid(format!("Cannot locate specified Dockerfile: {name}")))
    }

    /// Removes `.dockerignore` and the Dockerfile from the context when `.dockerignore`
    /// lists them, as Docker does: clients send both regardless, and `COPY . .` must not
    /// pick them up then. Other ignored files were already left out by the client.
    pub fn drop_ignored_build_files(&mut self, dockerfile: &str) -> Result<(), EngineError> {
        let Some(raw) = self.context.read_small(".dockerignore", MAX_DOCKERFILE)? else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&raw);
        let ignore = DockerIgnore::parse(&text).map_err(|e| EngineError::Invalid(format!("failed to parse .dockerignore: {e}")))?;
        let dockerfile = if dockerfile.is_empty() { berth_build::DEFAULT_FILE_NAME } else { dockerfile };
        let ctx = Arc::get_mut(&mut self.context).ok_or_else(|| EngineError::Internal("build context already shared".into()))?;
        let unpacked = *ctx.unpacked.lock().unwrap_or_else(|p| p.into_inner());
        for name in [".dockerignore", dockerfile] {
            let clean = name.trim_start_matches("./");
            if ignore.matches(clean) {
                ctx.index.remove_file(clean);
                if unpacked {
                    inroot::remove_file_in_root(&ctx.dir, clean).map_err(io_err("remove", Path::new(clean)))?;
                } else {
                    ctx.dropped.push(clean.to_string());
                }
            }
        }
        Ok(())
    }

    /// Writes `data` as a new file in a fresh step directory and returns that directory
    /// (used for `RUN <<EOF` scripts, bind-mounted read-only into the step's container).
    pub fn script_dir(&self, name: &str, data: &[u8]) -> Result<PathBuf, EngineError> {
        let dir = self.step_dir()?;
        let path = dir.join(name);
        let mut f = std::fs::File::create(&path).map_err(io_err("create", &path))?;
        f.write_all(data).map_err(io_err("write", &path))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).map_err(io_err("chmod", &path))?;
        Ok(dir)
    }
}

/// A tar stream completed with what a producer may have left off: the padding of the last
/// entry and the end-of-archive blocks. The docker CLI closes the pipe of the context it
/// rewrites for `-f -` before its tar writer writes them; Go's reader, and so Docker's
/// daemon, treats that end as clean, so we must too.
pub struct Terminated<R> {
    inner: Option<R>,
    seen: u64,
    tail: u64,
}

impl<R: Read> Terminated<R> {
    /// Completes `inner`.
    pub fn new(inner: R) -> Self {
        Self { inner: Some(inner), seen: 0, tail: 0 }
    }
}

impl<R: Read> Read for Terminated<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(inner) = &mut self.inner {
            let n = inner.read(buf)?;
            if n > 0 {
                self.seen += n as u64;
                return Ok(n);
            }
            self.inner = None;
            self.tail = (512 - self.seen % 512) % 512 + 1024;
        }
        let n = buf.len().min(usize::try_from(self.tail).unwrap_or(usize::MAX));
        buf[..n].fill(0);
        self.tail -= n as u64;
        Ok(n)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        remove_tree(&self.dir);
    }
}

/// Unmounts anything still mounted under `dir` (deepest first), then deletes it.
pub fn remove_tree(dir: &Path) {
    let prefix = format!("{}/", dir.display());
    let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(String::from))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in mounts {
        if let Err(e) = berth_image::mount::unmount(Path::new(&m)) {
            tracing::warn!("build workspace: unmount {m}: {e}");
        }
    }
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("build workspace: remove {}: {e}", dir.display());
        }
    }
}

/// The first build of this process under `base` removes what an earlier daemon left there.
fn clean_stale_once(base: &Path) {
    let mut cleaned = CLEANED.lock().unwrap_or_else(|p| p.into_inner());
    if cleaned.get_or_insert_with(HashSet::new).insert(base.to_path_buf()) {
        remove_tree(base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unterminated_tar_is_completed() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "f", &b"abc"[..]).unwrap_or_default();
        let full = b.into_inner().unwrap_or_default();
        // What the docker CLI sends: the data of the last entry, then nothing.
        let cut = &full[..512 + 3];
        let mut fixed = Vec::new();
        Terminated::new(cut).read_to_end(&mut fixed).unwrap_or_default();
        assert_eq!(fixed.len(), 512 * 4);
        let names: Vec<String> = tar::Archive::new(fixed.as_slice())
            .entries()
            .map(|es| es.filter_map(|e| e.ok().and_then(|e| e.path().ok().map(|p| p.display().to_string()))).collect())
            .unwrap_or_default();
        assert_eq!(names, ["f"]);
    }
}
