//! What a registry sends for a manifest, validated before anything is fetched on its word:
//! an image index or an image manifest (OCI or Docker schema2), with well-formed digests,
//! known media types and bounded sizes.

use berth_image::manifest::{
    layer_compression, Compression, Descriptor, Index, Manifest, MEDIA_DOCKER_CONFIG, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_CONFIG,
    MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST,
};
use berth_image::Digest;
use bytes::Bytes;

use crate::error::EngineError;

/// The media types pulls accept, in the `Accept` header.
pub const ACCEPT: &[&str] = &[MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST, MEDIA_OCI_INDEX, MEDIA_DOCKER_LIST];
/// Largest manifest read (CNCF distribution's limit).
pub const MANIFEST_LIMIT: usize = 4 << 20;
/// Largest image config fetched.
pub const CONFIG_LIMIT: u64 = 32 << 20;
/// Most layers an image may have (overlay's mount option page allows about this many).
pub const MAX_LAYERS: usize = 127;

/// A layer as the manifest describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerDesc {
    /// The blob's digest.
    pub digest: Digest,
    /// The blob's size.
    pub size: u64,
    /// Its media type as given.
    pub media_type: String,
    /// How it is compressed.
    pub compression: Compression,
}

/// A validated image manifest.
#[derive(Debug, Clone)]
pub struct ImageManifest {
    /// The bytes as received.
    pub raw: Bytes,
    /// Their digest.
    pub digest: Digest,
    /// The manifest's media type.
    pub media_type: String,
    /// The config blob.
    pub config: Digest,
    /// The config's size.
    pub config_size: u64,
    /// Layers, bottom first.
    pub layers: Vec<LayerDesc>,
}

/// A manifest of either kind.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// An image index / manifest list.
    Index { raw: Bytes, digest: Digest, index: Index },
    /// An image manifest.
    Image(ImageManifest),
}

impl Fetched {
    /// The digest of the raw bytes.
    pub fn digest(&self) -> &Digest {
        match self {
            Fetched::Index { digest, .. } => digest,
            Fetched::Image(m) => &m.digest,
        }
    }
}

fn invalid(msg: String) -> EngineError {
    EngineError::Invalid(msg)
}

/// The media type that decides how to read `bytes`: the `Content-Type`, unless it is generic,
/// then the body's `mediaType`, then its shape.
fn kind_of(bytes: &[u8], content_type: &str) -> Result<String, EngineError> {
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| invalid(format!("malformed manifest from registry: {e}")))?;
    if !v.is_object() {
        return Err(invalid("malformed manifest from registry: not a JSON object".into()));
    }
    if v["schemaVersion"].as_u64() == Some(1) {
        return Err(invalid("Docker Image manifest version 2, schema 1 is not supported: push the image again with a current client".into()));
    }
    let body = v["mediaType"].as_str().unwrap_or_default();
    let generic = matches!(content_type, "" | "application/json" | "text/plain" | "application/octet-stream");
    let chosen = if !generic {
        content_type.to_string()
    } else if !body.is_empty() {
        body.to_string()
    } else if v.get("manifests").is_some() {
        MEDIA_OCI_INDEX.to_string()
    } else {
        MEDIA_OCI_MANIFEST.to_string()
    };
    if !ACCEPT.contains(&chosen.as_str()) {
        return Err(invalid(format!("unsupported manifest media type {chosen:?}")));
    }
    if !body.is_empty() && body != chosen {
        return Err(invalid(format!("manifest media type {body:?} does not match the registry's Content-Type {chosen:?}")));
    }
    Ok(chosen)
}

/// Reads fetched manifest bytes.
pub fn parse(raw: Bytes, content_type: &str) -> Result<Fetched, EngineError> {
    let digest = Digest::of(&raw);
    let media_type = kind_of(&raw, content_type)?;
    match media_type.as_str() {
        MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST => {
            let index: Index = serde_json::from_slice(&raw).map_err(|e| invalid(format!("malformed image index from registry: {e}")))?;
            Ok(Fetched::Index { raw, digest, index })
        }
        MEDIA_OCI_MANIFEST | MEDIA_DOCKER_MANIFEST => Ok(Fetched::Image(parse_image(raw, digest, media_type)?)),
        other => Err(invalid(format!("unsupported manifest media type {other:?}"))),
    }
}

fn descriptor_digest(d: &Descriptor, what: &str) -> Result<Digest, EngineError> {
    Digest::parse(&d.digest).map_err(|e| invalid(format!("manifest {what}: {e}")))
}

fn parse_image(raw: Bytes, digest: Digest, media_type: String) -> Result<ImageManifest, EngineError> {
    let m: Manifest = serde_json::from_slice(&raw).map_err(|e| invalid(format!("malformed manifest from registry: {e}")))?;
    if m.schema_version != 2 {
        return Err(invalid(format!("unsupported manifest schemaVersion {}", m.schema_version)));
    }
    if m.config.media_type != MEDIA_OCI_CONFIG && m.config.media_type != MEDIA_DOCKER_CONFIG {
        return Err(invalid(format!("unknown media type {:?} for the image config: not a container image", m.config.media_type)));
    }
    if m.config.size > CONFIG_LIMIT {
        return Err(invalid(format!("image config of {} bytes is larger than the limit of {CONFIG_LIMIT}", m.config.size)));
    }
    if m.layers.len() > MAX_LAYERS {
        return Err(invalid(format!("image has {} layers, more than the {MAX_LAYERS} supported", m.layers.len())));
    }
    let config = descriptor_digest(&m.config, "config")?;
    let mut layers = Vec::with_capacity(m.layers.len());
    for d in &m.layers {
        let compression = layer_compression(&d.media_type).ok_or_else(|| invalid(format!("unsupported layer media type {:?}", d.media_type)))?;
        if compression == Compression::Zstd {
            return Err(invalid(format!("layer {}: zstd-compressed layers are not supported yet", d.digest)));
        }
        layers.push(LayerDesc { digest: descriptor_digest(d, "layer")?, size: d.size, media_type: d.media_type.clone(), compression });
    }
    Ok(ImageManifest { raw, digest, media_type, config, config_size: m.config.size, layers })
}

/// Checks fetched bytes against the digest they were asked for (a by-digest pull or an index
/// entry) and the `Docker-Content-Digest` the registry claimed.
pub fn verify(fetched: &Fetched, wanted: Option<&str>, header: Option<&str>) -> Result<(), EngineError> {
    let actual = fetched.digest().as_str();
    for (claim, what) in [(wanted, "requested"), (header, "announced by the registry")] {
        if let Some(c) = claim.filter(|c| !c.is_empty()) {
            if c != actual {
                return Err(invalid(format!("manifest verification failed for digest {c} ({what}): the content's digest is {actual}")));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(n: u8) -> String {
        format!("sha256:{}", format!("{n:02x}").repeat(32))
    }

    fn manifest(layer_type: &str, config_type: &str) -> Bytes {
        Bytes::from(format!(
            r#"{{"schemaVersion":2,"mediaType":"{MEDIA_OCI_MANIFEST}","config":{{"mediaType":"{config_type}","digest":"{}","size":3}},"layers":[{{"mediaType":"{layer_type}","digest":"{}","size":9}}]}}"#,
            hex(1),
            hex(2)
        ))
    }

    #[test]
    fn images_and_indexes() {
        let m = parse(manifest("application/vnd.oci.image.layer.v1.tar+gzip", MEDIA_OCI_CONFIG), MEDIA_OCI_MANIFEST).unwrap_or_else(|e| panic!("{e}"));
        let Fetched::Image(img) = m else { panic!("not an image") };
        assert_eq!(img.layers[0].compression, Compression::Gzip);
        assert_eq!(img.config.as_str(), hex(1));
        let idx = Bytes::from(format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{MEDIA_OCI_MANIFEST}","digest":"{}","size":5}}]}}"#, hex(3)));
        assert!(matches!(parse(idx, "application/json"), Ok(Fetched::Index { .. })));
    }

    #[test]
    fn refusals() {
        let bad_layer = parse(manifest("application/x-evil", MEDIA_OCI_CONFIG), MEDIA_OCI_MANIFEST).unwrap_err();
        assert!(bad_layer.to_string().contains("unsupported layer media type"), "{bad_layer}");
        let helm = parse(manifest("application/vnd.oci.image.layer.v1.tar", "application/vnd.cncf.helm.config.v1+json"), MEDIA_OCI_MANIFEST).unwrap_err();
        assert!(helm.to_string().contains("not a container image"), "{helm}");
        assert!(parse(Bytes::from_static(b"{not json"), MEDIA_OCI_MANIFEST).unwrap_err().to_string().contains("malformed manifest"));
        assert!(parse(Bytes::from_static(b"[1]"), "").is_err());
        assert!(parse(Bytes::from_static(br#"{"schemaVersion":1}"#), "").unwrap_err().to_string().contains("schema 1"));
        assert!(parse(Bytes::from_static(br#"{"schemaVersion":2}"#), "application/vnd.example+json")
            .unwrap_err()
            .to_string()
            .contains("unsupported manifest media type"));
        let mismatch = parse(manifest("application/vnd.oci.image.layer.v1.tar", MEDIA_OCI_CONFIG), MEDIA_DOCKER_MANIFEST).unwrap_err();
        assert!(mismatch.to_string().contains("does not match"), "{mismatch}");
        let traversal = Bytes::from(format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"{MEDIA_OCI_CONFIG}","digest":"sha256:../../etc/passwd","size":3}},"layers":[]}}"#
        ));
        assert!(parse(traversal, MEDIA_OCI_MANIFEST).is_err());
        for e in [parse(Bytes::new(), ""), parse(Bytes::from_static(b"null"), "")] {
            assert_eq!(e.map(|_| ()).map_err(|e| e.status()), Err(400));
        }
    }

    #[test]
    fn digests_are_checked() {
        let raw = manifest("application/vnd.oci.image.layer.v1.tar", MEDIA_OCI_CONFIG);
        let real = Digest::of(&raw).to_string();
        let m = parse(raw, MEDIA_OCI_MANIFEST).unwrap_or_else(|e| panic!("{e}"));
        assert!(verify(&m, Some(&real), Some(&real)).is_ok());
        assert!(verify(&m, Some(&hex(9)), None).is_err());
        assert!(verify(&m, None, Some(&hex(9))).is_err());
        assert!(verify(&m, None, None).is_ok());
    }
}
