//! Tags: `repositories/<name>/_manifests/tags/<tag>/current` holding the manifest digest.

use super::fsutil;
use super::{read_digest_file, Storage, StorageResult};
use crate::digest::Digest;
use crate::names::{RepoName, Tag};

impl Storage {
    /// Points `tag` at `digest`, atomically replacing any previous target.
    pub(crate) fn put_tag(&self, name: &RepoName, tag: &Tag, digest: &Digest) -> StorageResult<()> {
        fsutil::write_atomic(&self.tmp_dir(), &self.tag_current(name, tag), digest.to_string().as_bytes())
    }

    /// The digest a tag points at; `None` when the tag does not exist.
    pub fn get_tag(&self, name: &RepoName, tag: &Tag) -> StorageResult<Option<Digest>> {
        read_digest_file(&self.tag_current(name, tag))
    }

    /// Deletes a tag; returns whether it existed.
    pub(crate) fn delete_tag(&self, name: &RepoName, tag: &Tag) -> StorageResult<bool> {
        let existed = fsutil::remove_file(&self.tag_current(name, tag))?;
        let _ = std::fs::remove_dir(self.tags_dir(name).join(tag.as_str()));
        Ok(existed)
    }

    /// The repository's tags in byte order; `None` when the repository does not exist.
    pub fn list_tags(&self, name: &RepoName) -> StorageResult<Option<Vec<String>>> {
        if !self.repo_dir(name).is_dir() {
            return Ok(None);
        }
        let dir = self.tags_dir(name);
        let mut tags: Vec<String> = fsutil::list_dir(&dir)?.into_iter().filter(|t| Tag::parse(t).is_ok() && dir.join(t).join("current").is_file()).collect();
        tags.sort();
        Ok(Some(tags))
    }

    /// Every tag of `name` that points at `digest`, so deleting a manifest can untag it.
    pub(crate) fn tags_pointing_to(&self, name: &RepoName, digest: &Digest) -> StorageResult<Vec<Tag>> {
        let mut out = Vec::new();
        for t in self.list_tags(name)?.unwrap_or_default() {
            let Ok(tag) = Tag::parse(&t) else { continue };
            if self.get_tag(name, &tag)?.as_ref() == Some(digest) {
                out.push(tag);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_sort_in_byte_order_and_delete() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Storage::open(dir.path()).expect("open");
        let name = RepoName::parse("r").expect("name");
        assert!(s.list_tags(&name).expect("list").is_none());
        let d = Digest::of_bytes(b"m");
        for t in ["b", "B", "a", "1"] {
            s.put_tag(&name, &Tag::parse(t).expect("tag"), &d).expect("put");
        }
        assert_eq!(s.list_tags(&name).expect("list"), Some(vec!["1".into(), "B".into(), "a".into(), "b".into()]));
        assert_eq!(s.tags_pointing_to(&name, &d).expect("ptr").len(), 4);
        let a = Tag::parse("a").expect("tag");
        assert!(s.delete_tag(&name, &a).expect("del"));
        assert!(s.get_tag(&name, &a).expect("get").is_none());
    }
}
