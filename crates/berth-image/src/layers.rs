//! Unpacked layers, `layers/<chain-id hex>/diff`, each applied once from its tar and shared by
//! every image that stacks it. A layer is unpacked in a temp dir, made durable (only its own
//! files and dirs are synced, see `berth_archive::apply_layer_with`) and renamed into place
//! whole, so a crash never leaves a half-applied layer or one with empty files visible. Each
//! layer also gets a short link `l/<id>` so overlay mount options stay within one page.
//!
//! Next to `diff` a layer keeps `tar-split`, a record from which its tar is rebuilt byte for
//! byte ([`LayerStore::write_tar`]), so the store need not keep an uncompressed copy of the
//! tar for `push` and `save` (and `tar-split.d`, files the layer replaced itself, when there
//! are any). A layer without a record (registered by an older berth, or whose record could not
//! be made exact) needs its blob kept.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use berth_archive::{ApplyExtras, ApplyOptions, WhiteoutMode};

use crate::digest::Digest;
use crate::error::ImageError;

/// A registered layer.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerInfo {
    pub chain_id: Digest,
    pub diff_id: Digest,
    /// Size of the uncompressed layer tar.
    pub size: u64,
    /// Whether [`LayerStore::write_tar`] can give back the layer's tar.
    pub rebuildable: bool,
}

/// The split record's name in a layer dir.
const SPLIT: &str = "tar-split";
/// Where a layer keeps the files it replaced itself, for its split record.
const STASH: &str = "tar-split.d";

/// The unpacked layers of the store.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
    layers: PathBuf,
    links: PathBuf,
    tmp: PathBuf,
}

/// The files [`LayerStore::mount_targets_dir`] holds under `/etc`.
const MOUNT_TARGETS: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

impl LayerStore {
    /// Opens (creating) the layer dirs under `root`.
    pub fn open(root: &Path) -> Result<Self, ImageError> {
        let s = Self { root: root.to_path_buf(), layers: root.join("layers"), links: root.join("l"), tmp: root.join("tmp") };
        for d in [&s.layers, &s.links, &s.tmp, &s.empty_dir()] {
            std::fs::create_dir_all(d).map_err(|e| ImageError::io(d, e))?;
        }
        s.ensure_mount_targets()?;
        Ok(s)
    }

    /// A lower layer shared by every container, above its image: empty files where the runtime
    /// bind-mounts `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`.
    ///
    /// Without it, each start of a container whose image lacks them creates them in the
    /// container's writable layer (four new inodes, `/etc` copied up), which then show in
    /// `commit`. Docker keeps the same files in a per-container init layer.
    pub fn mount_targets_dir(&self) -> PathBuf {
        self.root.join("mount-targets")
    }

    /// Creates [`LayerStore::mount_targets_dir`] once, whole (built aside, then renamed in).
    fn ensure_mount_targets(&self) -> Result<(), ImageError> {
        let dir = self.mount_targets_dir();
        if dir.is_dir() {
            return Ok(());
        }
        let tmp = self.tmp.join(format!("mount-targets-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let etc = tmp.join("etc");
        std::fs::create_dir_all(&etc).map_err(|e| ImageError::io(&etc, e))?;
        for f in MOUNT_TARGETS {
            let p = etc.join(f);
            std::fs::File::create(&p).and_then(|f| f.sync_all()).map_err(|e| ImageError::io(&p, e))?;
        }
        sync_dir(&etc)?;
        std::fs::rename(&tmp, &dir).map_err(|e| ImageError::io(&dir, e))?;
        sync_dir(&self.root)
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
        let mut hashing = ThreadedHashingReader::new(reader);
        let mut unpacked = self.unpack_with(&mut hashing)?;
        std::io::copy(&mut hashing, &mut std::io::sink()).map_err(|e| ImageError::io(&unpacked.tmp, e))?;
        let (diff_id, size) = hashing.finish().map_err(|e| ImageError::io(&unpacked.tmp, e))?;
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
        let mut counting = CountingReader::new(reader);
        let mut unpacked = self.unpack_with(&mut counting)?;
        std::io::copy(&mut counting, &mut std::io::sink()).map_err(|e| ImageError::io(&unpacked.tmp, e))?;
        unpacked.diff_id = diff_id.clone();
        unpacked.size = counting.count();
        Ok(unpacked)
    }

    /// Applies the tar durably into a new temp dir, recording its split record.
    fn unpack_with(&self, reader: &mut impl Read) -> Result<Unpacked, ImageError> {
        let tmp = self.tmp.join(format!("layer-{}", crate::random_hex(8)));
        let diff = tmp.join("diff");
        std::fs::create_dir_all(&diff).map_err(|e| ImageError::io(&diff, e))?;
        // Owns the temp dir from here: an error drops it, which removes it.
        let mut unpacked = Unpacked { tmp, diff_id: Digest::of(b""), size: 0, rebuildable: false };
        let split_path = unpacked.tmp.join(SPLIT);
        let stash = unpacked.tmp.join(STASH);
        std::fs::create_dir(&stash).map_err(|e| ImageError::io(&stash, e))?;
        let split_file = std::fs::File::create(&split_path).map_err(|e| ImageError::io(&split_path, e))?;
        let mut split = std::io::BufWriter::with_capacity(64 << 10, split_file);
        let opts = ApplyOptions { whiteouts: WhiteoutMode::Overlay, same_owner: true };
        let extras = ApplyExtras { durable: true, split: Some(&mut split), split_stash: Some(&stash) };
        let report = berth_archive::apply_layer_with(&diff, reader, &opts, extras)?;
        let split_file = split.into_inner().map_err(|e| ImageError::io(&split_path, e.into_error()))?;
        if report.split_exact {
            split_file.sync_all().map_err(|e| ImageError::io(&split_path, e))?;
            unpacked.rebuildable = true;
        } else {
            std::fs::remove_file(&split_path).map_err(|e| ImageError::io(&split_path, e))?;
        }
        // Nothing replaced (the usual case): no stash dir; else its names must be durable.
        if std::fs::remove_dir(&stash).is_err() {
            sync_dir(&stash)?;
        }
        Ok(unpacked)
    }

    /// Makes an unpacked (and already durable) layer visible on top of `parent`: its metadata
    /// is written and synced, its dir synced, then renamed into place and the rename synced,
    /// so a crash at any point leaves the layer absent or whole.
    pub fn register(&self, mut unpacked: Unpacked, parent: Option<&Digest>) -> Result<LayerInfo, ImageError> {
        let diff_id = unpacked.diff_id.clone();
        let size = unpacked.size;
        let chain_id = match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
        };
        if self.exists(&chain_id) {
            self.adopt_split(&unpacked, &chain_id)?;
            return self.info(&chain_id);
        }
        let info = LayerInfo { chain_id: chain_id.clone(), diff_id: diff_id.clone(), size, rebuildable: unpacked.rebuildable };
        let tmp = unpacked.tmp.clone();
        let short = crate::random_short_id();
        let meta = serde_json::json!({"diff_id": diff_id.as_str(), "size": size, "link": short, "parent": parent.map(|p| p.to_string())});
        write_synced(&tmp.join("layer.json"), meta.to_string().as_bytes())?;
        sync_dir(&tmp)?;
        let dest = self.dir(&chain_id);
        match std::fs::rename(&tmp, &dest) {
            Ok(()) => unpacked.tmp = PathBuf::new(),
            // Another writer registered the same layer first: theirs is as good as ours.
            Err(_) if self.exists(&chain_id) => return self.info(&chain_id),
            Err(e) => return Err(ImageError::io(&dest, e)),
        }
        sync_dir(&self.layers)?;
        self.ensure_link(&chain_id)?;
        Ok(info)
    }

    /// A reader of the layer's rebuilt tar (see [`LayerStore::write_tar`]), produced by a
    /// thread through a pipe. It fails at the end, instead of reporting end-of-file, when the
    /// rebuilt bytes do not match the layer's diff id.
    pub fn tar_reader(&self, chain: &Digest) -> Result<TarReader, ImageError> {
        if !self.rebuildable(chain) {
            return Err(ImageError::NotFound(format!("layer {chain} cannot be rebuilt: it has no split record")));
        }
        let (read, write) = nix::unistd::pipe().map_err(|e| ImageError::io(&self.dir(chain), e.into()))?;
        // A bigger pipe means fewer switches between the two threads; the default still works.
        let _ = nix::fcntl::fcntl(std::os::fd::AsRawFd::as_raw_fd(&write), nix::fcntl::FcntlArg::F_SETPIPE_SZ(1 << 20));
        let (store, chain) = (self.clone(), chain.clone());
        let thread = std::thread::Builder::new()
            .name("layer-tar".into())
            .spawn(move || store.write_tar(&chain, std::io::BufWriter::with_capacity(1 << 20, std::fs::File::from(write))).map(drop))
            .map_err(|e| ImageError::io(&self.layers, e))?;
        Ok(TarReader { pipe: std::fs::File::from(read), thread: Some(thread) })
    }

    /// Gives a registered layer without a split record (one registered before records
    /// existed) the record of `unpacked`, the same tar unpacked again: both trees are the same.
    fn adopt_split(&self, unpacked: &Unpacked, chain: &Digest) -> Result<(), ImageError> {
        if !unpacked.rebuildable || self.rebuildable(chain) {
            return Ok(());
        }
        let dir = self.dir(chain);
        // The stash first: a record is never there without it.
        if unpacked.tmp.join(STASH).is_dir() {
            std::fs::rename(unpacked.tmp.join(STASH), dir.join(STASH)).map_err(|e| ImageError::io(&dir.join(STASH), e))?;
        }
        let dest = dir.join(SPLIT);
        std::fs::rename(unpacked.tmp.join(SPLIT), &dest).map_err(|e| ImageError::io(&dest, e))?;
        sync_dir(&dir)
    }

    /// Whether the layer's tar can be rebuilt from it.
    pub fn rebuildable(&self, chain: &Digest) -> bool {
        self.dir(chain).join(SPLIT).is_file()
    }

    /// Writes the layer's tar, rebuilt from its unpacked tree, to `out`; returns its size. The
    /// bytes are checked against the layer's diff id as they go: on a mismatch (a tree changed
    /// on disk) this fails after writing, so callers must treat an error as a failed stream.
    pub fn write_tar(&self, chain: &Digest, out: impl Write) -> Result<u64, ImageError> {
        let info = self.info(chain)?;
        let split_path = self.dir(chain).join(SPLIT);
        let record = std::fs::File::open(&split_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ImageError::NotFound(format!("layer {chain} cannot be rebuilt: it has no split record")),
            _ => ImageError::io(&split_path, e),
        })?;
        let mut hashing = ThreadedHashingWriter { inner: out, hash: HashThread::new() };
        let size = berth_archive::rebuild_tar(&self.diff_dir(chain), Some(&self.dir(chain).join(STASH)), record, &mut hashing)
            .map_err(|e| ImageError::Invalid(format!("rebuild layer {chain}: {e}")))?;
        let (digest, _) = hashing.hash.finish().map_err(|e| ImageError::io(&split_path, e))?;
        if digest != info.diff_id || size != info.size {
            return Err(ImageError::DigestMismatch { expected: info.diff_id.to_string(), actual: digest.to_string() });
        }
        Ok(size)
    }

    /// The short path of a layer's diff dir, for overlay lowerdir lists.
    pub fn link_path(&self, chain: &Digest) -> Result<PathBuf, ImageError> {
        self.ensure_link(chain)
    }

    /// The short path (`<root>/l/<id>`) of a layer's diff dir, recreating the link if a crash
    /// lost it.
    fn ensure_link(&self, chain: &Digest) -> Result<PathBuf, ImageError> {
        let meta_path = self.dir(chain).join("layer.json");
        let meta: serde_json::Value =
            std::fs::read(&meta_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(|| ImageError::NotFound(format!("layer {chain}")))?;
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
        let meta: serde_json::Value =
            std::fs::read(&meta_path).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or_else(|| ImageError::NotFound(format!("layer {chain}")))?;
        let diff_id = Digest::parse(meta["diff_id"].as_str().unwrap_or_default()).map_err(|e| ImageError::Invalid(e.to_string()))?;
        Ok(LayerInfo { chain_id: chain.clone(), diff_id, size: meta["size"].as_u64().unwrap_or(0), rebuildable: self.rebuildable(chain) })
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
        rd.filter_map(|e| e.ok()).filter_map(|e| Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())).ok()).collect()
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
    /// Whether the tar can be rebuilt from the layer once registered; when not, the caller
    /// must keep the tar (its blob) for `push` and `save`.
    pub rebuildable: bool,
}

impl Drop for Unpacked {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// The rebuilt tar of a layer, read from the thread that writes it.
pub struct TarReader {
    pipe: std::fs::File,
    thread: Option<std::thread::JoinHandle<Result<(), ImageError>>>,
}

impl Read for TarReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.pipe.read(buf)?;
        if n == 0 && !buf.is_empty() {
            if let Some(t) = self.thread.take() {
                match t.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(std::io::Error::other(e.to_string())),
                    Err(_) => return Err(std::io::Error::other("layer tar writer panicked")),
                }
            }
        }
        Ok(n)
    }
}

/// Writes `data` to `path` and syncs it.
fn write_synced(path: &Path, data: &[u8]) -> Result<(), ImageError> {
    let mut f = std::fs::File::create(path).map_err(|e| ImageError::io(path, e))?;
    f.write_all(data).and_then(|()| f.sync_all()).map_err(|e| ImageError::io(path, e))
}

/// Syncs a directory (the names in it).
fn sync_dir(path: &Path) -> Result<(), ImageError> {
    std::fs::File::open(path).and_then(|d| d.sync_all()).map_err(|e| ImageError::io(path, e))
}

/// Bytes handed to the hashing thread at a time.
const HASH_CHUNK: usize = 1 << 20;

/// Hashes bytes on a thread of its own, so hashing overlaps unpacking (or rebuilding) instead
/// of adding to it. Chunks go to the thread and come back for reuse (no allocation, no page
/// faults per chunk once two are in flight).
struct HashThread {
    buf: Vec<u8>,
    to_hasher: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
    returned: std::sync::mpsc::Receiver<Vec<u8>>,
    thread: Option<std::thread::JoinHandle<(sha2::Sha256, u64)>>,
}

impl HashThread {
    fn new() -> Self {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (back_tx, back_rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
        let thread = std::thread::Builder::new()
            .name("layer-hash".into())
            .spawn(move || {
                let mut hasher = <sha2::Sha256 as sha2::Digest>::new();
                let mut count = 0u64;
                while let Ok(mut chunk) = rx.recv() {
                    sha2::Digest::update(&mut hasher, &chunk);
                    count += chunk.len() as u64;
                    chunk.clear();
                    let _ = back_tx.try_send(chunk);
                }
                (hasher, count)
            })
            .ok();
        // Without a thread (spawn failed) feeding fails at the first full chunk.
        Self { buf: Vec::with_capacity(HASH_CHUNK), to_hasher: thread.as_ref().map(|_| tx), returned: back_rx, thread }
    }

    fn send(&mut self) -> std::io::Result<()> {
        let next = self.returned.try_recv().unwrap_or_else(|_| Vec::with_capacity(HASH_CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        match &self.to_hasher {
            Some(tx) => tx.send(full).map_err(|_| std::io::Error::other("layer hashing thread stopped")),
            None => Err(std::io::Error::other("no layer hashing thread")),
        }
    }

    fn feed(&mut self, mut data: &[u8]) -> std::io::Result<()> {
        while !data.is_empty() {
            let take = data.len().min(HASH_CHUNK - self.buf.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() >= HASH_CHUNK {
                self.send()?;
            }
        }
        Ok(())
    }

    /// The digest and size of everything fed.
    fn finish(mut self) -> std::io::Result<(Digest, u64)> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.to_hasher.take();
        let thread = self.thread.take().ok_or_else(|| std::io::Error::other("no layer hashing thread"))?;
        let (hasher, count) = thread.join().map_err(|_| std::io::Error::other("layer hashing thread panicked"))?;
        Ok((Digest::from_hasher(hasher), count))
    }
}

/// A reader hashing what is read through it on a [`HashThread`].
struct ThreadedHashingReader<R> {
    inner: R,
    hash: HashThread,
}

impl<R: Read> ThreadedHashingReader<R> {
    fn new(inner: R) -> Self {
        Self { inner, hash: HashThread::new() }
    }

    fn finish(self) -> std::io::Result<(Digest, u64)> {
        self.hash.finish()
    }
}

impl<R: Read> Read for ThreadedHashingReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.hash.feed(&out[..n])?;
        Ok(n)
    }
}

/// A writer hashing what is written through it on a [`HashThread`].
struct ThreadedHashingWriter<W> {
    inner: W,
    hash: HashThread,
}

impl<W: Write> Write for ThreadedHashingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(data)?;
        self.hash.feed(&data[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Counts the bytes read through it, and reports each new total to a callback (progress).
pub struct CountingReader<R, F = fn(u64)> {
    inner: R,
    count: u64,
    on_read: F,
}

impl<R: Read> CountingReader<R> {
    /// A counter without a callback.
    pub fn new(inner: R) -> Self {
        Self { inner, count: 0, on_read: |_| {} }
    }
}

impl<R: Read, F: FnMut(u64)> CountingReader<R, F> {
    /// A counter calling `on_read` with the running total after each read.
    pub fn with_callback(inner: R, on_read: F) -> Self {
        Self { inner, count: 0, on_read }
    }

    /// Bytes read so far.
    pub fn count(&self) -> u64 {
        self.count
    }
}

impl<R: Read, F: FnMut(u64)> Read for CountingReader<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        (self.on_read)(self.count);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_util::{store, tar_of};

    #[test]
    fn containers_get_the_runtime_mount_targets_above_their_image() {
        let (_dir, store) = store();
        let rec = store.import(tar_of(&[("bin/sh", b"x")]).as_slice(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let targets = store.layers().mount_targets_dir();
        for f in MOUNT_TARGETS {
            let meta = std::fs::metadata(targets.join("etc").join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(meta.is_file() && meta.len() == 0, "{f}");
        }
        let (upper, work) = (PathBuf::from("/u"), PathBuf::from("/w"));
        let plain = store.overlay(&rec, upper.clone(), work.clone()).unwrap_or_else(|e| panic!("{e}"));
        let container = store.container_overlay(&rec, upper, work).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(container.lowers[0], targets);
        assert_eq!(container.lowers[1..], plain.lowers[..]);
        // A store opened again keeps the layer as it is.
        let again = LayerStore::open(&store.layers().root).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.mount_targets_dir(), targets);
    }

    #[test]
    fn imported_layer_keeps_no_blob_and_gives_back_its_exact_tar() {
        let (_dir, store) = store();
        let big = vec![42u8; 3 << 20];
        let tar = tar_of(&[("etc/motd", b"hello"), ("big", &big)]);
        let rec = store.import(tar.as_slice(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let layer = &rec.layers[0];
        let diff_id = Digest::parse(&layer.diff_id).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(diff_id, Digest::of(&tar));
        assert!(!store.content().contains(&diff_id), "the uncompressed copy was stored anyway");
        let chain = Digest::parse(&layer.chain_id).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.layers().info(&chain).unwrap_or_else(|e| panic!("{e}")).rebuildable);
        let mut out = Vec::new();
        store.layers().write_tar(&chain, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert!(out == tar, "rebuilt tar differs");
        let mut piped = Vec::new();
        store.layers().tar_reader(&chain).unwrap_or_else(|e| panic!("{e}")).read_to_end(&mut piped).unwrap_or_else(|e| panic!("{e}"));
        assert!(piped == tar, "piped tar differs");
        // A tree changed behind the store's back never passes for the layer's tar.
        std::fs::write(store.layers().diff_dir(&chain).join("etc/motd"), b"HELLO").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(store.layers().write_tar(&chain, std::io::sink()), Err(ImageError::DigestMismatch { .. })));
        let mut reader = store.layers().tar_reader(&chain).unwrap_or_else(|e| panic!("{e}"));
        assert!(reader.read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn a_layer_registered_without_a_split_record_adopts_one_when_unpacked_again() {
        let (_dir, store) = store();
        let tar = tar_of(&[("a/b", b"data")]);
        let rec = store.import(tar.as_slice(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let chain = Digest::parse(&rec.layers[0].chain_id).unwrap_or_else(|e| panic!("{e}"));
        // As registered by an older berth: no record.
        std::fs::remove_file(store.layers().dir(&chain).join(SPLIT)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!store.layers().rebuildable(&chain));
        let info = store.layers().apply(None, tar.as_slice(), None).unwrap_or_else(|e| panic!("{e}"));
        assert!(info.rebuildable);
        let mut out = Vec::new();
        store.layers().write_tar(&chain, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert!(out == tar);
    }

    #[test]
    fn a_layer_that_replaces_its_own_file_rebuilds_from_its_stash() {
        let (_dir, store) = store();
        let tar = tar_of(&[("f", b"one"), ("f", b"two")]);
        let rec = store.import(tar.as_slice(), |_| {}).unwrap_or_else(|e| panic!("{e}"));
        let chain = Digest::parse(&rec.layers[0].chain_id).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.layers().rebuildable(&chain));
        assert_eq!(std::fs::read(store.layers().diff_dir(&chain).join("f")).unwrap_or_else(|e| panic!("{e}")), b"two");
        let mut out = Vec::new();
        store.layers().write_tar(&chain, &mut out).unwrap_or_else(|e| panic!("{e}"));
        assert!(out == tar);
    }
}
