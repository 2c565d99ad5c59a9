//! The file system side of `COPY`/`ADD` (blocking): checksums of sources for the cache key,
//! and the copy itself.
//!
//! Sources are read with `berth_archive::inroot::walk_in_root` (a named source is resolved
//! inside its root; nothing below it is followed, so a context symlink pointing outside is
//! copied as a symlink). The copy is expressed as a tar stream whose entry names are the
//! destination paths, applied onto the step's mounted root with the layer applier: parents
//! resolve inside the root (a destination under a symlink to `/` lands in the image, never on
//! the host) and final components are never followed. `ADD` of a local archive unpacks it
//! with the same applier, rooted at the destination directory.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use berth_archive::inroot::{self, EntryKind, WalkEntry};
use berth_archive::{apply_layer, ApplyOptions, DigestWriter, WhiteoutMode};

use super::context::Context;
use super::index::{Kind, Lookup, Node};

/// One source of a copy, after globbing.
#[derive(Debug, Clone)]
pub enum Source {
    /// A path inside the source root, and the name it gets in a destination directory.
    Path { rel: String, name: String },
    /// A heredoc: a file made from text.
    Inline { name: String, data: Vec<u8> },
    /// A downloaded file (`ADD <url>`), outside the source root, never unpacked.
    Remote { file: PathBuf, name: String },
}

/// How entries are owned and moded in the destination.
#[derive(Debug, Clone, Copy)]
pub struct Attrs {
    /// Owner of everything copied; `None` keeps the source's (`COPY --from` without `--chown`).
    pub owner: Option<(u32, u32)>,
    /// `--chmod`: the mode of every copied file and directory.
    pub chmod: Option<u32>,
}

/// Where the sources of a copy are read from.
#[derive(Clone, Copy)]
pub enum Origin<'a> {
    /// A directory: the unpacked context, or a mounted `--from` image.
    Disk(&'a Path),
    /// The context's index and its spooled tar, so nothing has to be unpacked. Only for
    /// sources the index resolves ([`super::index::Lookup::Found`]).
    Index(&'a Context),
}

/// One entry of a walked source, from disk or from the context's index.
struct Entry<'r> {
    /// Path below the walked source (empty for the source itself).
    rel: String,
    kind: EntryKind,
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: i64,
    /// Regular files: their content.
    data: Option<Box<dyn Read + 'r>>,
}

impl<'a> Origin<'a> {
    fn is_dir(&self, rel: &str) -> bool {
        match self {
            Origin::Disk(root) => is_dir_in(root, rel),
            Origin::Index(ctx) => matches!(ctx.index.resolve(rel), Lookup::Found(n) if n.kind == Kind::Dir),
        }
    }

    /// Visits `rel` and everything below it, in `inroot::walk_in_root`'s order.
    fn walk(&self, rel: &str, visit: &mut dyn FnMut(Entry<'a>) -> io::Result<()>) -> io::Result<()> {
        match *self {
            Origin::Disk(root) => inroot::walk_in_root(root, rel, &mut |e: WalkEntry| {
                visit(Entry {
                    rel: e.rel.to_string_lossy().into_owned(),
                    kind: e.kind,
                    mode: e.mode,
                    uid: e.uid,
                    gid: e.gid,
                    size: e.size,
                    mtime: e.mtime.0,
                    data: e.file.map(|f| Box::new(f) as Box<dyn Read>),
                })
            }),
            Origin::Index(ctx) => ctx.index.walk(rel, &mut |sub, node: &Node| {
                let (kind, data) = match &node.kind {
                    Kind::Dir => (EntryKind::Dir, None),
                    Kind::File => (EntryKind::File, Some(Box::new(ctx.content(node)) as Box<dyn Read + 'a>)),
                    Kind::Symlink(t) => (EntryKind::Symlink(PathBuf::from(t)), None),
                    Kind::Other => (EntryKind::Other, None),
                };
                // Unpacking would create an unlisted directory now.
                let mtime = if node.implied { now_secs() as i64 } else { node.mtime };
                visit(Entry { rel: sub.to_string(), kind, mode: node.mode, uid: node.uid, gid: node.gid, size: node.size, mtime, data })
            }),
        }
    }
}

/// What to copy where.
pub struct CopyJob<'a> {
    /// Where the sources are.
    pub src: Origin<'a>,
    /// The step's mounted root.
    pub dest_root: &'a Path,
    /// Absolute destination; a trailing `/` means "into this directory".
    pub dest: &'a str,
    /// Ownership and mode.
    pub attrs: Attrs,
    /// `ADD`: unpack local tar archives.
    pub decompress: bool,
}

fn rel_of(path: &str) -> String {
    path.trim_start_matches('/').to_string()
}

fn join(dir: &str, name: &str) -> String {
    format!("{}/{}", dir.trim_end_matches('/'), name.trim_start_matches('/'))
}

/// The checksum of one source as the cache sees it: `file:` or `dir:` and the sha256 of
/// every entry's name, type, mode, owner, size, link target, content, and for files and
/// symlinks their mtime (which the copy preserves, so touching a file invalidates it;
/// Docker leaves times out). [`super::from_index`] computes the same from the context's
/// index.
pub fn source_hash(root: &Path, source: &Source) -> io::Result<String> {
    let (rel, data) = match source {
        Source::Inline { name, data } => return Ok(inline_hash(name, data)),
        Source::Remote { file, .. } => return remote_hash(file),
        Source::Path { rel, name } => (rel, name),
    };
    let mut summary = DigestWriter::new(io::sink());
    summary.write_all(data.as_bytes())?;
    let mut kind = "file";
    inroot::walk_in_root(root, rel, &mut |mut e: WalkEntry| {
        if e.rel.as_os_str().is_empty() && e.kind == EntryKind::Dir {
            // A directory's contents are copied, not the directory itself.
            kind = "dir";
            return Ok(());
        }
        let content = match e.file.take() {
            Some(mut f) => {
                let mut w = DigestWriter::new(io::sink());
                io::copy(&mut f, &mut w)?;
                w.digest()
            }
            None => String::new(),
        };
        let (tag, link) = match &e.kind {
            EntryKind::Dir => ('d', String::new()),
            EntryKind::File => ('f', String::new()),
            EntryKind::Symlink(t) => ('l', t.display().to_string()),
            EntryKind::Other => ('o', String::new()),
        };
        let line = EntryLine {
            rel: &e.rel.to_string_lossy(),
            tag,
            mode: e.mode,
            owner: (e.uid, e.gid),
            size: e.size,
            mtime: e.mtime.0,
            link: &link,
            content: &content,
        };
        summary.write_all(line.text().as_bytes())
    })?;
    Ok(format!("{kind}:{}", hex_of(&summary.digest())))
}

/// The checksum of a downloaded file: its name, mode, time and content, like a context file.
pub fn remote_hash(file: &Path) -> io::Result<String> {
    let (dir, name) = match (file.parent(), file.file_name()) {
        (Some(d), Some(n)) => (d, n.to_string_lossy().into_owned()),
        _ => return Err(io::Error::other(format!("bad download path {}", file.display()))),
    };
    source_hash(dir, &Source::Path { rel: name.clone(), name })
}

/// The checksum of a heredoc source.
pub fn inline_hash(name: &str, data: &[u8]) -> String {
    let mut w = DigestWriter::new(io::sink());
    let _ = w.write_all(name.as_bytes()).and_then(|_| w.write_all(&[0])).and_then(|_| w.write_all(data));
    format!("file:{}", hex_of(&w.digest()))
}

/// One entry's line in a source checksum.
pub struct EntryLine<'a> {
    /// Path below the source.
    pub rel: &'a str,
    /// `d`, `f`, `l` or `o`.
    pub tag: char,
    /// Permission bits.
    pub mode: u32,
    /// Owner and group.
    pub owner: (u32, u32),
    /// Size (files and symlinks; directories count as 0).
    pub size: u64,
    /// Modification time in seconds (directories count as 0: their times change with every
    /// entry added and are made up for directories a context tar does not list).
    pub mtime: i64,
    /// Symlink target.
    pub link: &'a str,
    /// Content digest (files).
    pub content: &'a str,
}

impl EntryLine<'_> {
    /// The line as hashed.
    pub fn text(&self) -> String {
        let (size, mtime) = if self.tag == 'd' { (0, 0) } else { (self.size, self.mtime) };
        format!("{}\0{}\0{:o}\0{}:{}\0{size}\0{mtime}\0{}\0{}\n", self.rel, self.tag, self.mode, self.owner.0, self.owner.1, self.link, self.content)
    }
}

fn hex_of(digest: &str) -> String {
    digest.strip_prefix("sha256:").unwrap_or(digest).to_string()
}

/// Whether `path` in `root` is a directory (symlinks followed inside the root).
pub fn is_dir_in(root: &Path, path: &str) -> bool {
    inroot::metadata_in_root(root, path).is_ok_and(|m| m.is_dir())
}

/// Carries out a copy of `sources`.
pub fn perform(job: &CopyJob<'_>, sources: &[Source]) -> io::Result<()> {
    let mut plain = Vec::new();
    for source in sources {
        if let (true, Source::Path { rel, .. }) = (job.decompress, source) {
            if let Some(()) = try_unpack(job, rel)? {
                continue;
            }
        }
        plain.push(source.clone());
    }
    if plain.is_empty() {
        return Ok(());
    }
    let (reader, writer) = io::pipe()?;
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || write_entries(job, &plain, writer));
        let opts = ApplyOptions { whiteouts: WhiteoutMode::Plain, same_owner: true };
        let applied = apply_layer(job.dest_root, reader, &opts).map_err(io::Error::other);
        let produced = producer.join().unwrap_or_else(|_| Err(io::Error::other("copy thread panicked")));
        produced.and(applied.map(drop))
    })
}

/// The tar of the copy, written to `out` (a pipe the applier reads).
fn write_entries(job: &CopyJob<'_>, sources: &[Source], out: impl Write) -> io::Result<()> {
    let mut w = EntryWriter { tar: tar::Builder::new(out), job, made: BTreeSet::new() };
    w.tar.mode(tar::HeaderMode::Complete);
    for source in sources {
        match source {
            Source::Inline { name, data } => {
                let target = w.file_target(name);
                w.parents(&target)?;
                let now = now_secs();
                let mode = job.attrs.chmod.unwrap_or(0o644);
                let (uid, gid) = job.attrs.owner.unwrap_or((0, 0));
                w.file(&target, mode, (uid, gid), now, data.len() as u64, &mut data.as_slice())?;
            }
            Source::Path { rel, name } => w.path(rel, name)?,
            Source::Remote { file, name } => w.remote(file, name)?,
        }
    }
    w.tar.into_inner()?.flush()
}

struct EntryWriter<'a, W: Write> {
    tar: tar::Builder<W>,
    job: &'a CopyJob<'a>,
    /// Directories this copy already emitted.
    made: BTreeSet<String>,
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn reserved(name: &str) -> io::Result<()> {
    if name.split('/').any(|c| c.starts_with(berth_archive::whiteout::WHITEOUT_PREFIX)) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("cannot copy {name:?}: names starting with .wh. are reserved for layer whiteouts")));
    }
    Ok(())
}

impl<W: Write> EntryWriter<'_, W> {
    /// Where a file named `name` goes: into `dest` when it is a directory (or ends in `/`).
    fn file_target(&self, name: &str) -> String {
        let dest = self.job.dest;
        if dest.ends_with('/') || is_dir_in(self.job.dest_root, dest) {
            join(dest, name)
        } else {
            dest.to_string()
        }
    }

    fn owner(&self, e: &Entry<'_>) -> (u32, u32) {
        self.job.attrs.owner.unwrap_or((e.uid, e.gid))
    }

    /// Emits the missing parent directories of `target` (0755, owned like the copy).
    fn parents(&mut self, target: &str) -> io::Result<()> {
        let rel = rel_of(target);
        let comps: Vec<&str> = rel.split('/').filter(|c| !c.is_empty()).collect();
        let mut path = String::new();
        for comp in comps.iter().take(comps.len().saturating_sub(1)) {
            path = if path.is_empty() { (*comp).to_string() } else { format!("{path}/{comp}") };
            if self.made.contains(&path) || inroot::metadata_in_root(self.job.dest_root, &path).is_ok() {
                continue;
            }
            let owner = self.job.attrs.owner.unwrap_or((0, 0));
            self.dir(&format!("/{path}"), 0o755, owner, now_secs())?;
        }
        Ok(())
    }

    fn path(&mut self, rel: &str, name: &str) -> io::Result<()> {
        let src = self.job.src;
        if src.is_dir(rel) {
            let dest = self.job.dest.trim_end_matches('/').to_string();
            let dest = if dest.is_empty() { "/".to_string() } else { dest };
            match inroot::metadata_in_root(self.job.dest_root, &dest) {
                Ok(m) if !m.is_dir() => return Err(io::Error::other(format!("cannot copy to non-directory: {dest}"))),
                Ok(_) => {}
                Err(_) => {
                    self.parents(&dest)?;
                    self.dir(&dest, 0o755, self.job.attrs.owner.unwrap_or((0, 0)), now_secs())?;
                }
            }
            return src.walk(rel, &mut |e| self.tree_entry(&dest, e));
        }
        let target = self.file_target(name);
        self.parents(&target)?;
        src.walk(rel, &mut |e| match e.kind {
            EntryKind::File => self.walked_file(&target, e),
            _ => Err(io::Error::other(format!("cannot copy {rel}: not a regular file or directory"))),
        })
    }

    /// A downloaded file: mode 0600 unless `--chmod`, owned by root unless `--chown`.
    fn remote(&mut self, file: &Path, name: &str) -> io::Result<()> {
        let target = self.file_target(name);
        reserved(&target)?;
        self.parents(&target)?;
        let mut f = std::fs::File::open(file)?;
        let meta = f.metadata()?;
        let mtime = std::os::unix::fs::MetadataExt::mtime(&meta).max(0) as u64;
        let mode = self.job.attrs.chmod.unwrap_or(0o600);
        let owner = self.job.attrs.owner.unwrap_or((0, 0));
        self.file(&target, mode, owner, mtime, meta.len(), &mut f)
    }

    fn tree_entry(&mut self, dest: &str, mut e: Entry<'_>) -> io::Result<()> {
        if e.rel.is_empty() {
            return Ok(());
        }
        let target = join(dest, &e.rel);
        reserved(&e.rel)?;
        let owner = self.owner(&e);
        let mode = self.job.attrs.chmod.unwrap_or(e.mode);
        match e.kind.clone() {
            EntryKind::Dir => self.dir(&target, mode, owner, e.mtime.max(0) as u64),
            EntryKind::File => {
                let mut f = e.data.take().ok_or_else(|| io::Error::other("file not open"))?;
                self.file(&target, mode, owner, e.mtime.max(0) as u64, e.size, &mut f)
            }
            EntryKind::Symlink(to) => self.symlink(&target, &to, owner, e.mtime.max(0) as u64),
            EntryKind::Other => Ok(()),
        }
    }

    fn walked_file(&mut self, target: &str, mut e: Entry<'_>) -> io::Result<()> {
        reserved(target)?;
        let owner = self.owner(&e);
        let mode = self.job.attrs.chmod.unwrap_or(e.mode);
        let mut f = e.data.take().ok_or_else(|| io::Error::other("file not open"))?;
        self.file(target, mode, owner, e.mtime.max(0) as u64, e.size, &mut f)
    }

    fn header(kind: tar::EntryType, mode: u32, owner: (u32, u32), mtime: u64, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode & 0o7777);
        h.set_uid(u64::from(owner.0));
        h.set_gid(u64::from(owner.1));
        h.set_mtime(mtime);
        h.set_size(size);
        h
    }

    fn dir(&mut self, target: &str, mode: u32, owner: (u32, u32), mtime: u64) -> io::Result<()> {
        let rel = rel_of(target);
        if rel.is_empty() {
            return Ok(());
        }
        self.made.insert(rel.clone());
        let mut h = Self::header(tar::EntryType::Directory, mode, owner, mtime, 0);
        self.tar.append_data(&mut h, format!("{rel}/"), io::empty())
    }

    fn file(&mut self, target: &str, mode: u32, owner: (u32, u32), mtime: u64, size: u64, data: &mut dyn Read) -> io::Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, mode, owner, mtime, size);
        // A file that changed size since it was stat'ed must not desync the stream.
        let mut exact = Exact { inner: data.take(size), left: size };
        self.tar.append_data(&mut h, rel_of(target), &mut exact)
    }

    /// A symlink whose target is stored byte for byte (the tar crate's own link-name
    /// setter would canonicalize it: `/` would become `//`, `./x` would become `x`).
    fn symlink(&mut self, target: &str, to: &Path, owner: (u32, u32), mtime: u64) -> io::Result<()> {
        let bytes = std::os::unix::ffi::OsStrExt::as_bytes(to.as_os_str());
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, owner, mtime, 0);
        if bytes.len() >= 100 {
            let mut long = tar::Header::new_gnu();
            long.set_entry_type(tar::EntryType::GNULongLink);
            long.as_gnu_mut().ok_or_else(|| io::Error::other("gnu header"))?.name[..13].copy_from_slice(b"././@LongLink");
            long.set_size(bytes.len() as u64 + 1);
            long.set_cksum();
            self.tar.append(&long, &mut bytes.chain(&[0u8][..]))?;
        }
        h.set_link_name_literal(&bytes[..bytes.len().min(99)])?;
        self.tar.append_data(&mut h, rel_of(target), io::empty())
    }
}

/// A reader of exactly `left` bytes: a source that ends early is an error, not a short entry.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank while being copied"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// `ADD` of a local archive: unpacks it into the destination directory and returns
/// `Some(())`; `None` when `rel` is not a (plain or gzip-compressed) tar.
fn try_unpack(job: &CopyJob<'_>, rel: &str) -> io::Result<Option<()>> {
    let Origin::Disk(src_root) = job.src else {
        return Err(io::Error::other("ADD reads archives from disk only"));
    };
    let Ok(meta) = inroot::metadata_in_root(src_root, rel) else {
        return Ok(None);
    };
    if !meta.is_file() || !is_archive(src_root, rel)? {
        return Ok(None);
    }
    let file = inroot::open_in_root(src_root, rel)?;
    let tar = berth_image::import::decompress(file).map_err(io::Error::other)?;
    let dir = inroot::open_dir_in_root(job.dest_root, job.dest)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir)));
    let opts = ApplyOptions { whiteouts: WhiteoutMode::Plain, same_owner: true };
    apply_layer(&path, tar, &opts).map_err(|e| io::Error::other(format!("unpack {rel}: {e}")))?;
    Ok(Some(()))
}

/// Whether a file holds a tar (plain or gzip), judged by its content as Docker does.
fn is_archive(root: &Path, rel: &str) -> io::Result<bool> {
    let file = inroot::open_in_root(root, rel)?;
    let Ok(reader) = berth_image::import::decompress(file) else {
        return Ok(false);
    };
    let mut head = Vec::with_capacity(512);
    reader.take(512).read_to_end(&mut head)?;
    if head.len() < 512 {
        return Ok(false);
    }
    let mut archive = tar::Archive::new(head.as_slice());
    let first = archive.entries().ok().and_then(|mut e| e.next());
    Ok(matches!(first, Some(Ok(_))))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tar of a copy is the same whether the context is read from its index and spool
    /// or from the unpacked directory.
    #[test]
    fn copies_from_the_index_equal_copies_from_disk() {
        let entries: &[super::super::test_tar::Entry<'_>] = &[
            ("app/", tar::EntryType::Directory, "", 0o750),
            ("app/a.txt", tar::EntryType::Regular, "alpha", 0o644),
            ("app/sub/", tar::EntryType::Directory, "", 0o700),
            ("app/sub/b", tar::EntryType::Regular, "beta beta", 0o600),
            ("app/ln", tar::EntryType::Symlink, "../outside", 0o777),
            ("top", tar::EntryType::Regular, "t", 0o755),
        ];
        let bytes = super::super::test_tar::context_tar(entries, 1000);
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut ws = super::super::context::Workspace::create(tmp.path()).expect("workspace");
        ws.receive(bytes.as_slice()).expect("receive");
        let dest = tmp.path().join("dest");
        std::fs::create_dir_all(&dest).expect("dest");
        let sources = vec![
            Source::Path { rel: "app".into(), name: "app".into() },
            Source::Path { rel: "top".into(), name: "top".into() },
            Source::Path { rel: "app/sub/b".into(), name: "b".into() },
        ];
        let ctx = ws.context.clone();
        let tar_of = |src: Origin<'_>, chmod: Option<u32>| {
            let job = CopyJob { src, dest_root: &dest, dest: "/into/", attrs: Attrs { owner: Some((0, 0)), chmod }, decompress: false };
            let mut out = Vec::new();
            write_entries(&job, &sources, &mut out).expect("copy");
            out
        };
        let indexed = tar_of(Origin::Index(&ctx), None);
        let root = ctx.root().expect("unpack");
        assert!(indexed == tar_of(Origin::Disk(root), None), "copies from the index and from disk differ");
        assert!(tar_of(Origin::Index(&ctx), Some(0o700)) == tar_of(Origin::Disk(root), Some(0o700)), "with --chmod");
        let names: Vec<String> = tar::Archive::new(indexed.as_slice())
            .entries()
            .expect("entries")
            .filter_map(|e| e.ok().map(|e| e.path().map(|p| p.display().to_string()).unwrap_or_default()))
            .collect();
        assert!(names.contains(&"into/sub/b".to_string()) && names.contains(&"into/ln".to_string()) && names.contains(&"into/b".to_string()), "{names:?}");
    }

    #[test]
    fn joins_keep_one_slash() {
        assert_eq!(join("/app/", "x"), "/app/x");
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(rel_of("/a/b"), "a/b");
        assert!(reserved("a/.wh.b").is_err());
        assert!(reserved("a/b.wh.").is_ok());
    }
}
