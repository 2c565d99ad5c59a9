//! A build's private workspace under `<data-root>/build/<id>/`: the unpacked context and one
//! scratch directory per step (overlay upper and work dirs, mount points). Dropping the
//! workspace unmounts and deletes whatever is left; a daemon that died mid-build has its
//! leftovers removed before its next build.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use berth_archive::inroot;
use berth_archive::{apply_layer, ApplyOptions, WhiteoutMode};
use berth_build::DockerIgnore;

use super::index::{ContextIndex, Indexer};
use crate::error::EngineError;

/// Largest Dockerfile read (Docker has no limit; 16 MiB is far beyond any real one).
const MAX_DOCKERFILE: u64 = 16 << 20;

/// Data roots whose stale build workspaces were already cleaned by this process.
static CLEANED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// A build's directory tree.
pub struct Workspace {
    /// `<data-root>/build/<id>`.
    pub dir: PathBuf,
    /// The unpacked context.
    pub context: PathBuf,
    /// Checksums of the context's files, made while unpacking.
    pub index: std::sync::Arc<ContextIndex>,
    steps: AtomicUsize,
}

fn io_err<'a>(what: &str, path: &'a Path) -> impl FnOnce(std::io::Error) -> EngineError + 'a {
    let what = what.to_string();
    move |e| EngineError::internal(&format!("{what} {}", path.display()), e)
}

impl Workspace {
    /// Creates a fresh workspace (after removing the leftovers of a previous daemon).
    pub fn create(data_root: &Path) -> Result<Self, EngineError> {
        let base = data_root.join("build");
        clean_stale_once(&base);
        let dir = base.join(berth_image::random_hex(8));
        let context = dir.join("context");
        std::fs::create_dir_all(&context).map_err(io_err("create", &context))?;
        Ok(Self { dir, context, index: Default::default(), steps: AtomicUsize::new(0) })
    }

    /// A new, empty scratch directory for one step.
    pub fn step_dir(&self) -> Result<PathBuf, EngineError> {
        let n = self.steps.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("s{n}"));
        std::fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        Ok(dir)
    }

    /// Unpacks the context tar (plain or gzip) with the layer applier, which keeps every
    /// entry inside the context directory whatever the tar holds.
    /// Files are checksummed on the side as they stream by ([`ContextIndex`]).
    pub fn unpack(&mut self, body: impl Read) -> Result<(), EngineError> {
        let tar = berth_image::import::decompress(body).map_err(|e| EngineError::Invalid(format!("failed to read build context: {e}")))?;
        let opts = ApplyOptions { whiteouts: WhiteoutMode::Plain, same_owner: true };
        let indexer = Indexer::start().map_err(|e| EngineError::internal("start context indexer", e))?;
        let applied = apply_layer(&self.context, indexer.tee(Terminated::new(tar)), &opts);
        let index = indexer.finish();
        applied.map_err(|e| EngineError::Invalid(format!("failed to read build context: {e}")))?;
        self.index = std::sync::Arc::new(index);
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
            match inroot::metadata_in_root(&self.context, candidate) {
                Ok(m) if m.is_file() => {}
                _ => continue,
            }
            let file = inroot::open_in_root(&self.context, candidate).map_err(io_err("open", Path::new(candidate)))?;
            let mut text = Vec::new();
            file.take(MAX_DOCKERFILE).read_to_end(&mut text).map_err(io_err("read", Path::new(candidate)))?;
            return Ok(text);
        }
        Err(EngineError::Invalid(format!("Cannot locate specified Dockerfile: {name}")))
    }

    /// Removes `.dockerignore` and the Dockerfile from the context when `.dockerignore`
    /// lists them, as Docker does: clients send both regardless, and `COPY . .` must not
    /// pick them up then. Other ignored files were already left out by the client.
    pub fn drop_ignored_build_files(&self, dockerfile: &str) -> Result<(), EngineError> {
        let Ok(file) = inroot::open_in_root(&self.context, ".dockerignore") else { return Ok(()) };
        let mut text = String::new();
        let _ = file.take(MAX_DOCKERFILE).read_to_string(&mut text);
        let ignore = DockerIgnore::parse(&text).map_err(|e| EngineError::Invalid(format!("failed to parse .dockerignore: {e}")))?;
        let dockerfile = if dockerfile.is_empty() { berth_build::DEFAULT_FILE_NAME } else { dockerfile };
        for name in [".dockerignore", dockerfile] {
            let clean = name.trim_start_matches("./");
            if ignore.matches(clean) {
                inroot::remove_file_in_root(&self.context, clean).map_err(io_err("remove", Path::new(clean)))?;
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
struct Terminated<R> {
    inner: Option<R>,
    seen: u64,
    tail: u64,
}

impl<R: Read> Terminated<R> {
    fn new(inner: R) -> Self {
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
