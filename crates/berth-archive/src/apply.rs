//! Applying an uncompressed layer tar onto a directory.
//!
//! Each entry goes through the same steps: normalize its name
//! ([`RelPath::normalize`]), classify whiteouts, resolve the parent inside the
//! root ([`Root::dir`]), make room (keep a directory for a directory, remove
//! anything else), create the final component with an `*at` call that does
//! not follow symlinks, then set its metadata. Directory times are restored
//! after the last entry, since creating children changes them.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::durable::{self, Durable, KICK_EVERY};
use crate::error::{ApplyError, OpResult};
use crate::meta::{self, Meta};
use crate::remove::{self, is_dir, lstat_at, REMOVE_ALL};
use crate::resolve::{split, PathProblem, RelPath, Root, DIR_READ};
use crate::split::{Recorder, RecordingReader};
use crate::sys;
use crate::whiteout::{self, LayerPaths, Special, WhiteoutMode, WHITEOUT_LINK_DIR};

/// Size of the buffer file data is copied through.
const COPY_BUF: usize = 1 << 20;

/// How to apply a layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApplyOptions {
    /// How whiteouts are written: overlay devices and xattrs, or deletions.
    pub whiteouts: WhiteoutMode,
    /// Set owners from the numeric uid/gid of each header (needs root). When
    /// false, everything belongs to the calling process.
    pub same_owner: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions { whiteouts: WhiteoutMode::Overlay, same_owner: true }
    }
}

/// What [`apply_layer`] did, for logs and progress.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Tar entries handled (extension headers not counted).
    pub entries: u64,
    /// Bytes of regular-file data written.
    pub bytes: u64,
    /// Whiteout and opaque markers handled.
    pub whiteouts: u64,
    /// Extended attributes the file system refused (`ENOTSUP`, `EPERM`) and
    /// that were skipped, as Docker does.
    pub skipped_xattrs: u64,
    /// With [`ApplyExtras::durable`]: regular files and directories synced.
    pub synced_files: u64,
    /// See `synced_files`.
    pub synced_dirs: u64,
    /// With [`ApplyExtras::split`]: whether the record rebuilds the stream
    /// exactly (nothing the layer wrote was replaced or removed by itself).
    pub split_exact: bool,
}

/// What [`apply_layer_with`] does on top of [`apply_layer`].
#[derive(Default)]
pub struct ApplyExtras<'a> {
    /// Makes every file and directory written durable before returning, by
    /// syncing only them (see the `durable` module docs), so the caller can
    /// publish the tree with a rename and an `fsync` of its parent.
    pub durable: bool,
    /// Writes a split record of the stream here (see [`crate::split`]), from
    /// which [`crate::rebuild_tar`] gives back the same bytes.
    pub split: Option<&'a mut dyn Write>,
    /// With `split`: an existing empty directory, outside the root and on its
    /// filesystem, where files the layer replaces are kept for the record.
    pub split_stash: Option<&'a Path>,
}

/// Applies the uncompressed layer tar read from `reader` onto `root`.
///
/// Nothing outside `root` is ever created, changed or removed, whatever the
/// tar holds (see the crate docs for how). On success the reader has been
/// read to its end, past the tar's end-of-archive blocks, so a hashing reader
/// wrapped around it has seen the whole blob. On error what was applied stays
/// on disk and the caller discards `root`.
pub fn apply_layer(root: &Path, reader: impl Read, opts: &ApplyOptions) -> Result<ApplyReport, ApplyError> {
    apply_layer_with(root, reader, opts, ApplyExtras::default())
}

/// [`apply_layer`], made durable and recorded for rebuilding as `extras` asks.
pub fn apply_layer_with(root: &Path, reader: impl Read, opts: &ApplyOptions, extras: ApplyExtras<'_>) -> Result<ApplyReport, ApplyError> {
    let mut applier = Applier::new(root, opts)?;
    if extras.durable {
        applier.durable = Some(Durable::default());
    }
    let stash = match extras.split_stash {
        Some(p) => Some(sys::open(p, DIR_READ).map_err(|source| ApplyError::Root { path: p.to_owned(), source })?),
        None => None,
    };
    let recorder = extras.split.map(|out| Recorder::new(out, stash));
    applier.split = recorder.clone();
    let mut reader: Box<dyn Read + '_> = match recorder.clone() {
        Some(recorder) => Box::new(RecordingReader { inner: reader, recorder }),
        None => Box::new(reader),
    };
    {
        let mut archive = tar::Archive::new(&mut reader);
        for entry in archive.entries().map_err(ApplyError::Read)? {
            applier.entry(entry.map_err(ApplyError::Read)?)?;
        }
    }
    applier.finish()?;
    io::copy(&mut reader, &mut io::sink()).map_err(ApplyError::Read)?;
    drop(reader);
    if let Some(recorder) = recorder {
        applier.report.split_exact = recorder.borrow_mut().finish().map_err(io_err("", "write split record"))?;
    }
    if let Some(mut d) = applier.durable.take() {
        d.drain().map_err(io_err("", "fsync file"))?;
        applier.report.synced_files = d.files;
        let top = sys::open(root, DIR_READ).map_err(io_err("", "open layer root"))?;
        applier.report.synced_dirs = durable::sync_dirs(top).map_err(io_err("", "fsync directory"))?;
    }
    Ok(applier.report)
}

/// What an entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File { sparse: bool },
    Symlink,
    Hardlink,
    Node(SFlag),
}

impl Kind {
    /// The kind of an entry, `None` for types we do not apply. A `\0`
    /// (pre-POSIX regular) entry whose name ends in `/` is a directory.
    fn of(header: &tar::Header, raw_name: &[u8]) -> Option<Kind> {
        use tar::EntryType as T;
        Some(match header.entry_type() {
            T::Directory => Kind::Dir,
            T::Regular if header.as_bytes()[156] == 0 && raw_name.ends_with(b"/") => Kind::Dir,
            T::Regular | T::Continuous => Kind::File { sparse: false },
            T::GNUSparse => Kind::File { sparse: true },
            T::Symlink => Kind::Symlink,
            T::Link => Kind::Hardlink,
            T::Char => Kind::Node(SFlag::S_IFCHR),
            T::Block => Kind::Node(SFlag::S_IFBLK),
            T::Fifo => Kind::Node(SFlag::S_IFIFO),
            _ => return None,
        })
    }
}

/// What was at an entry's path before it was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// Nothing, or something now removed.
    Nothing,
    /// A directory, kept because the entry is a directory too.
    Dir,
    /// A whiteout device this layer made (Overlay mode), now removed.
    OwnWhiteout,
}

/// The state of one layer application.
struct Applier<'o, 's> {
    root: Root,
    opts: &'o ApplyOptions,
    layer: LayerPaths,
    /// Directory mtimes, restored after the last entry.
    dir_times: Vec<(Vec<u8>, TimeSpec)>,
    /// Whether `.wh..wh.plnk` entries were created and must be removed.
    aufs_links: bool,
    buf: Vec<u8>,
    report: ApplyReport,
    /// Files written and not yet synced, when the layer must be durable.
    durable: Option<Durable>,
    /// The split record being written, if any.
    split: Option<Rc<RefCell<Recorder<'s>>>>,
}

fn invalid(path: &str, reason: impl Into<String>) -> ApplyError {
    ApplyError::InvalidEntry { path: path.to_owned(), reason: reason.into() }
}

fn io_err<'a>(path: &'a str, op: &'static str) -> impl FnOnce(io::Error) -> ApplyError + 'a {
    move |source| ApplyError::Io { path: path.to_owned(), op, source }
}

fn bad_link(path: &str, target: &[u8], reason: &'static str) -> ApplyError {
    let target = String::from_utf8_lossy(target).into_owned();
    ApplyError::InvalidHardlink { path: path.to_owned(), target, reason }
}

impl<'o, 's> Applier<'o, 's> {
    fn new(path: &Path, opts: &'o ApplyOptions) -> Result<Self, ApplyError> {
        let root = Root::open(path).map_err(|source| ApplyError::Root { path: path.to_owned(), source })?;
        Ok(Applier {
            root,
            opts,
            layer: LayerPaths::default(),
            dir_times: Vec::new(),
            aufs_links: false,
            buf: vec![0; COPY_BUF],
            report: ApplyReport::default(),
            durable: None,
            split: None,
        })
    }

    fn entry<R: Read>(&mut self, entry: tar::Entry<'_, R>) -> Result<(), ApplyError> {
        if entry.header().entry_type().is_pax_global_extensions() {
            return Ok(()); // ignored, as Docker does
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        self.report.entries += 1;
        let rel = RelPath::normalize(&raw).map_err(|p| match p {
            PathProblem::Escapes => ApplyError::Breakout { path: shown.clone() },
            PathProblem::Nul => invalid(&shown, "name contains a NUL byte"),
        })?;
        match whiteout::classify(rel.as_bytes()).map_err(|r| invalid(&shown, r))? {
            Special::AufsMeta => Ok(()),
            Special::Opaque(dir) => self.opaque(dir, &shown),
            Special::Whiteout { parent, name } => self.whiteout(parent, name, &shown),
            Special::AufsLink => {
                self.aufs_links = true;
                self.create(&rel, &raw, entry, &shown)
            }
            Special::None => self.create(&rel, &raw, entry, &shown),
        }
    }

    fn opaque(&mut self, dir: &[u8], shown: &str) -> Result<(), ApplyError> {
        self.report.whiteouts += 1;
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => whiteout::overlay_opaque(&mut self.root, dir),
            WhiteoutMode::Plain => whiteout::plain_opaque(&mut self.root, &self.layer, dir).map(|n| self.removed(n)),
        }
        .map_err(|e| e.at(shown))
    }

    fn whiteout(&mut self, parent: &[u8], name: &[u8], shown: &str) -> Result<(), ApplyError> {
        self.report.whiteouts += 1;
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => whiteout::overlay_whiteout(&mut self.root, &mut self.layer, parent, name).map(drop),
            WhiteoutMode::Plain => whiteout::plain_whiteout(&mut self.root, &self.layer, parent, name).map(|n| self.removed(n)),
        }
        .map_err(|e| e.at(shown))
    }

    /// `count` entries were removed: a split record can no longer be exact.
    fn removed(&self, count: u64) {
        if let (true, Some(split)) = (count > 0, &self.split) {
            split.borrow_mut().inexact();
        }
    }

    /// Creates an ordinary entry at `rel`.
    fn create<R: Read>(&mut self, rel: &RelPath, raw: &[u8], mut entry: tar::Entry<'_, R>, shown: &str) -> Result<(), ApplyError> {
        let header = entry.header();
        let kind = Kind::of(header, raw).ok_or_else(|| invalid(shown, format!("unsupported entry type {:?}", header.entry_type())))?;
        let meta = Meta::from_entry(&mut entry).map_err(|r| invalid(shown, r))?;
        if rel.is_root() {
            return self.update_root(kind, &meta, shown);
        }
        let link_target = match kind {
            Kind::Hardlink => Some(link_target(&entry, rel, shown)?),
            _ => None,
        };
        let (parent_rel, name) = rel.split();
        let parent = self.root.dir(parent_rel, true).map_err(io_err(shown, "resolve parent"))?;
        let existing = self.make_room(&parent, rel, name, kind).map_err(|e| e.at(shown))?;
        match (kind, link_target) {
            (Kind::Dir, _) => self.make_dir(&parent, rel, name, &meta, existing, shown)?,
            (Kind::File { sparse }, _) => self.make_file(&parent, rel, name, &meta, &mut entry, sparse, shown)?,
            (Kind::Symlink, _) => self.make_symlink(&parent, name, &meta, &entry, shown)?,
            (Kind::Hardlink, Some(target)) => self.make_hardlink(&parent, name, &target, &meta, shown)?,
            (Kind::Node(flag), _) => self.make_node(&parent, name, flag, &meta, &entry, shown)?,
            (Kind::Hardlink, None) => return Err(invalid(shown, "hardlink without target")),
        }
        if self.opts.whiteouts == WhiteoutMode::Plain {
            self.layer.mark(rel.as_bytes());
        }
        Ok(())
    }

    /// Makes room for a new entry at `parent/name`: an existing directory is
    /// kept for a directory entry, anything else is removed (a symlink itself,
    /// never what it points to).
    fn make_room(&mut self, parent: &OwnedFd, rel: &RelPath, name: &[u8], kind: Kind) -> Result<Existing, crate::error::OpError> {
        let Some(st) = lstat_at(parent.as_fd(), name).op("stat")? else {
            return Ok(Existing::Nothing);
        };
        if kind == Kind::Dir && is_dir(&st) {
            return Ok(Existing::Dir);
        }
        let own_whiteout = self.layer.is_own_whiteout(rel.as_bytes()) && whiteout::is_whiteout_device(&st);
        if let Some(split) = &self.split {
            split.borrow_mut().before_remove(parent.as_fd(), name, &st);
        }
        remove::prune(parent.as_fd(), name, rel.as_bytes(), REMOVE_ALL).op("remove existing entry")?;
        self.root.invalidate();
        Ok(if own_whiteout { Existing::OwnWhiteout } else { Existing::Nothing })
    }

    /// A `./` or `/` entry: only a directory may stand for the root, and its
    /// metadata is applied to the root as Docker does.
    fn update_root(&mut self, kind: Kind, meta: &Meta, shown: &str) -> Result<(), ApplyError> {
        if kind != Kind::Dir {
            return Err(invalid(shown, "only a directory can stand for the layer root"));
        }
        let fd = self.root.open_in_root(b"", DIR_READ).map_err(io_err(shown, "open root"))?;
        self.report.skipped_xattrs += meta::apply_fd(fd.as_fd(), meta, self.opts.same_owner, false).map_err(|e| e.at(shown))?;
        self.dir_times.push((Vec::new(), meta.mtime));
        Ok(())
    }

    fn make_dir(&mut self, parent: &OwnedFd, rel: &RelPath, name: &[u8], meta: &Meta, existing: Existing, shown: &str) -> Result<(), ApplyError> {
        if existing != Existing::Dir {
            nix::sys::stat::mkdirat(Some(parent.as_raw_fd()), sys::os(name), Mode::from_bits_retain(0o700))
                .map_err(|e| io_err(shown, "create directory")(e.into()))?;
        }
        let fd = sys::openat(parent.as_fd(), name, DIR_READ | OFlag::O_NOFOLLOW, Mode::empty()).map_err(io_err(shown, "open directory"))?;
        self.report.skipped_xattrs += meta::apply_fd(fd.as_fd(), meta, self.opts.same_owner, false).map_err(|e| e.at(shown))?;
        if existing == Existing::OwnWhiteout && self.opts.whiteouts == WhiteoutMode::Overlay {
            whiteout::mark_opaque(fd.as_fd()).map_err(|e| e.at(shown))?;
        }
        self.dir_times.push((rel.as_bytes().to_vec(), meta.mtime));
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn make_file<R: Read>(
        &mut self,
        parent: &OwnedFd,
        rel: &RelPath,
        name: &[u8],
        meta: &Meta,
        entry: &mut tar::Entry<'_, R>,
        sparse: bool,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
        let fd = sys::openat(parent.as_fd(), name, flags, Mode::from_bits_retain(0o600)).map_err(io_err(shown, "create file"))?;
        let mut file = File::from(fd);
        let expected = entry.size();
        if let (false, Some(split)) = (sparse, &self.split) {
            let ino = nix::sys::stat::fstat(file.as_raw_fd()).map_err(|e| io_err(shown, "stat file")(e.into()))?.st_ino;
            split.borrow_mut().file(entry.raw_file_position(), expected, rel.as_bytes(), ino);
        }
        let written = copy_data(entry, &mut file, &mut self.buf, self.durable.as_mut(), shown)?;
        if !sparse && written != expected {
            return Err(invalid(shown, format!("truncated data: {written} of {expected} bytes")));
        }
        self.report.bytes += written;
        self.report.skipped_xattrs += meta::apply_fd(file.as_fd(), meta, self.opts.same_owner, true).map_err(|e| e.at(shown))?;
        if let Some(d) = &mut self.durable {
            d.wrote(file).map_err(io_err(shown, "fsync file"))?;
        }
        Ok(())
    }

    fn make_symlink<R: Read>(&mut self, parent: &OwnedFd, name: &[u8], meta: &Meta, entry: &tar::Entry<'_, R>, shown: &str) -> Result<(), ApplyError> {
        let target = entry.link_name_bytes().ok_or_else(|| invalid(shown, "symlink without target"))?;
        if target.is_empty() || target.contains(&0) {
            return Err(invalid(shown, "invalid symlink target"));
        }
        // The target is stored as it is: it is resolved against the container
        // rootfs at run time, and our own resolution never follows it out.
        nix::unistd::symlinkat(sys::os(&target), Some(parent.as_raw_fd()), sys::os(name)).map_err(|e| io_err(shown, "create symlink")(e.into()))?;
        self.report.skipped_xattrs += meta::apply_at(parent.as_fd(), name, meta, self.opts.same_owner, true).map_err(|e| e.at(shown))?;
        Ok(())
    }

    /// Links `parent/name` to `target`, an existing non-directory resolved
    /// inside the root. Like Docker, the link header's metadata is then
    /// applied to the (shared) inode, unless it is a symlink or an AUFS link
    /// file, whose own header is authoritative.
    fn make_hardlink(&mut self, parent: &OwnedFd, name: &[u8], target: &RelPath, meta: &Meta, shown: &str) -> Result<(), ApplyError> {
        let (tp, tn) = target.split();
        let missing = || bad_link(shown, target.as_bytes(), "target does not exist");
        let tdir = match self.root.dir(tp, false) {
            Ok(dir) => dir,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Err(missing()),
            Err(e) => return Err(io_err(shown, "resolve hardlink target")(e)),
        };
        let st = lstat_at(tdir.as_fd(), tn).map_err(io_err(shown, "stat hardlink target"))?.ok_or_else(missing)?;
        if is_dir(&st) {
            return Err(bad_link(shown, target.as_bytes(), "target is a directory"));
        }
        nix::unistd::linkat(Some(tdir.as_raw_fd()), sys::os(tn), Some(parent.as_raw_fd()), sys::os(name), AtFlags::empty())
            .map_err(|e| io_err(shown, "create hardlink")(e.into()))?;
        let symlink = st.st_mode & libc::S_IFMT == libc::S_IFLNK;
        let aufs = target.as_bytes().starts_with(WHITEOUT_LINK_DIR.as_bytes());
        if !symlink && !aufs {
            self.report.skipped_xattrs += meta::apply_at(parent.as_fd(), name, meta, self.opts.same_owner, false).map_err(|e| e.at(shown))?;
        }
        Ok(())
    }

    fn make_node<R: Read>(
        &mut self,
        parent: &OwnedFd,
        name: &[u8],
        flag: SFlag,
        meta: &Meta,
        entry: &tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let header = entry.header();
        let major = header.device_major().map_err(|e| invalid(shown, format!("invalid device major: {e}")))?;
        let minor = header.device_minor().map_err(|e| invalid(shown, format!("invalid device minor: {e}")))?;
        let dev = nix::sys::stat::makedev(u64::from(major.unwrap_or(0)), u64::from(minor.unwrap_or(0)));
        nix::sys::stat::mknodat(Some(parent.as_raw_fd()), sys::os(name), flag, Mode::empty(), dev)
            .map_err(|e| io_err(shown, "create device node")(e.into()))?;
        self.report.skipped_xattrs += meta::apply_at(parent.as_fd(), name, meta, self.opts.same_owner, false).map_err(|e| e.at(shown))?;
        Ok(())
    }

    /// Removes the AUFS link dir, then restores directory times.
    fn finish(&mut self) -> Result<(), ApplyError> {
        if self.aufs_links {
            if let Some(split) = &self.split {
                let st = lstat_at(self.root.fd(), WHITEOUT_LINK_DIR.as_bytes()).map_err(io_err(WHITEOUT_LINK_DIR, "stat aufs link dir"))?;
                if let Some(st) = st {
                    split.borrow_mut().before_remove(self.root.fd(), WHITEOUT_LINK_DIR.as_bytes(), &st);
                }
            }
            remove::prune(self.root.fd(), WHITEOUT_LINK_DIR.as_bytes(), WHITEOUT_LINK_DIR.as_bytes(), REMOVE_ALL)
                .map_err(io_err(WHITEOUT_LINK_DIR, "remove aufs link dir"))?;
            self.root.invalidate();
        }
        for (rel, time) in std::mem::take(&mut self.dir_times) {
            let shown = String::from_utf8_lossy(&rel).into_owned();
            self.restore_dir_time(&rel, &time).map_err(io_err(&shown, "set directory times"))?;
        }
        Ok(())
    }

    /// Sets the times of directory `rel` if it is still a directory.
    fn restore_dir_time(&mut self, rel: &[u8], time: &TimeSpec) -> io::Result<()> {
        let (parent, name) = split(rel);
        let dir = match self.root.dir(parent, false) {
            Ok(dir) => dir,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => return Ok(()),
            Err(e) => return Err(e),
        };
        let name = if rel.is_empty() { b".".as_slice() } else { name };
        match lstat_at(dir.as_fd(), name)? {
            Some(st) if is_dir(&st) => {}
            _ => return Ok(()),
        }
        nix::sys::stat::utimensat(Some(dir.as_raw_fd()), sys::os(name), time, time, UtimensatFlags::NoFollowSymlink)?;
        Ok(())
    }
}

/// The normalized target of a hardlink entry at `rel`.
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, rel: &RelPath, shown: &str) -> Result<RelPath, ApplyError> {
    let raw = entry.link_name_bytes().ok_or_else(|| invalid(shown, "hardlink without target"))?;
    let target = RelPath::normalize(&raw).map_err(|_| bad_link(shown, &raw, "target escapes the layer root"))?;
    if target.is_root() {
        return Err(bad_link(shown, &raw, "target is a directory"));
    }
    if &target == rel {
        return Err(bad_link(shown, &raw, "target is the entry itself"));
    }
    Ok(target)
}

/// Copies an entry's data into `file` through `buf`; returns the byte count.
/// With `durable`, writeback of what was written starts every [`KICK_EVERY`]
/// bytes and at the end, and data is flushed behind the writer (see
/// [`Durable::wrote_bytes`]), so a later `fsync` has little left to wait for.
fn copy_data(src: &mut impl Read, file: &mut File, buf: &mut [u8], mut durable: Option<&mut Durable>, shown: &str) -> Result<u64, ApplyError> {
    let mut total = 0u64;
    let mut kicked = 0u64;
    loop {
        if durable.is_some() && total - kicked >= KICK_EVERY {
            Durable::kick(file.as_fd(), kicked, total - kicked);
            kicked = total;
        }
        let n = match src.read(buf) {
            Ok(0) => {
                if durable.is_some() && total > kicked {
                    Durable::kick(file.as_fd(), kicked, total - kicked);
                }
                return Ok(total);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(shown, "read entry data")(e)),
        };
        file.write_all(&buf[..n]).map_err(io_err(shown, "write file"))?;
        total += n as u64;
        if let Some(d) = durable.as_deref_mut() {
            d.wrote_bytes(file, n as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u8) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.as_mut_bytes()[156] = kind;
        h
    }

    #[test]
    fn kinds() {
        assert_eq!(Kind::of(&header(b'0'), b"f"), Some(Kind::File { sparse: false }));
        assert_eq!(Kind::of(&header(0), b"d/"), Some(Kind::Dir), "pre-POSIX directory");
        assert_eq!(Kind::of(&header(b'0'), b"d/"), Some(Kind::File { sparse: false }));
        assert_eq!(Kind::of(&header(b'5'), b"d"), Some(Kind::Dir));
        assert_eq!(Kind::of(&header(b'1'), b"l"), Some(Kind::Hardlink));
        assert_eq!(Kind::of(&header(b'6'), b"p"), Some(Kind::Node(SFlag::S_IFIFO)));
        assert_eq!(Kind::of(&header(b'V'), b"v"), None);
        assert_eq!(Kind::of(&header(b'g'), b"g"), None);
    }
}
