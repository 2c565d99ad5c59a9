//! What the context tar holds, read once as it arrives: every entry's type, mode, owner,
//! size, mtime, symlink target, and for regular files the sha256 of the content and where
//! that content lies in the spooled tar ([`super::spool`]). With it, a `COPY` from the
//! context finds and checksums its sources, and copies them, without the context ever being
//! unpacked: a fully cached build writes no context file at all.
//!
//! The index is only used when it certainly describes what unpacking would produce: entries
//! are keyed by their normalized tar path, later entries replace earlier ones as the layer
//! applier does, and the whole index is distrusted when the tar does anything harder to
//! model (a path reached through a file or symlink, hard links, whiteouts, sparse files, a
//! parse error). A path that goes through a symlink is answered with
//! [`Lookup::Unknown`]: those are resolved on the unpacked context instead.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use berth_archive::DigestWriter;

/// Copy buffer for hashing entries.
const BUF: usize = 256 << 10;

/// What an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory (listed in the tar, or implied by a path below it).
    Dir,
    /// A regular file.
    File,
    /// A symlink with its target as stored.
    Symlink(String),
    /// A device, fifo or socket.
    Other,
}

/// One entry of the context.
#[derive(Debug, Clone)]
pub struct Node {
    /// What it is.
    pub kind: Kind,
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Content size (regular files).
    pub size: u64,
    /// Modification time, seconds.
    pub mtime: i64,
    /// Offset of the content in the spooled tar (regular files).
    pub offset: u64,
    /// `sha256:<hex>` of the content (regular files).
    pub digest: String,
    /// A directory the tar does not list, only paths below it (unpacking creates it with
    /// the time of the unpack).
    pub implied: bool,
}

impl Node {
    fn implied_dir() -> Self {
        Node { kind: Kind::Dir, mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, offset: 0, digest: String::new(), implied: true }
    }
}

/// The answer to a path lookup.
#[derive(Debug)]
pub enum Lookup<'a> {
    /// The entry at that path (no symlink on the way, nor at the end).
    Found(&'a Node),
    /// Nothing is there.
    Missing,
    /// The index cannot tell (a symlink on the way, or an untrusted index).
    Unknown,
}

/// The context's entries by normalized path (`""` is the root).
#[derive(Debug, Default)]
pub struct ContextIndex {
    nodes: BTreeMap<String, Node>,
    trusted: bool,
}

/// A tar path as the layer applier places it: no leading `/`, no `.` or empty components,
/// `..` applied; `None` when it climbs out (the applier refuses those).
fn normalize(raw: &[u8]) -> Option<String> {
    super::copy::clean_source(std::str::from_utf8(raw).ok()?)
}

fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map(|(p, _)| p).unwrap_or("")
}

fn subtree(path: &str) -> (String, String) {
    if path.is_empty() {
        (String::new(), String::from("\u{10ffff}"))
    } else {
        (format!("{path}/"), format!("{path}0"))
    }
}

impl ContextIndex {
    /// Whether the index may be used at all.
    pub fn trusted(&self) -> bool {
        self.trusted
    }

    /// The entry at `rel` (a cleaned relative path, `""` for the root).
    pub fn resolve(&self, rel: &str) -> Lookup<'_> {
        if !self.trusted {
            return Lookup::Unknown;
        }
        let mut at = 0;
        loop {
            let end = rel[at..].find('/').map(|i| at + i).unwrap_or(rel.len());
            let prefix = &rel[..end];
            let node = match self.nodes.get(prefix) {
                Some(n) => n,
                None if prefix.is_empty() => return Lookup::Unknown,
                None => return Lookup::Missing,
            };
            if let Kind::Symlink(_) = node.kind {
                return Lookup::Unknown;
            }
            if end == rel.len() {
                return Lookup::Found(node);
            }
            if node.kind != Kind::Dir {
                return Lookup::Missing;
            }
            at = end + 1;
        }
    }

    /// The names in directory `rel`, sorted bytewise, each with whether it is a directory;
    /// `None` when the index cannot tell, `Some(None)` when `rel` is not a directory.
    pub fn list(&self, rel: &str) -> Option<Option<Vec<(String, bool)>>> {
        match self.resolve(rel) {
            Lookup::Unknown => None,
            Lookup::Missing => Some(None),
            Lookup::Found(n) if n.kind != Kind::Dir => Some(None),
            Lookup::Found(_) => Some(Some(self.children(rel).map(|(name, n)| (name.to_string(), n.kind == Kind::Dir)).collect())),
        }
    }

    /// The direct children of directory `dir`, sorted bytewise by name.
    fn children<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a str, &'a Node)> + 'a {
        let (lo, hi) = subtree(dir);
        let skip = lo.len();
        let mut kids: Vec<(&str, &Node)> =
            self.nodes.range(lo..hi).map(|(k, n)| (&k[skip..], n)).filter(|(name, _)| !name.is_empty() && !name.contains('/')).collect();
        kids.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        kids.into_iter()
    }

    /// Visits `rel`'s entry (with an empty relative path) and, for a directory, everything
    /// below it depth first, names sorted bytewise, a directory before its children: the
    /// order of `berth_archive::inroot::walk_in_root`. `rel` must resolve to [`Lookup::Found`].
    pub fn walk(&self, rel: &str, visit: &mut dyn FnMut(&str, &Node) -> io::Result<()>) -> io::Result<()> {
        let Lookup::Found(node) = self.resolve(rel) else {
            return Err(io::Error::other(format!("{rel}: not in the context index")));
        };
        visit("", node)?;
        if node.kind == Kind::Dir {
            self.walk_dir(rel, "", visit)?;
        }
        Ok(())
    }

    fn walk_dir(&self, dir: &str, prefix: &str, visit: &mut dyn FnMut(&str, &Node) -> io::Result<()>) -> io::Result<()> {
        for (name, node) in self.children(dir) {
            let full = if dir.is_empty() { name.to_string() } else { format!("{dir}/{name}") };
            let rel = if prefix.is_empty() { name.to_string() } else { format!("{prefix}/{name}") };
            visit(&rel, node)?;
            if node.kind == Kind::Dir {
                self.walk_dir(&full, &rel, visit)?;
            }
        }
        Ok(())
    }

    /// Forgets the non-directory at `rel` (a build file `.dockerignore` lists).
    pub fn remove_file(&mut self, rel: &str) {
        if self.nodes.get(rel).is_some_and(|n| n.kind != Kind::Dir) {
            self.nodes.remove(rel);
        }
    }

    fn insert(&mut self, path: String, node: Node) {
        let old_dir = self.nodes.get(&path).is_some_and(|n| n.kind == Kind::Dir);
        if node.kind != Kind::Dir || !old_dir {
            // A non-directory replaces a directory with everything below it.
            let (lo, hi) = subtree(&path);
            let below: Vec<String> = self.nodes.range(lo..hi).map(|(k, _)| k.clone()).collect();
            for k in below {
                self.nodes.remove(&k);
            }
        }
        let mut parent = parent_of(&path).to_string();
        while !self.nodes.contains_key(&parent) {
            self.nodes.insert(parent.clone(), Node::implied_dir());
            if parent.is_empty() {
                break;
            }
            parent = parent_of(&parent).to_string();
        }
        self.nodes.insert(path, node);
    }
}

/// Reads the whole tar from `reader` (which records it into the spool), returning its index.
/// The reader is always drained, so the spool holds the full stream even when the index is
/// distrusted.
pub fn scan(mut reader: impl Read) -> ContextIndex {
    let mut idx = ContextIndex { nodes: BTreeMap::new(), trusted: true };
    idx.nodes.insert(String::new(), Node::implied_dir());
    if scan_entries(&mut reader, &mut idx).is_err() {
        idx.trusted = false;
    }
    let _ = io::copy(&mut reader, &mut io::sink());
    if !idx.trusted {
        idx.nodes.clear();
    }
    idx
}

fn scan_entries(reader: &mut impl Read, idx: &mut ContextIndex) -> io::Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut buf = vec![0u8; BUF];
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
        let mut through_non_dir = false;
        let mut p = parent_of(&path);
        loop {
            if idx.nodes.get(p).is_some_and(|n| n.kind != Kind::Dir) {
                through_non_dir = true;
            }
            if p.is_empty() {
                break;
            }
            p = parent_of(p);
        }
        let odd = !matches!(kind, tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory | tar::EntryType::Symlink)
            && !matches!(kind, tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo);
        if base.starts_with(berth_archive::whiteout::WHITEOUT_PREFIX) || through_non_dir || odd {
            idx.trusted = false;
            return Ok(());
        }
        let h = entry.header();
        let old = h.as_old();
        let mut node = Node {
            kind: Kind::Other,
            mode: lenient(&old.mode, h.mode().map(u64::from))? as u32 & 0o7777,
            uid: u32::try_from(lenient(&old.uid, h.uid())?).map_err(io::Error::other)?,
            gid: u32::try_from(lenient(&old.gid, h.gid())?).map_err(io::Error::other)?,
            size: 0,
            mtime: i64::try_from(lenient(&old.mtime, h.mtime())?).map_err(io::Error::other)?,
            offset: entry.raw_file_position(),
            digest: String::new(),
            implied: false,
        };
        match kind {
            tar::EntryType::Directory => node.kind = Kind::Dir,
            tar::EntryType::Symlink => {
                let target = entry.link_name_bytes().ok_or_else(|| io::Error::other("symlink without a target"))?;
                let target = String::from_utf8(target.into_owned()).map_err(io::Error::other)?;
                node.size = target.len() as u64;
                node.kind = Kind::Symlink(target);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut digest = DigestWriter::new(io::sink());
                let mut size = 0u64;
                loop {
                    let n = entry.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    digest.write_all(&buf[..n])?;
                    size += n as u64;
                }
                node.kind = Kind::File;
                node.size = size;
                node.digest = digest.digest();
            }
            _ => {}
        }
        if path.is_empty() && node.kind != Kind::Dir {
            idx.trusted = false;
            return Ok(());
        }
        idx.insert(path, node);
    }
    Ok(())
}

/// A numeric header field; an empty one (all NULs or spaces) reads as 0, as the layer
/// applier reads it.
fn lenient(raw: &[u8], parsed: io::Result<u64>) -> io::Result<u64> {
    match parsed {
        Ok(v) => Ok(v),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let entries: Vec<super::super::test_tar::Entry<'_>> = entries.iter().map(|(name, kind, data)| (*name, *kind, *data, 0o644)).collect();
        super::super::test_tar::context_tar(&entries, 0)
    }

    fn file<'a>(idx: &'a ContextIndex, path: &str) -> Option<&'a Node> {
        match idx.resolve(path) {
            Lookup::Found(n) => Some(n),
            _ => None,
        }
    }

    #[test]
    fn files_are_hashed_by_path_with_their_offsets() {
        let bytes = tar_with(&[("./a/b.txt", tar::EntryType::Regular, "hello"), ("c", tar::EntryType::Regular, "x")]);
        let idx = scan(bytes.as_slice());
        let n = file(&idx, "a/b.txt").cloned().unwrap_or_else(Node::implied_dir);
        assert_eq!(n.digest, berth_image::Digest::of(b"hello").to_string());
        assert_eq!(&bytes[n.offset as usize..n.offset as usize + 5], b"hello");
        assert_eq!(file(&idx, "a").map(|n| n.kind.clone()), Some(Kind::Dir), "parents are implied");
        assert!(matches!(idx.resolve("nope"), Lookup::Missing));
        assert!(matches!(idx.resolve("c/x"), Lookup::Missing));
    }

    #[test]
    fn walks_are_depth_first_and_bytewise() {
        let idx = scan(
            tar_with(&[("d/a-c", tar::EntryType::Regular, "1"), ("d/a/b", tar::EntryType::Regular, "2"), ("d/B", tar::EntryType::Regular, "3")]).as_slice(),
        );
        let mut seen = Vec::new();
        idx.walk("d", &mut |rel, _| {
            seen.push(rel.to_string());
            Ok(())
        })
        .unwrap_or_default();
        assert_eq!(seen, ["", "B", "a", "a/b", "a-c"]);
    }

    #[test]
    fn symlinks_are_left_to_the_disk_and_odd_tars_distrusted() {
        let idx = scan(tar_with(&[("real/f", tar::EntryType::Regular, "one"), ("link", tar::EntryType::Symlink, "real")]).as_slice());
        assert!(matches!(idx.resolve("link/f"), Lookup::Unknown));
        assert!(matches!(idx.resolve("link"), Lookup::Unknown));
        assert!(file(&idx, "real/f").is_some());
        let idx = scan(
            tar_with(&[("real/f", tar::EntryType::Regular, "one"), ("link", tar::EntryType::Symlink, "real"), ("link/f", tar::EntryType::Regular, "two")])
                .as_slice(),
        );
        assert!(!idx.trusted());
        let idx = scan(tar_with(&[("f", tar::EntryType::Regular, "one"), ("h", tar::EntryType::Link, "f")]).as_slice());
        assert!(!idx.trusted(), "hard links are not modelled");
        let idx = scan(tar_with(&[("d/f", tar::EntryType::Regular, "one"), ("d", tar::EntryType::Regular, "x")]).as_slice());
        assert!(matches!(idx.resolve("d/f"), Lookup::Missing), "a file replacing a directory takes its files along");
        let idx = scan(&b"not a tar at all, just some bytes that will not parse as a header............"[..]);
        assert!(matches!(idx.resolve("anything"), Lookup::Unknown));
    }
}
