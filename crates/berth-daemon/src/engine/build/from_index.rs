//! `COPY`/`ADD` from the context answered by its index ([`super::index`]) instead of the
//! unpacked directory: source globbing and lookups ([`plan`]) and checksums ([`hash`]),
//! giving exactly what the on-disk code gives for the same tree. Whenever the index cannot
//! tell (a symlink on the way, an untrusted index), the answer is `None` and the caller
//! unpacks the context and asks the disk.

use std::io::{self, Write};

use berth_archive::DigestWriter;
use berth_build::CopySource;

use super::copy::SourceTree;
use super::copy_apply::{inline_hash, EntryLine, Source};
use super::index::{ContextIndex, Kind, Lookup};

impl SourceTree for ContextIndex {
    fn exists(&self, rel: &str) -> Option<bool> {
        match self.resolve(rel) {
            Lookup::Found(_) => Some(true),
            Lookup::Missing => Some(false),
            Lookup::Unknown => None,
        }
    }

    fn list(&self, rel: &str) -> Option<io::Result<Vec<(String, bool)>>> {
        match ContextIndex::list(self, rel)? {
            Some(names) => Some(Ok(names)),
            None => Some(Err(io::Error::new(io::ErrorKind::NotFound, format!("{rel}: not a directory")))),
        }
    }
}

/// Sources after globbing, each with its checksum.
pub type Planned = (Vec<Source>, Vec<String>);

/// The sources of a copy from the context and their checksums; `None` when the index
/// cannot tell, `Some(Err)` for the error the disk would give.
pub fn plan(index: &ContextIndex, raw: &[CopySource], cmd: &str) -> Option<Result<Planned, String>> {
    let sources = match super::copy::plan_sources(index, raw, cmd, true) {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    let hashes = sources.iter().map(|s| hash(index, s)).collect::<Option<Vec<_>>>()?;
    Some(Ok((sources, hashes)))
}

/// The checksum of one source, as `copy_apply::source_hash` computes it on disk.
pub fn hash(index: &ContextIndex, source: &Source) -> Option<String> {
    let (rel, name) = match source {
        Source::Inline { name, data } => return Some(inline_hash(name, data)),
        Source::Remote { file, .. } => return super::copy_apply::remote_hash(file).ok(),
        Source::Path { rel, name } => (rel, name),
    };
    let mut summary = DigestWriter::new(io::sink());
    summary.write_all(name.as_bytes()).ok()?;
    let mut kind = "file";
    let walked = index.walk(rel, &mut |sub, node| {
        if sub.is_empty() && node.kind == Kind::Dir {
            kind = "dir";
            return Ok(());
        }
        let (tag, link) = match &node.kind {
            Kind::Dir => ('d', ""),
            Kind::File => ('f', ""),
            Kind::Symlink(t) => ('l', t.as_str()),
            Kind::Other => ('o', ""),
        };
        let line = EntryLine { rel: sub, tag, mode: node.mode, owner: (node.uid, node.gid), size: node.size, mtime: node.mtime, link, content: &node.digest };
        summary.write_all(line.text().as_bytes())
    });
    walked.ok()?;
    let digest = summary.digest();
    Some(format!("{kind}:{}", digest.strip_prefix("sha256:").unwrap_or(&digest)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_archive::{apply_layer, ApplyOptions, WhiteoutMode};

    #[test]
    fn index_checksums_equal_the_disk_ones() {
        let entries: &[super::super::test_tar::Entry<'_>] = &[
            ("src/", tar::EntryType::Directory, "", 0o750),
            ("src/a.txt", tar::EntryType::Regular, "alpha", 0o644),
            ("src/sub/b", tar::EntryType::Regular, "beta", 0o600),
            ("src/ln", tar::EntryType::Symlink, "a.txt", 0o777),
            ("top", tar::EntryType::Regular, "t", 0o755),
        ];
        let bytes = super::super::test_tar::context_tar(entries, 0);
        let idx = super::super::index::scan(bytes.as_slice());
        let dir = std::env::temp_dir().join(format!("berth-from-index-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let opts = ApplyOptions { whiteouts: WhiteoutMode::Plain, same_owner: true };
        assert!(apply_layer(&dir, bytes.as_slice(), &opts).is_ok());
        for rel in ["src", "top", "src/sub/b", ""] {
            let source = Source::Path { rel: rel.to_string(), name: "x".into() };
            let on_disk = super::super::copy_apply::source_hash(&dir, &source).ok();
            assert!(on_disk.is_some());
            assert_eq!(hash(&idx, &source), on_disk, "{rel}");
        }
        let via_link = Source::Path { rel: "src/ln".into(), name: "ln".into() };
        assert_eq!(hash(&idx, &via_link), None, "symlinks are left to the disk");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
