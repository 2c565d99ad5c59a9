//! Compatibility with someone else's client: skopeo (containers/image) pushes to, pulls from,
//! copies between repositories of, lists and deletes on the registry, over HTTP and over HTTPS
//! with basic auth.
//!
//! Ignored by default because it needs Debian's `skopeo` (and `openssl` for the HTTPS part):
//! `apt-get install -y skopeo openssl`, then
//! `cargo test -p berth-registry --test skopeo -- --ignored`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_registry::{ServeConfig, Server, TlsFiles};
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn write_blob(layout: &Path, data: &[u8]) -> String {
    let digest = sha(data);
    std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), data).unwrap();
    digest
}

/// An OCI image layout with one tiny image tagged `v1`: a layer tar, a config, a manifest.
fn build_layout(layout: &Path) -> (String, Vec<u8>) {
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let content = b"hello from berth-registry\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(1_700_000_000);
    tar.append_data(&mut header, "hello.txt", &content[..]).unwrap();
    let layer = tar.into_inner().unwrap();
    let layer_digest = write_blob(layout, &layer);
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/hello"]},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }))
    .unwrap();
    let config_digest = write_blob(layout, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": layer.len()}],
    }))
    .unwrap();
    let manifest_digest = write_blob(layout, &manifest);
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
        "annotations": {"org.opencontainers.image.ref.name": "v1"},
    }]});
    std::fs::write(layout.join("index.json"), index.to_string()).unwrap();
    (manifest_digest, manifest)
}

fn skopeo(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo").arg("--insecure-policy").args(args).output().expect("this test needs skopeo: apt-get install -y skopeo");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn ok(args: &[&str]) -> String {
    let (success, text) = skopeo(args);
    assert!(success, "skopeo {args:?} failed:\n{text}");
    text
}

/// Runs a registry on a background runtime; returns its address and the runtime keeping it.
fn start(root: PathBuf, tls: Option<TlsFiles>, htpasswd: Option<PathBuf>) -> (String, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = ServeConfig { addr: "127.0.0.1:0".parse().unwrap(), root, tls, htpasswd, auth_writes_only: false, token: None };
    let server = rt.block_on(Server::bind(&config)).unwrap();
    let addr = server.local_addr().to_string();
    rt.spawn(server.run(std::future::pending()));
    (addr, rt)
}

#[test]
#[ignore = "needs skopeo: apt-get install -y skopeo"]
fn skopeo_push_inspect_pull_copy_delete() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let (manifest_digest, manifest) = build_layout(&src);
    let (addr, _rt) = start(dir.path().join("root"), None, None);
    let image = format!("docker://{addr}/x/y:v1");

    ok(&["copy", "--dest-tls-verify=false", &format!("oci:{}:v1", src.display()), &image]);

    // skopeo gzips the uncompressed layer on the way, so the pushed manifest is its own.
    let raw = ok(&["inspect", "--raw", "--tls-verify=false", &image]);
    let pushed: Value = serde_json::from_str(&raw).unwrap();
    assert_ne!(sha(raw.as_bytes()), manifest_digest);
    assert_eq!(pushed["config"]["digest"].as_str(), serde_json::from_slice::<Value>(&manifest).unwrap()["config"]["digest"].as_str());
    let inspect: Value = serde_json::from_str(&ok(&["inspect", "--tls-verify=false", &image])).unwrap();
    assert_eq!(inspect["Digest"], sha(raw.as_bytes()), "served digest is the digest of the served bytes");
    assert_eq!(inspect["Architecture"], "amd64");

    let back = dir.path().join("back");
    ok(&["copy", "--src-tls-verify=false", &image, &format!("oci:{}:v1", back.display())]);
    let back_manifest = std::fs::read(back.join("blobs/sha256").join(&sha(raw.as_bytes())[7..])).unwrap();
    assert_eq!(back_manifest, raw.as_bytes(), "manifest pulled back verbatim");
    for blob in std::iter::once(&pushed["config"]).chain(pushed["layers"].as_array().unwrap()) {
        let digest = blob["digest"].as_str().unwrap();
        let bytes = std::fs::read(back.join("blobs/sha256").join(&digest[7..])).unwrap();
        assert_eq!(sha(&bytes), digest);
    }

    // Registry to registry: blobs are mounted across repositories; v2s2 exercises Docker types.
    let other = format!("docker://{addr}/other/z:v2");
    ok(&["copy", "--src-tls-verify=false", "--dest-tls-verify=false", "--format", "v2s2", &image, &other]);
    let raw: Value = serde_json::from_str(&ok(&["inspect", "--raw", "--tls-verify=false", &other])).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.docker.distribution.manifest.v2+json");

    let tags: Value = serde_json::from_str(&ok(&["list-tags", "--tls-verify=false", &format!("docker://{addr}/x/y")])).unwrap();
    assert_eq!(tags["Tags"], json!(["v1"]));

    ok(&["delete", "--tls-verify=false", &image]);
    let (found, _) = skopeo(&["inspect", "--tls-verify=false", &image]);
    assert!(!found, "deleted image still inspectable");
}

#[test]
#[ignore = "needs skopeo and openssl: apt-get install -y skopeo openssl"]
fn skopeo_over_https_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    build_layout(&src);
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("this test needs openssl");
    assert!(status.status.success());
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(&htpasswd, format!("alice:{}\n", bcrypt::hash("pw", 4).unwrap())).unwrap();
    let (addr, _rt) = start(dir.path().join("root"), Some(TlsFiles { cert, key }), Some(htpasswd));
    let image = format!("docker://{addr}/secure/img:v1");
    let from = format!("oci:{}:v1", src.display());

    let (pushed, text) = skopeo(&["copy", "--dest-tls-verify=false", &from, &image]);
    assert!(!pushed, "anonymous push must fail");
    assert!(text.contains("unauthorized") || text.contains("authentication required"), "{text}");
    let (pushed, _) = skopeo(&["copy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong", &from, &image]);
    assert!(!pushed, "wrong password must fail");
    ok(&["copy", "--dest-tls-verify=false", "--dest-creds", "alice:pw", &from, &image]);
    let inspect: Value = serde_json::from_str(&ok(&["inspect", "--tls-verify=false", "--creds", "alice:pw", &image])).unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 1);
}
