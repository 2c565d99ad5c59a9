//! Content digests: parsing what clients send and computing what we store.
//!
//! Only `sha256` is accepted. A digest is always recomputed from the bytes the registry holds;
//! a client-given digest is a claim to check, never an identity to trust.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

/// Why a digest string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The string is not `algorithm:encoded` with a registered algorithm syntax.
    #[error("invalid digest {0:?}")]
    Malformed(String),
    /// The algorithm is well formed but the registry does not compute it.
    #[error("unsupported digest algorithm {0:?}")]
    Unsupported(String),
}

/// A `sha256:<64 lowercase hex>` digest, validated so it is safe to use as a file name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Builds a digest from a 64-character lowercase hex string, as stored in file names.
    pub fn from_hex(hex: &str) -> Result<Self, DigestError> {
        if is_sha256_hex(hex) {
            Ok(Self { hex: hex.to_owned() })
        } else {
            Err(DigestError::Malformed(format!("sha256:{hex}")))
        }
    }

    /// Computes the digest of a byte slice (manifests, configs: small things held in memory).
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// Finishes a running hash, the way streamed uploads are digested.
    pub fn from_hasher(hasher: Sha256) -> Self {
        Self { hex: hex::encode(hasher.finalize()) }
    }

    /// The encoded part, used as the file name under `blobs/sha256/`.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some((algorithm, encoded)) = s.split_once(':') else {
            return Err(DigestError::Malformed(s.to_owned()));
        };
        if !is_algorithm(algorithm) || !is_encoded(encoded) {
            return Err(DigestError::Malformed(s.to_owned()));
        }
        if algorithm != "sha256" {
            return Err(DigestError::Unsupported(algorithm.to_owned()));
        }
        if !is_sha256_hex(encoded) {
            return Err(DigestError::Malformed(s.to_owned()));
        }
        Ok(Self { hex: encoded.to_owned() })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The image-spec grammar: `[a-z0-9]+([+._-][a-z0-9]+)*`.
fn is_algorithm(s: &str) -> bool {
    !s.is_empty() && s.split(['+', '.', '_', '-']).all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

/// The image-spec grammar: `[a-zA-Z0-9=_-]+`.
fn is_encoded(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn computes_sha256_of_empty() {
        assert_eq!(Digest::of_bytes(b"").hex(), EMPTY);
        assert_eq!(Digest::of_bytes(b"").to_string(), format!("sha256:{EMPTY}"));
    }

    #[test]
    fn parses_valid_sha256() {
        let d: Digest = format!("sha256:{EMPTY}").parse().expect("valid");
        assert_eq!(d.hex(), EMPTY);
    }

    #[test]
    fn refuses_uppercase_short_and_traversal() {
        for bad in [
            format!("sha256:{}", EMPTY.to_uppercase()),
            "sha256:abc".to_owned(),
            "sha256:../../etc/passwd".to_owned(),
            "sha256".to_owned(),
            ":abc".to_owned(),
            String::new(),
        ] {
            assert!(matches!(bad.parse::<Digest>(), Err(DigestError::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn other_algorithms_are_unsupported() {
        let s = format!("sha512:{EMPTY}{EMPTY}");
        assert_eq!(s.parse::<Digest>(), Err(DigestError::Unsupported("sha512".into())));
    }
}
