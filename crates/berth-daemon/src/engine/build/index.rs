//! Checksums of the context's files, computed on a second thread while the context is
//! unpacked, so a cached `COPY` does not read its sources again: the unpacking reader is
//! tee'd into a tar parser that hashes each regular file's data.
//!
//! The index is only used when it certainly describes what is on disk: entries are keyed by
//! their normalized tar path, a path replaced by a later non-file entry is dropped, and the
//! whole index is distrusted when the tar makes a path reach a file any other way (a file or
//! symlink used as the parent of a later entry, whiteouts, sparse files, a parse error).
//! Lookups also check the size. The context directory is private to the build and never
//! written after unpacking.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Read, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use berth_archive::DigestWriter;

/// Chunks in flight between the unpacker and the hasher.
const QUEUE: usize = 128;

/// Content checksums by context path.
#[derive(Debug, Default)]
pub struct ContextIndex {
    files: BTreeMap<String, (u64, String)>,
    trusted: bool,
}

impl ContextIndex {
    /// The sha256 (`sha256:<hex>`) of the file at `path` (relative to the context root)
    /// if it is known and `size` bytes long.
    pub fn lookup(&self, path: &str, size: u64) -> Option<&str> {
        if !self.trusted {
            return None;
        }
        self.files.get(path).filter(|(s, _)| *s == size).map(|(_, d)| d.as_str())
    }
}

/// A tar path as the layer applier places it: no leading `/`, no `.` or empty components,
/// `..` applied; `None` when it climbs out (the applier refuses those).
fn normalize(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut parts: Vec<&str> = Vec::new();
    for comp in text.split('/') {
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

/// Builds the index from the tar bytes it is fed.
pub struct Indexer {
    tx: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<ContextIndex>>,
}

impl Indexer {
    /// Starts the hashing thread.
    pub fn start() -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Vec<u8>>(QUEUE);
        let worker = std::thread::Builder::new().name("build-index".into()).spawn(move || index(ChanReader { rx, buf: Vec::new(), at: 0 }))?;
        Ok(Self { tx: Some(tx), worker: Some(worker) })
    }

    /// Wraps the reader the unpacker uses, copying what it reads to the hasher.
    pub fn tee<R: Read>(&self, inner: R) -> Tee<R> {
        Tee { inner, tx: self.tx.clone() }
    }

    /// Waits for the hasher (after the tee'd reader was read to its end and dropped).
    pub fn finish(mut self) -> ContextIndex {
        drop(self.tx.take());
        self.worker.take().and_then(|w| w.join().ok()).unwrap_or_default()
    }
}

/// A reader that also sends what it reads to the hasher.
pub struct Tee<R> {
    inner: R,
    tx: Option<SyncSender<Vec<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Some(tx) = &self.tx {
                if tx.send(buf[..n].to_vec()).is_err() {
                    self.tx = None;
                }
            }
        }
        Ok(n)
    }
}

struct ChanReader {
    rx: Receiver<Vec<u8>>,
    buf: Vec<u8>,
    at: usize,
}

impl Read for ChanReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// The hasher thread: parses the tar, hashes files, then drains the channel so the tee
/// never blocks on a hasher that stopped early.
fn index(mut reader: ChanReader) -> ContextIndex {
    let mut idx = ContextIndex { files: BTreeMap::new(), trusted: true };
    if scan(&mut reader, &mut idx).is_err() {
        idx.trusted = false;
    }
    let _ = io::copy(&mut reader, &mut io::sink());
    idx
}

fn scan(reader: &mut ChanReader, idx: &mut ContextIndex) -> io::Result<()> {
    let mut non_dirs: HashSet<String> = HashSet::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let Some(path) = normalize(&entry.path_bytes()) else {
            idx.trusted = false;
            return Ok(());
        };
        let base = path.rsplit('/').next().unwrap_or("");
        let through_non_dir = path.match_indices('/').any(|(i, _)| non_dirs.contains(&path[..i]));
        if base.starts_with(berth_archive::whiteout::WHITEOUT_PREFIX) || through_non_dir || kind == tar::EntryType::GNUSparse {
            idx.trusted = false;
            return Ok(());
        }
        idx.files.remove(&path);
        if kind != tar::EntryType::Directory {
            // A non-directory replaces a directory with everything below it.
            let below: Vec<String> = idx.files.range(format!("{path}/")..format!("{path}0")).map(|(k, _)| k.clone()).collect();
            for k in below {
                idx.files.remove(&k);
            }
        }
        match kind {
            tar::EntryType::Directory => {
                non_dirs.remove(&path);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut digest = DigestWriter::new(io::sink());
                let size = io::copy(&mut entry, &mut digest)?;
                digest.flush()?;
                non_dirs.insert(path.clone());
                idx.files.insert(path, (size, digest.digest()));
            }
            _ => {
                non_dirs.insert(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o644);
            if *kind == tar::EntryType::Symlink {
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap_or_default();
            } else {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, data.as_bytes()).unwrap_or_default();
            }
        }
        b.into_inner().unwrap_or_default()
    }

    fn build(bytes: &[u8]) -> ContextIndex {
        let indexer = Indexer::start().unwrap_or_else(|e| panic!("{e}"));
        let mut tee = indexer.tee(bytes);
        let _ = io::copy(&mut tee, &mut io::sink());
        drop(tee);
        indexer.finish()
    }

    #[test]
    fn files_are_hashed_by_path() {
        let idx = build(&tar_with(&[("./a/b.txt", tar::EntryType::Regular, "hello"), ("c", tar::EntryType::Regular, "x")]));
        let want = berth_image::Digest::of(b"hello").to_string();
        assert_eq!(idx.lookup("a/b.txt", 5), Some(want.as_str()));
        assert_eq!(idx.lookup("a/b.txt", 4), None, "the size must match");
        assert!(idx.lookup("c", 1).is_some());
    }

    #[test]
    fn paths_reached_through_links_distrust_everything() {
        let idx = build(&tar_with(&[
            ("real/f", tar::EntryType::Regular, "one"),
            ("link", tar::EntryType::Symlink, "real"),
            ("link/f", tar::EntryType::Regular, "two"),
        ]));
        assert_eq!(idx.lookup("real/f", 3), None);
        let idx = build(&tar_with(&[("f", tar::EntryType::Regular, "one"), ("f", tar::EntryType::Symlink, "/etc/passwd")]));
        assert_eq!(idx.lookup("f", 3), None, "a file replaced by a symlink is forgotten");
        let idx = build(&tar_with(&[("d/f", tar::EntryType::Regular, "one"), ("d", tar::EntryType::Symlink, "elsewhere")]));
        assert_eq!(idx.lookup("d/f", 3), None, "a directory replaced by a symlink takes its files along");
        let idx = build(b"not a tar at all, just some bytes that will not parse as a header............");
        assert_eq!(idx.lookup("anything", 0), None);
    }
}
