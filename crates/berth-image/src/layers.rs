//! Unpacked layers, `layers/<chain-id hex>/diff`, each applied once from its tar and shared by
//! every image that stacks it. A layer is unpacked in a temp dir and renamed into place whole,
//! so a crash never leaves a half-applied layer visible. Each layer also gets a short link
//! `l/<id>` so overlay mount options stay within one page.

use std::io::Read;
use std::path::{Path, PathBuf};

use berth_archive::{ApplyOptions, WhiteoutMode};

use crate::digest::{Digest, HashingReader};
use crate::error::ImageError;

/// A registered layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// Size of the uncompressed layer tar.
    pub size: u64,
}

/// The unpacked layers of the store.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
    layers: PathBuf,
    links: PathBuf,
    tmp: PathBuf,
}

impl LayerStore {
    /// Opens (creating) the layer dirs under `root`.
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let s = Self {
            root: root.to_path_buf(),
            layers: root.join("layers"),
            links: root.join("l"),
            tmp: root.join("tmp"),
        };
        for d in [&s.layers, &s.links, &s.tmp, &s.empty_dir()] {
            std::fs::create_dir_all(d).map_err(|e| ImageError::io(d, e))?;
        }
        Ok(s)
    }

    fn dir(&self, chain: &Digest) -> PathBuf {
        self.layers.join(chain.hex())
    }

    /// The unpacked content of a layer.
    pub fn diff_dir(&self, chain: &Digest) -> PathBuf {
        self.dir(chain).join("diff")
    }

    /// An always-empty dir, the lower layer of images without layers.
    pub fn empty_dir(&self) -> PathBuf {
        self.root.join("empty")
    }

    /// Whether the layer is registered.
    pub fn exists(&self, chain: &Digest) -> bool {
        self.diff_dir(chain).is_dir()
    }

    /// Unpacks the uncompressed layer tar `reader` on top of `parent`.
    ///
    /// When `expected` is given (the config's diff_id), a stream with another digest is refused
    /// and nothing is registered.
    pub fn apply(&self, parent: Option<&Digest>, reader: impl Read, expected: Option<&Digest>) -> Result<LayerInfo, ImageError> {
        let unpacked = self.unpack(reader, expected)?;
        self.register(unpacked, parent)
    }

    /// Unpacks a layer tar into the temp dir, hashing it once for its diff id; nothing is
    /// visible until [`LayerStore::register`]. A digest other than `expected` is refused.
    pub fn unpack(&self, reader: impl Read, expected: Option<&Digest>) -> Result<Unpacked, ImageError> {
        let mut hashing = HashingReader::new(reader);
        let mut unpacked = self.unpack_with(&mut hashing)?;
        hashing.drain().map_err(|e| ImageError::io(&unpacked.tmp, e))?;
        let (diff_id, size) = hashing.finish();
        if let Some(want) = expected {
            if *want != diff_id {
                return Err(ImageError::DigestMismatch { expected: want.to_string(), actual: diff_id.to_string() });
            }
        }
        unpacked.diff_id = diff_id;
        unpacked.size = size;
        Ok(unpacked)
    }

    /// Unpacks a layer tar whose digest the caller verifies itself (an uncompressed blob whose
    /// digest is its diff id, checked as it downloads): the bytes are counted, not hashed again.
    /// The caller must not register the result unless its own check passed.
    pub fn unpack_verified_elsewhere(&self, reader: impl Read, diff_id: &Digest) -> Result<Unpacked, ImageError> {
        let mut counting = CountingReader { inner: reader, count: 0 };
        let mut unpacked = self.unpack_with(&mut counting)?;
        std::io::copy(&mut counting, &mut std::io::sink()).map_err(|e| ImageError::io(&unpacked.tmp, e))?;
        unpacked.diff_id = diff_id.clone();
        unpacked.size = counting.count;
        Ok(unpacked)
    }

    fn unpack_with(&self, reader: &mut impl Read) -> Result<Unpacked, ImageError> {
        let tmp = self.tmp.join(format!("layer-{}", crate::random_hex(8)));
        let diff = tmp.join("diff");
        std::fs::create_dir_all(&diff).map_err(|e| ImageError::io(&diff, e))?;
        // Owns the temp dir from here: an error drops it, which removes it.
        let unpacked = Unpacked { tmp, diff_id: Digest::of(b""), size: 0 };
        let flusher = Flusher::start(&self.tmp);
        let mut flushing = FlushingReader { inner: reader, flusher: &flusher, since: 0 };
        berth_archive::apply_layer(&diff, &mut flushing, &ApplyOptions { whiteouts: WhiteoutMode::Overlay, same_owner: true })?;
        Ok(unpacked)
    }

    /// Makes an unpacked layer visible on top of `parent`. One `syncfs` of the store's
    /// filesystem makes every file of the layer durable before the rename that publishes it,
    /// so a crash at any point leaves the layer absent or whole.
    pub fn register(&self, mut unpacked: Unpacked, parent: Option<&Digest>) -> Result<LayerInfo, ImageError> {
        let diff_id = unpacked.diff_id.clone();
        let size = unpacked.size;
        let chain_id = match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
        };
        let info = LayerInfo { chain_id: chain_id.clone(), diff_id: diff_id.clone(), size };
        if self.exists(&chain_id) {
            return Ok(info);
        }
        let tmp = unpacked.tmp.clone();
        let short = crate::random_short_id();
        let meta = serde_json::json!({"diff_id": diff_id.as_str(), "size": size, "link": short, "parent": parent.map(|p| p.to_string())});
        std::fs::write(tmp.join("layer.json"), meta.to_string()).map_err(|e| ImageError::io(&tmp, e))?;
        syncfs(&tmp)?;
        let dest = self.dir(&chain_id);
        match std::fs::rename(&tmp, &dest) {
            Ok(()) => unpacked.tmp = PathBuf::new(),
            // Another writer registered the same layer first: theirs is as good as ours.
            Err(_) if self.exists(&chain_id) => return Ok(info),
            Err(e) => return Err(ImageError::io(&dest, e)),
        }
        self.ensure_link(&chain_id)?;
        Ok(info)
    }

    /// The short path of a layer's diff dir, for overlay lowerdir lists.
    pub fn link_path(&self, chain: &Digest) -> Result<PathBuf, ImageError> {
        self.ensure_link(chain)
    }

    /// The short path (`<root>/l/<id>`) of a layer's diff dir, recreating the link if a crash
    /// lost it.
    fn ensure_link(&self, chain: &Digest) -> Result<PathBuf, ImageError> {
        let meta_path = self.dir(chain).join("layer.json");
        let meta: serde_json::Value = std::fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ImageError::NotFound(format!("layer {chain}")))?;
        let short = meta["link"].as_str().unwrap_or_default().to_string();
        if short.is_empty() || !short.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ImageError::Invalid(format!("layer {chain} has a bad link")));
        }
        let link = self.links.join(&short);
        if std::fs::symlink_metadata(&link).is_err() {
            let target = PathBuf::from("../layers").join(chain.hex()).join("diff");
            std::os::unix::fs::symlink(&target, &link).map_err(|e| ImageError::io(&link, e))?;
        }
        Ok(link)
    }

    /// The diff id and size recorded for a layer.
    pub fn info(&self, chain: &Digest) -> Result<LayerInfo, ImageError> {
        let meta_path = self.dir(chain).join("layer.json");
        let meta: serde_json::Value = std::fs::read(&meta_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| ImageError::NotFound(format!("layer {chain}")))?;
        let diff_id = Digest::parse(meta["diff_id"].as_str().unwrap_or_default())
            .map_err(|e| ImageError::Invalid(e.to_string()))?;
        Ok(LayerInfo { chain_id: chain.clone(), diff_id, size: meta["size"].as_u64().unwrap_or(0) })
    }

    /// Deletes a layer and its link.
    pub fn remove(&self, chain: &Digest) {
        if let Ok(meta) = std::fs::read(self.dir(chain).join("layer.json")) {
            if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&meta) {
                if let Some(short) = v["link"].as_str().filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric())) {
                    let _ = std::fs::remove_file(self.links.join(short));
                }
            }
        }
        // Rename first so a crash mid-delete never leaves a half-deleted layer that looks whole.
        let doomed = self.tmp.join(format!("rm-{}", crate::random_hex(8)));
        if std::fs::rename(self.dir(chain), &doomed).is_ok() {
            let _ = std::fs::remove_dir_all(&doomed);
        }
    }

    /// The chain ids of every registered layer.
    pub fn all(&self) -> Vec<Digest> {
        let Ok(rd) = std::fs::read_dir(&self.layers) else { return Vec::new() };
        rd.filter_map(|e| e.ok())
            .filter_map(|e| Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok())
            .collect()
    }

    /// Removes leftovers of interrupted work (temp layers, half-deleted layers).
    pub fn clean_tmp(&self) {
        if let Ok(rd) = std::fs::read_dir(&self.tmp) {
            for e in rd.flatten() {
                let p = e.path();
                let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
    }
}

/// A layer unpacked in the store's temp dir, removed on drop unless registered.
#[derive(Debug)]
pub struct Unpacked {
    tmp: PathBuf,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub size: u64,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Flushes the filesystem holding `path` (every dirty file of it, one call instead of one
/// fsync per unpacked file).
pub fn syncfs(path: &Path) -> Result<(), ImageError> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(path).map_err(|e| ImageError::io(path, e))?;
    nix::unistd::syncfs(dir.as_raw_fd()).map_err(|e| ImageError::io(path, e.into()))
}

/// Bytes unpacked between two early flushes.
const FLUSH_EVERY: u64 = 32 << 20;

/// A thread that starts writeback of what an unpack has written so far (a `syncfs` in the
/// background), so the final `syncfs` before the layer is registered finds little left to do
/// instead of the whole layer.
struct Flusher {
    tx: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Flusher {
    fn start(dir: &Path) -> Self {
        let Ok(file) = std::fs::File::open(dir) else { return Self { tx: None, thread: None } };
        let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("layer-flush".into())
            .spawn(move || {
                use std::os::fd::AsRawFd;
                while rx.recv().is_ok() {
                    // An error only means the final, checked syncfs has more to do.
                    let _ = nix::unistd::syncfs(file.as_raw_fd());
                }
            })
            .ok();
        Self { tx: Some(tx), thread }
    }

    /// Asks for a flush unless one is already pending.
    fn poke(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct FlushingReader<'a, R> {
    inner: R,
    flusher: &'a Flusher,
    since: u64,
}

impl<R: Read> Read for FlushingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.since += n as u64;
        if self.since >= FLUSH_EVERY {
            self.since = 0;
            self.flusher.poke();
        }
        Ok(n)
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}
