//! Platforms (`linux/amd64`, `linux/arm/v7`) and the choice of an index entry, following
//! containerd's matcher: same OS and architecture, the wanted variant or a compatible older
//! one (arm v7 runs v6 and v5), entries without a variant accepted.

use berth_image::manifest::Descriptor;

use crate::error::EngineError;

/// An OS, architecture and optional variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, `arm`, ...
    pub architecture: String,
    /// `v7`, `v8`, ... (normalized: arm64's `v8` is none).
    pub variant: Option<String>,
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// containerd's architecture normalization.
fn normalize_arch(arch: &str, variant: Option<&str>) -> (String, Option<String>) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.map(str::to_ascii_lowercase).filter(|v| !v.is_empty());
    match arch.as_str() {
        "i386" => ("386".into(), None),
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
        "aarch64" | "arm64" => ("arm64".into(), variant.filter(|v| v != "v8" && v != "8")),
        "armhf" => ("arm".into(), Some("v7".into())),
        "armel" => ("arm".into(), Some("v6".into())),
        "arm" => ("arm".into(), Some(variant.map(|v| if v.starts_with('v') { v } else { format!("v{v}") }).unwrap_or_else(|| "v7".into()))),
        _ => (arch, variant),
    }
}

impl Platform {
    /// Builds a normalized platform.
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Self {
        let (architecture, variant) = normalize_arch(architecture, variant);
        Self { os: os.to_ascii_lowercase(), architecture, variant }
    }

    /// This machine's platform.
    pub fn host() -> Self {
        Self::new("linux", berth_image::config::host_architecture(), None)
    }

    /// Parses `os[/arch[/variant]]` or a bare architecture, as `--platform` takes it.
    pub fn parse(s: &str) -> Result<Self, EngineError> {
        let invalid = || EngineError::Invalid(format!("invalid platform {s:?}: expected os/arch[/variant]"));
        let parts: Vec<&str> = s.trim().split('/').collect();
        let bad = |p: &&str| {
            !p.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric()) || !p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if parts.iter().any(bad) {
            return Err(invalid());
        }
        let host = Self::host();
        match parts.as_slice() {
            [one] if *one == "linux" || *one == "windows" || *one == "darwin" => Ok(Self::new(one, &host.architecture, host.variant.as_deref())),
            [arch] => Ok(Self::new("linux", arch, None)),
            [os, arch] => Ok(Self::new(os, arch, None)),
            [os, arch, variant] => Ok(Self::new(os, arch, Some(variant))),
            _ => Err(invalid()),
        }
    }

    /// How well an entry of `other`'s platform suits `self` (lower is better), or `None`.
    fn rank(&self, other: &Platform) -> Option<usize> {
        if self.os != other.os || self.architecture != other.architecture {
            return None;
        }
        match (&self.variant, &other.variant) {
            (a, b) if a == b => Some(0),
            (_, None) => Some(1),
            (Some(want), Some(have)) if self.architecture == "arm" => {
                let n = |v: &str| v.trim_start_matches('v').parse::<u32>().ok();
                match (n(want), n(have)) {
                    (Some(w), Some(h)) if h < w => Some(1 + (w - h) as usize),
                    _ => None,
                }
            }
            (None, Some(_)) if self.architecture == "amd64" => None,
            _ => None,
        }
    }
}

/// Picks the index entry for `want`: the best rank, the first in index order among equals.
pub fn select<'a>(entries: &'a [Descriptor], want: &Platform) -> Option<&'a Descriptor> {
    entries
        .iter()
        .filter_map(|d| {
            let p = d.platform.as_ref()?;
            let have = Platform::new(&p.os, &p.architecture, p.variant.as_deref());
            want.rank(&have).map(|r| (r, d))
        })
        .min_by_key(|(r, _)| *r)
        .map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_image::manifest::Platform as P;

    fn entry(os: &str, arch: &str, variant: Option<&str>, n: u8) -> Descriptor {
        Descriptor {
            media_type: berth_image::manifest::MEDIA_OCI_MANIFEST.into(),
            digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
            size: 1,
            annotations: None,
            platform: Some(P { os: os.into(), architecture: arch.into(), variant: variant.map(str::to_string) }),
        }
    }

    #[test]
    fn parse_and_normalize() {
        assert_eq!(Platform::parse("linux/amd64").ok(), Some(Platform::new("linux", "amd64", None)));
        assert_eq!(Platform::parse("linux/x86_64").ok().map(|p| p.to_string()).as_deref(), Some("linux/amd64"));
        assert_eq!(Platform::parse("linux/arm64/v8").ok().map(|p| p.to_string()).as_deref(), Some("linux/arm64"));
        assert_eq!(Platform::parse("linux/arm").ok().map(|p| p.to_string()).as_deref(), Some("linux/arm/v7"));
        assert_eq!(Platform::parse("arm64").ok().map(|p| p.to_string()).as_deref(), Some("linux/arm64"));
        for bad in ["", "linux/", "a/b/c/d", "linux/amd64 x", "../x"] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn selection() {
        let index = vec![
            entry("linux", "arm", Some("v6"), 1),
            entry("linux", "amd64", None, 2),
            entry("linux", "arm", Some("v7"), 3),
            entry("linux", "arm64", Some("v8"), 4),
            entry("unknown", "unknown", None, 5),
            entry("windows", "amd64", None, 6),
        ];
        let pick = |p: &str| select(&index, &Platform::parse(p).unwrap_or_else(|e| panic!("{e}"))).map(|d| d.digest[7..9].to_string());
        assert_eq!(pick("linux/amd64").as_deref(), Some("02"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("03"));
        assert_eq!(pick("linux/arm/v6").as_deref(), Some("01"));
        assert_eq!(pick("linux/arm/v8").as_deref(), Some("03"), "v8 runs v7 before v6");
        assert_eq!(pick("linux/arm64").as_deref(), Some("04"));
        assert_eq!(pick("windows/amd64").as_deref(), Some("06"));
        assert_eq!(pick("linux/s390x"), None);
        let v3_only = vec![entry("linux", "amd64", Some("v3"), 7)];
        assert!(select(&v3_only, &Platform::parse("linux/amd64").unwrap_or_else(|e| panic!("{e}"))).is_none());
    }
}
