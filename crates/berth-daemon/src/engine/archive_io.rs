//! The tar streams of `docker cp`: writing what a path holds (blocking, from an fd resolved
//! inside the container root) and extracting an uploaded tar into a directory (validated and
//! spooled first, then applied by the in-root layer applier).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use berth_archive::copy::{lstat_in_root, open_dir_in_root, FileKind};
use berth_archive::{apply_layer, write_tar_from_dir, ApplyOptions, ErrorKind, Selection, TarOptions, WhiteoutMode};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::archive::{Located, Requested};
use crate::error::EngineError;

/// What `PUT /containers/{id}/archive` asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct PutOptions {
    /// Refuse to replace a directory with a non-directory or the reverse (the CLI sets it).
    pub no_overwrite_dir_non_dir: bool,
    /// Own the files as the container's user (`docker cp -a`); else keep the tar's owners.
    pub copy_uid_gid: bool,
}

const CHUNK: usize = 256 * 1024;

/// A blocking writer that sends what it gets to an async channel in chunks.
pub struct ChannelWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    /// Writes into `tx`.
    pub fn new(tx: mpsc::Sender<Bytes>) -> Self {
        Self { tx, buf: Vec::with_capacity(CHUNK) }
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(chunk).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Drop for ChannelWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn write_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Internal(format!("archive: {e}"))
}

/// Writes a tar of what `req` names inside `loc`: its entry named after the path's last
/// component (`name`, `name/...`), or `./...` for `dir/.` and `/`. Nothing is followed below
/// the named path; a named symlink is archived as a symlink, as Docker does.
pub fn write_archive(loc: &Located, req: &Requested, out: impl Write + Send) -> Result<(), EngineError> {
    if req.name == "." || req.name == "/" {
        let dir = open_dir_in_root(&loc.root, &loc.rel).map_err(write_err)?;
        return write_contents(&fd_path(&dir), out);
    }
    let parent = Path::new(&loc.rel).parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/".into());
    let name = Path::new(&loc.rel).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let dir = open_dir_in_root(&loc.root, &parent).map_err(write_err)?;
    let wanted = PathBuf::from(&name);
    let opts = TarOptions {
        whiteouts: WhiteoutMode::Plain,
        filter: Some(Box::new(move |p: &Path| if p.starts_with(&wanted) { Selection::Include } else { Selection::Prune })),
    };
    write_tar_from_dir(&fd_path(&dir), out, &opts).map_err(write_err)?;
    Ok(())
}

/// `./` plus every entry below `dir`, prefixed with `./`.
fn write_contents(dir: &Path, out: impl Write + Send) -> Result<(), EngineError> {
    let (reader, writer) = nix::unistd::pipe().map_err(write_err)?;
    let (reader, writer) = (File::from(reader), File::from(writer));
    let dir2 = dir.to_path_buf();
    let walker = std::thread::spawn(move || {
        let w = BufWriter::with_capacity(CHUNK, writer);
        write_tar_from_dir(&dir2, w, &TarOptions::new(WhiteoutMode::Plain))
    });
    let meta = std::fs::metadata(dir).map_err(write_err)?;
    let rebased = rebase(BufReader::with_capacity(CHUNK, reader), ".", &meta, out);
    let walked = walker.join().map_err(|_| EngineError::Internal("archive walker panicked".into()))?;
    walked.map_err(write_err)?;
    rebased.map_err(write_err)
}

/// Puts `value` in a header field, or a GNU long-name (`L`) or long-link (`K`) entry before
/// the header when it does not fit. The tar crate's own setters normalize `./` away, and
/// Docker's clients rebase entries by that very prefix.
fn raw_name(b: &mut tar::Builder<impl Write>, h: &mut tar::Header, value: &[u8], link: bool) -> io::Result<()> {
    let field = if link { &mut h.as_old_mut().linkname } else { &mut h.as_old_mut().name };
    field.fill(0);
    if value.len() <= field.len() {
        field[..value.len()].copy_from_slice(value);
        return Ok(());
    }
    field.copy_from_slice(&value[..100]);
    let mut long = tar::Header::new_gnu();
    long.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
    long.set_mode(0o644);
    long.set_size(value.len() as u64 + 1);
    long.set_entry_type(if link { tar::EntryType::GNULongLink } else { tar::EntryType::GNULongName });
    long.set_cksum();
    let mut data = value.to_vec();
    data.push(0);
    b.append(&long, data.as_slice())
}

/// Re-writes the tar on `input` with every name (and hardlink target) under `prefix`, after a
/// directory entry for `prefix` itself.
fn rebase(input: impl Read, prefix: &str, top: &std::fs::Metadata, out: impl Write) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let mut b = tar::Builder::new(out);
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(top.mode() & 0o7777);
    h.set_uid(top.uid().into());
    h.set_gid(top.gid().into());
    h.set_mtime(u64::try_from(top.mtime()).unwrap_or(0));
    h.set_size(0);
    raw_name(&mut b, &mut h, format!("{prefix}/").as_bytes(), false)?;
    h.set_cksum();
    b.append(&h, io::empty())?;
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries()? {
        let mut e = entry?;
        let mut path = format!("{prefix}/{}", e.path()?.to_string_lossy().trim_end_matches('/'));
        let mut h = e.header().clone();
        if h.entry_type() == tar::EntryType::Directory {
            path.push('/');
        }
        let link = match h.entry_type() {
            tar::EntryType::Symlink => e.link_name_bytes().map(|l| l.into_owned()),
            tar::EntryType::Link => e.link_name_bytes().map(|l| [prefix.as_bytes(), b"/", &l].concat()),
            _ => None,
        };
        if let Some(link) = link {
            raw_name(&mut b, &mut h, &link, true)?;
        }
        raw_name(&mut b, &mut h, path.as_bytes(), false)?;
        h.set_cksum();
        b.append(&h, &mut e)?;
    }
    b.into_inner()?.flush()
}

fn invalid(e: impl std::fmt::Display) -> EngineError {
    EngineError::Invalid(format!("invalid tar archive: {e}"))
}

/// Extracts the tar read from `input` into the existing directory `loc` names: validated and
/// spooled to `spool` first (names, `noOverwriteDirNonDir`, owners), then applied with every
/// path resolved inside that directory.
pub fn extract(loc: &Located, path: &str, input: impl Read, spool: &Path, owner: Option<(u32, u32)>, opts: PutOptions) -> Result<(), EngineError> {
    let dest = open_dir_in_root(&loc.root, &loc.rel).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => EngineError::NotFound(path.to_string()),
        Some(libc::ENOTDIR) => EngineError::Invalid(format!("extraction point is not a directory: {path}")),
        _ => EngineError::internal(path, e),
    })?;
    let dest_root = fd_path(&dest);
    let file = File::create(spool).map_err(|e| EngineError::internal("create spool", e))?;
    let mut b = tar::Builder::new(BufWriter::with_capacity(CHUNK, file));
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries().map_err(invalid)? {
        let mut e = entry.map_err(invalid)?;
        let name = e.path().map_err(invalid)?.to_string_lossy().into_owned();
        check_entry(&dest_root, &name, e.header().entry_type(), path, opts)?;
        let mut h = e.header().clone();
        if let Some((uid, gid)) = owner {
            h.set_uid(uid.into());
            h.set_gid(gid.into());
        }
        let appended = match h.entry_type() {
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let link = e.link_name().map_err(invalid)?.map(|l| l.into_owned()).unwrap_or_default();
                b.append_link(&mut h, &name, link)
            }
            _ => b.append_data(&mut h, &name, &mut e),
        };
        appended.map_err(invalid)?;
    }
    b.into_inner().and_then(|mut w| w.flush()).map_err(|e| EngineError::internal("write spool", e))?;
    let spooled = File::open(spool).map_err(|e| EngineError::internal("open spool", e))?;
    apply_layer(&dest_root, BufReader::with_capacity(CHUNK, spooled), &ApplyOptions { whiteouts: WhiteoutMode::Plain, same_owner: true }).map_err(
        |e| match e.kind() {
            ErrorKind::Invalid => EngineError::Invalid(e.to_string()),
            ErrorKind::Io => EngineError::Internal(e.to_string()),
        },
    )?;
    Ok(())
}

/// Refuses whiteout names (the applier would delete with them) and, when asked, replacing a
/// directory with a non-directory or the reverse.
fn check_entry(dest: &Path, name: &str, kind: tar::EntryType, path: &str, opts: PutOptions) -> Result<(), EngineError> {
    let base = Path::new(name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if base.starts_with(".wh.") {
        return Err(EngineError::Invalid(format!("cannot copy {name:?}: names starting with .wh. are reserved for layer whiteouts")));
    }
    if !opts.no_overwrite_dir_non_dir {
        return Ok(());
    }
    let Ok(existing) = lstat_in_root(dest, name) else { return Ok(()) };
    let new_is_dir = kind == tar::EntryType::Directory;
    let shown = format!("{}/{}", path.trim_end_matches('/'), name.trim_start_matches("./").trim_end_matches('/'));
    match (existing.kind == FileKind::Dir, new_is_dir) {
        (true, false) => Err(EngineError::Invalid(format!("cannot overwrite directory {shown:?} with non-directory {name:?}"))),
        (false, true) => Err(EngineError::Invalid(format!("cannot overwrite non-directory {shown:?} with directory {name:?}"))),
        _ => Ok(()),
    }
}
