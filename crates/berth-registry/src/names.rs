//! Repository names, tags and manifest references, validated before they touch the disk.
//!
//! A valid name or tag can be joined onto a storage path as-is: the grammars below admit no
//! `..`, no empty component, no leading `_` or `.`, and no percent escapes.

use std::fmt;

use crate::digest::{Digest, DigestError};

/// Longest repository name accepted, as CNCF distribution and most clients limit it.
const MAX_NAME_LEN: usize = 255;
/// Longest tag accepted by the spec.
const MAX_TAG_LEN: usize = 128;

/// Why a name, tag or reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The repository name does not match the spec's grammar.
    #[error("invalid repository name {0:?}")]
    InvalidName(String),
    /// The tag does not match `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    #[error("invalid tag {0:?}")]
    InvalidTag(String),
    /// The reference looked like a digest but was not a usable one.
    #[error(transparent)]
    Digest(#[from] DigestError),
}

/// A repository name such as `library/alpine`, valid per the distribution spec.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// Validates a name against
    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > MAX_NAME_LEN || !s.split('/').all(is_component) {
            return Err(NameError::InvalidName(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as it appears in URLs and under `repositories/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One path component: alphanumeric runs joined by `.`, `_`, `__` or any number of `-`.
fn is_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && is_lower_alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        match bytes[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if bytes.get(i) == Some(&b'_') {
                    i += 1;
                }
            }
            b'-' => {
                while bytes.get(i) == Some(&b'-') {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// A tag such as `latest`, valid per the spec and therefore safe as a directory name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// Validates a tag against `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        let mut bytes = s.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if first_ok && rest_ok && s.len() <= MAX_TAG_LEN {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError::InvalidTag(s.to_owned()))
        }
    }

    /// The tag text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What follows `/manifests/`: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A mutable name pointing at a manifest.
    Tag(Tag),
    /// An immutable content address.
    Digest(Digest),
}

impl Reference {
    /// Anything with a `:` is a digest (tags cannot contain one); everything else is a tag.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.contains(':') {
            Ok(Self::Digest(s.parse()?))
        } else {
            Ok(Self::Tag(Tag::parse(s)?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => t.fmt(f),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_spec_names() {
        for ok in ["a", "library/alpine", "a/b/c", "a.b", "a_b", "a__b", "a---b", "x0/y-1.z_2"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_names() {
        for bad in ["", "A", "a//b", "/a", "a/", "..", "a/../b", "a/./b", ".a", "a.", "a_", "a___b", "a%2Fb", "_a", "a/_b", "a..b", "a._b", "a b"] {
            assert!(RepoName::parse(bad).is_err(), "{bad}");
        }
        assert!(RepoName::parse(&"a".repeat(256)).is_err());
    }

    #[test]
    fn tags() {
        for ok in ["latest", "v1.0", "_x", "A-b_c.d"] {
            assert!(Tag::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", "..", "a%2F"] {
            assert!(Tag::parse(bad).is_err(), "{bad}");
        }
        assert!(Tag::parse(&"a".repeat(128)).is_ok());
        assert!(Tag::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn references() {
        assert!(matches!(Reference::parse("latest"), Ok(Reference::Tag(_))));
        let d = format!("sha256:{}", "a".repeat(64));
        assert!(matches!(Reference::parse(&d), Ok(Reference::Digest(_))));
        assert!(Reference::parse("sha256:zz").is_err());
    }
}
