//! Test harness: an in-process registry on 127.0.0.1:<ephemeral> and a small hyper client.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use berth_registry::{ServeConfig, Server, TlsFiles};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub type Body = BoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// A running registry and its storage root; shut down on drop.
pub struct TestRegistry {
    pub addr: SocketAddr,
    pub root: PathBuf,
    _dir: Option<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    client: Client<HttpConnector, Body>,
    pub auth: Option<String>,
}

/// Options for [`TestRegistry::start_with`].
#[derive(Default)]
pub struct Opts {
    pub root: Option<PathBuf>,
    pub htpasswd: Option<PathBuf>,
    pub writes_only: bool,
    pub tls: Option<TlsFiles>,
}

impl TestRegistry {
    pub async fn start() -> Self {
        Self::start_with(Opts::default()).await
    }

    pub async fn start_with(opts: Opts) -> Self {
        let (dir, root) = match opts.root {
            Some(r) => (None, r),
            None => {
                let d = tempfile::tempdir().unwrap();
                let r = d.path().join("root");
                (Some(d), r)
            }
        };
        let config = ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            root: root.clone(),
            tls: opts.tls,
            htpasswd: opts.htpasswd,
            auth_writes_only: opts.writes_only,
            token: None,
        };
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addr();
        let (stop, rx) = oneshot::channel();
        let task = tokio::spawn(async move {
            server
                .run(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self { addr, root, _dir: dir, stop: Some(stop), task: Some(task), client, auth: None }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Body) -> Resp {
        let mut req = Request::builder().method(method).uri(self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(a) = &self.auth {
            req = req.header("authorization", a.as_str());
        }
        let resp = self.client.request(req.body(body).unwrap()).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, body }
    }

    pub async fn req(&self, method: Method, path: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Resp {
        self.send(method, path, headers, full(body)).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.req(Method::GET, path, &[], Bytes::new()).await
    }

    pub async fn head(&self, path: &str) -> Resp {
        self.req(Method::HEAD, path, &[], Bytes::new()).await
    }

    /// Monolithic single-POST upload; asserts 201.
    pub async fn push_blob(&self, repo: &str, data: &[u8]) -> String {
        let digest = sha256(data);
        let r = self.req(Method::POST, &format!("/v2/{repo}/blobs/uploads/?digest={digest}"), &[], data.to_vec()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        digest
    }

    /// Pushes a manifest by tag or digest; returns the response.
    pub async fn put_manifest(&self, repo: &str, reference: &str, media_type: &str, body: &[u8]) -> Resp {
        self.req(Method::PUT, &format!("/v2/{repo}/manifests/{reference}"), &[("content-type", media_type)], body.to_vec()).await
    }

    /// Every file under `blobs/sha256`, as (name, content hash) pairs.
    pub fn stored_blobs(&self) -> Vec<(String, String)> {
        stored_blobs(&self.root)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

pub fn stored_blobs(root: &Path) -> Vec<(String, String)> {
    let dir = root.join("blobs/sha256");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let data = std::fs::read(entry.path()).unwrap();
        out.push((entry.file_name().into_string().unwrap(), hex::encode(Sha256::digest(&data))));
    }
    out.sort();
    out
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(HeaderName::from_bytes(name.as_bytes()).unwrap()).and_then(|v: &HeaderValue| v.to_str().ok())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not json ({e}): {}", self.text()))
    }

    /// The first error code of a spec error body.
    pub fn code(&self) -> String {
        self.json()["errors"][0]["code"].as_str().unwrap_or_default().to_owned()
    }
}

pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|e: Infallible| match e {}).boxed()
}

/// A streaming body of the given chunks (sent without Content-Length).
pub fn chunked(chunks: Vec<Bytes>) -> Body {
    let stream = futures_util::stream::iter(chunks.into_iter().map(|c| Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Frame::data(c))));
    StreamBody::new(stream).boxed()
}

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Deterministic pseudo-random bytes.
pub fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// An image manifest of `media_type` over the given config and layers.
pub fn image_manifest(media_type: &str, config: (&str, usize), layers: &[(&str, usize)]) -> Vec<u8> {
    let (config_type, layer_type) = if media_type == DOCKER_MANIFEST {
        ("application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip")
    } else {
        ("application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip")
    };
    let layers: Vec<Value> = layers.iter().map(|(d, s)| serde_json::json!({"mediaType": layer_type, "digest": d, "size": s})).collect();
    serde_json::to_vec_pretty(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": config_type, "digest": config.0, "size": config.1},
        "layers": layers,
    }))
    .unwrap()
}

/// An index of `media_type` over child manifests (digest, size, media type).
pub fn index_manifest(media_type: &str, children: &[(&str, usize, &str)]) -> Vec<u8> {
    let manifests: Vec<Value> = children
        .iter()
        .map(|(d, s, t)| serde_json::json!({"mediaType": t, "digest": d, "size": s, "platform": {"architecture": "amd64", "os": "linux"}}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests})).unwrap()
}

/// Pushes a config and one layer, then an image manifest of `media_type` tagged `tag`.
/// Returns (manifest digest, manifest bytes).
pub async fn push_image(reg: &TestRegistry, repo: &str, tag: &str, media_type: &str, seed: u8) -> (String, Vec<u8>) {
    let config = format!("{{\"architecture\":\"amd64\",\"os\":\"linux\",\"seed\":{seed}}}").into_bytes();
    let layer = data(1000 + usize::from(seed), seed);
    let cd = reg.push_blob(repo, &config).await;
    let ld = reg.push_blob(repo, &layer).await;
    let m = image_manifest(media_type, (&cd, config.len()), &[(&ld, layer.len())]);
    let r = reg.put_manifest(repo, tag, media_type, &m).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    (sha256(&m), m)
}
