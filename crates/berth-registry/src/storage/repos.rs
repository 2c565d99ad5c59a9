//! Repository discovery: walking `repositories/` for the catalog and for `gc`.

use std::path::Path;

use super::fsutil;
use super::{Storage, StorageResult};
use crate::names::RepoName;

/// Deepest nesting walked; names are at most 255 bytes, so 128 components is already generous.
const MAX_DEPTH: usize = 128;

impl Storage {
    /// Every repository (a directory holding `_manifests` or `_layers`), sorted by name.
    pub fn list_repositories(&self) -> StorageResult<Vec<RepoName>> {
        let mut out = Vec::new();
        walk(&self.repositories_dir(), "", 0, &mut out)?;
        out.sort();
        Ok(out)
    }

    /// True when the repository has ever received a blob or manifest.
    pub fn repo_exists(&self, name: &RepoName) -> bool {
        self.repo_dir(name).is_dir()
    }
}

fn walk(dir: &Path, prefix: &str, depth: usize, out: &mut Vec<RepoName>) -> StorageResult<()> {
    if depth > MAX_DEPTH {
        return Ok(());
    }
    let entries = fsutil::list_dir(dir)?;
    if !prefix.is_empty() && entries.iter().any(|e| e == "_manifests" || e == "_layers") {
        if let Ok(name) = RepoName::parse(prefix) {
            out.push(name);
        }
    }
    for entry in entries.iter().filter(|e| !e.starts_with('_')) {
        let path = dir.join(entry);
        if path.is_dir() {
            let child = if prefix.is_empty() { entry.clone() } else { format!("{prefix}/{entry}") };
            walk(&path, &child, depth + 1, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;

    #[test]
    fn lists_nested_repositories() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(dir.path()).expect("open");
        let d = Digest::of_bytes(b"x");
        for n in ["b", "a/b/c", "a"] {
            s.link_blob(&RepoName::parse(n).expect("name"), &d).expect("link");
        }
        let names: Vec<String> = s.list_repositories().expect("list").iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["a", "a/b/c", "b"]);
    }
}
