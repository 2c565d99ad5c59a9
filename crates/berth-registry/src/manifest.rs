//! Manifest parsing and validation for the four media types the registry stores.
//!
//! Parsing only reads what the registry must check (descriptors, subject, artifact type); the
//! raw bytes are what gets stored and served, never a re-serialisation.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::digest::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest manifest accepted; the spec asks registries to take at least 4 MB.
pub const MAX_MANIFEST_BYTES: usize = 4 << 20;

/// Why a manifest was refused (all map to `MANIFEST_INVALID`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The body is not the JSON shape of a manifest.
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    /// `schemaVersion` is absent or not 2.
    #[error("manifest schemaVersion must be 2")]
    SchemaVersion,
    /// Neither the Content-Type nor the body names a supported manifest type.
    #[error("unsupported manifest media type {0:?}")]
    UnknownMediaType(String),
    /// The Content-Type header and the body's `mediaType` disagree.
    #[error("content type {header:?} does not match manifest mediaType {body:?}")]
    MediaTypeMismatch {
        /// The request's Content-Type.
        header: String,
        /// The body's `mediaType` field.
        body: String,
    },
    /// A field the media type requires is missing.
    #[error("manifest of type {media_type} lacks required field {field}")]
    MissingField {
        /// The manifest's media type.
        media_type: &'static str,
        /// The missing field.
        field: &'static str,
    },
    /// A descriptor has an unusable digest or size.
    #[error("invalid descriptor: {0}")]
    Descriptor(String),
}

/// The manifest media types the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestKind {
    /// [`OCI_MANIFEST`]
    OciManifest,
    /// [`OCI_INDEX`]
    OciIndex,
    /// [`DOCKER_MANIFEST`]
    DockerManifest,
    /// [`DOCKER_LIST`]
    DockerList,
}

impl ManifestKind {
    /// Recognises a media type (parameters already stripped).
    pub fn from_media_type(s: &str) -> Option<Self> {
        match s {
            OCI_MANIFEST => Some(Self::OciManifest),
            OCI_INDEX => Some(Self::OciIndex),
            DOCKER_MANIFEST => Some(Self::DockerManifest),
            DOCKER_LIST => Some(Self::DockerList),
            _ => None,
        }
    }

    /// The media type string, as served in Content-Type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::OciManifest => OCI_MANIFEST,
            Self::OciIndex => OCI_INDEX,
            Self::DockerManifest => DOCKER_MANIFEST,
            Self::DockerList => DOCKER_LIST,
        }
    }

    /// True for the list types, whose children are manifests rather than blobs.
    pub fn is_index(self) -> bool {
        matches!(self, Self::OciIndex | Self::DockerList)
    }
}

/// A reference from a manifest to a blob or another manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// The target's media type, if given.
    pub media_type: Option<String>,
    /// The target's digest.
    pub digest: Digest,
    /// The target's size in bytes.
    pub size: u64,
    /// True when the descriptor lists external `urls` (foreign layers): the registry need not
    /// hold the blob.
    pub external: bool,
}

/// The parts of a manifest the registry checks and indexes.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The media type it is stored and served as.
    pub kind: ManifestKind,
    /// The config blob (image manifests).
    pub config: Option<Descriptor>,
    /// The layer blobs (image manifests).
    pub layers: Vec<Descriptor>,
    /// The child manifests (indexes).
    pub manifests: Vec<Descriptor>,
    /// The manifest this one refers to (OCI 1.1 referrers).
    pub subject: Option<Descriptor>,
    /// The artifact type, if the manifest declares one.
    pub artifact_type: Option<String>,
    /// Annotations, copied into referrer descriptors.
    pub annotations: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
    #[serde(default)]
    urls: Vec<String>,
}

/// Strips parameters and case from a Content-Type value.
pub fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Parses and validates a pushed manifest. `content_type` is the request's Content-Type.
pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Manifest, ManifestError> {
    let raw: RawManifest = serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;
    if raw.schema_version != Some(2) {
        return Err(ManifestError::SchemaVersion);
    }
    let kind = resolve_kind(&raw, content_type)?;
    let media_type = kind.media_type();
    let descriptor = |r: RawDescriptor| to_descriptor(r);
    let (config, layers, manifests) = if kind.is_index() {
        let list = raw.manifests.ok_or(ManifestError::MissingField { media_type, field: "manifests" })?;
        (None, Vec::new(), list.into_iter().map(descriptor).collect::<Result<_, _>>()?)
    } else {
        let config = raw.config.ok_or(ManifestError::MissingField { media_type, field: "config" })?;
        let layers = raw.layers.ok_or(ManifestError::MissingField { media_type, field: "layers" })?;
        let layers = layers.into_iter().map(descriptor).collect::<Result<_, _>>()?;
        (Some(to_descriptor(config)?), layers, Vec::new())
    };
    Ok(Manifest {
        kind,
        config,
        layers,
        manifests,
        subject: raw.subject.map(to_descriptor).transpose()?,
        artifact_type: raw.artifact_type.filter(|a| !a.is_empty()),
        annotations: raw.annotations,
    })
}

fn resolve_kind(raw: &RawManifest, content_type: Option<&str>) -> Result<ManifestKind, ManifestError> {
    let header = content_type.map(essence).filter(|c| !is_generic(c));
    let body = raw.media_type.as_deref();
    match (header.as_deref(), body) {
        (Some(h), Some(b)) if h != b => Err(ManifestError::MediaTypeMismatch { header: h.to_owned(), body: b.to_owned() }),
        (Some(t), _) | (None, Some(t)) => ManifestKind::from_media_type(t).ok_or_else(|| ManifestError::UnknownMediaType(t.to_owned())),
        (None, None) if raw.manifests.is_some() => Ok(ManifestKind::OciIndex),
        (None, None) if raw.config.is_some() => Ok(ManifestKind::OciManifest),
        (None, None) => Err(ManifestError::UnknownMediaType(String::new())),
    }
}

/// Content types that say nothing about the manifest type.
fn is_generic(content_type: &str) -> bool {
    matches!(content_type, "" | "application/json" | "application/octet-stream")
}

fn to_descriptor(raw: RawDescriptor) -> Result<Descriptor, ManifestError> {
    let digest = raw.digest.parse().map_err(|e| ManifestError::Descriptor(format!("{e}")))?;
    let size = u64::try_from(raw.size).map_err(|_| ManifestError::Descriptor(format!("negative size for {}", raw.digest)))?;
    Ok(Descriptor { media_type: raw.media_type, digest, size, external: !raw.urls.is_empty() })
}

impl Manifest {
    /// Every blob the registry must hold for this manifest: config and non-external layers.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Descriptor> {
        self.config.iter().chain(self.layers.iter().filter(|d| !d.external))
    }

    /// The descriptor the referrers API lists for this manifest, per distribution-spec 1.1:
    /// `artifactType` falls back to the config's media type for image manifests.
    pub fn referrer_descriptor(&self, digest: &Digest, size: u64) -> Value {
        let mut out = Map::new();
        out.insert("mediaType".into(), self.kind.media_type().into());
        out.insert("digest".into(), digest.to_string().into());
        out.insert("size".into(), size.into());
        let fallback = self.config.as_ref().and_then(|c| c.media_type.clone());
        let artifact_type = self.artifact_type.clone().or(if self.kind.is_index() { None } else { fallback });
        if let Some(a) = artifact_type {
            out.insert("artifactType".into(), a.into());
        }
        if let Some(a) = &self.annotations {
            out.insert("annotations".into(), Value::Object(a.clone()));
        }
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn image(media_type: &str) -> Vec<u8> {
        serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": hex('a'), "size": 2},
            "layers": [{"mediaType": "x", "digest": hex('b'), "size": 3},
                       {"mediaType": "x", "digest": hex('c'), "size": 3, "urls": ["https://example.invalid/"]}],
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn parses_image_manifest_and_skips_external_layers() {
        let m = parse(&image(OCI_MANIFEST), Some(OCI_MANIFEST)).expect("valid");
        assert_eq!(m.kind, ManifestKind::OciManifest);
        let required: Vec<String> = m.required_blobs().map(|d| d.digest.to_string()).collect();
        assert_eq!(required, [hex('a'), hex('b')]);
    }

    #[test]
    fn content_type_parameters_are_ignored_and_mismatch_refused() {
        assert!(parse(&image(DOCKER_MANIFEST), Some("application/vnd.docker.distribution.manifest.v2+json; charset=utf-8")).is_ok());
        assert!(matches!(parse(&image(DOCKER_MANIFEST), Some(OCI_MANIFEST)), Err(ManifestError::MediaTypeMismatch { .. })));
    }

    #[test]
    fn refuses_unknown_types_bad_json_and_missing_fields() {
        let unknown = br#"{"schemaVersion":2,"mediaType":"application/x-nope"}"#;
        assert!(matches!(parse(unknown, None), Err(ManifestError::UnknownMediaType(_))));
        assert!(matches!(parse(b"{", None), Err(ManifestError::Json(_))));
        assert!(matches!(parse(br#"{"schemaVersion":1}"#, None), Err(ManifestError::SchemaVersion)));
        let no_layers = br#"{"schemaVersion":2,"config":{"digest":"sha256:aa","size":1}}"#;
        assert!(parse(no_layers, Some(OCI_MANIFEST)).is_err());
        let index = br#"{"schemaVersion":2}"#;
        assert!(matches!(parse(index, Some(OCI_INDEX)), Err(ManifestError::MissingField { .. })));
    }

    #[test]
    fn infers_type_without_content_type() {
        let idx = format!(r#"{{"schemaVersion":2,"manifests":[{{"digest":"{}","size":1}}]}}"#, hex('d'));
        assert_eq!(parse(idx.as_bytes(), Some("application/json")).expect("ok").kind, ManifestKind::OciIndex);
    }

    #[test]
    fn referrer_descriptor_falls_back_to_config_media_type() {
        let m = parse(&image(OCI_MANIFEST), None).expect("valid");
        let d = m.referrer_descriptor(&Digest::of_bytes(b"x"), 10);
        assert_eq!(d["artifactType"], "application/vnd.oci.image.config.v1+json");
        assert_eq!(d["size"], 10);
    }
}
