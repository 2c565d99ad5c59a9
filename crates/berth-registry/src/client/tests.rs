//! The client against this crate's own registry served on loopback, and against a small
//! token-auth registry stand-in.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::BodyExt;

use super::*;
use crate::{AuthPolicy, Htpasswd, Registry};

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr.to_string()
}

async fn registry(dir: &std::path::Path, auth: Option<AuthPolicy>) -> String {
    let reg = Arc::new(Registry::open(dir, auth).unwrap());
    serve(crate::router(reg)).await
}

fn endpoint(host: &str) -> Endpoint {
    Endpoint { host: host.to_string(), insecure: true }
}

async fn body_bytes(b: hyper::body::Incoming) -> Vec<u8> {
    b.collect().await.unwrap().to_bytes().to_vec()
}

async fn upload(repo: &Repository, data: &'static [u8]) -> String {
    let digest = crate::Digest::of_bytes(data).to_string();
    let loc = repo.start_upload().await.unwrap();
    let chunks = futures_util::stream::iter(data.chunks(3).map(|c| Ok(Bytes::from_static(c))).collect::<Vec<_>>());
    repo.upload_blob(&loc, &digest, data.len() as u64, streamed(chunks)).await.unwrap();
    digest
}

#[tokio::test]
async fn push_pull_mount_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let host = registry(dir.path(), None).await;
    let client = RegistryClient::new("berth-test");
    let pinged = client.ping(&endpoint(&host)).await.unwrap();
    assert_eq!(pinged.base, format!("http://{host}"));
    assert!(client.ping(&Endpoint { host: host.clone(), insecure: false }).await.is_err(), "secure endpoints never fall back to http");

    let repo = client.repository(&endpoint(&host), "team/app", Access::Push, Credentials::default(), &[]).await.unwrap();
    let digest = upload(&repo, b"hello blob world").await;
    assert_eq!(repo.blob_size(&digest).await.unwrap(), Some(16));
    let missing = crate::Digest::of_bytes(b"nope").to_string();
    assert_eq!(repo.blob_size(&missing).await.unwrap(), None);
    let part = repo.get_blob(&digest, 6).await.unwrap();
    assert_eq!(part.offset, 6);
    assert_eq!(body_bytes(part.body).await, b"blob world");

    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{digest}","size":16}},"layers":[]}}"#
    );
    let media = "application/vnd.oci.image.manifest.v1+json";
    let reported = repo.put_manifest("v1", media, Bytes::from(manifest.clone())).await.unwrap();
    assert_eq!(reported, Some(crate::Digest::of_bytes(manifest.as_bytes()).to_string()));
    let got = repo.get_manifest("v1", &[media], 1 << 20).await.unwrap();
    assert_eq!(got.bytes, manifest.as_bytes());
    assert_eq!(got.media_type, media);
    assert!(matches!(repo.get_manifest("v2", &[media], 1 << 20).await, Err(e) if e.code() == Some("MANIFEST_UNKNOWN")));
    assert!(matches!(repo.get_manifest("v1", &[media], 10).await, Err(ClientError::Protocol(_))));
    assert_eq!(repo.list_tags().await.unwrap(), vec!["v1".to_string()]);

    let other = client.repository(&endpoint(&host), "team/other", Access::Push, Credentials::default(), &["team/app".into()]).await.unwrap();
    assert_eq!(other.mount_blob(&digest, "team/app").await.unwrap(), MountOutcome::Mounted);
    assert!(matches!(other.mount_blob(&missing, "team/app").await.unwrap(), MountOutcome::Upload(_)));
    assert!(other.mount_blob("sha256:../../x", "team/app").await.is_err());
    assert!(other.get_manifest("../x", &[media], 100).await.is_err());
}

#[tokio::test]
async fn basic_auth_and_login() {
    let dir = tempfile::tempdir().unwrap();
    let hash = bcrypt::hash("secret", 4).unwrap();
    let policy = AuthPolicy::new(Htpasswd::parse(&format!("alice:{hash}\n")).unwrap(), false);
    let host = registry(dir.path(), Some(policy)).await;
    let client = RegistryClient::new("berth-test");

    let anon = client.repository(&endpoint(&host), "team/app", Access::Push, Credentials::default(), &[]).await.unwrap();
    let err = anon.start_upload().await.unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized(_)), "{err:?}");
    assert!(err.to_string().contains("authentication required"), "{err}");

    let bad = client.login(&endpoint(&host), Credentials::basic("alice", "wrong")).await.unwrap_err();
    assert_eq!(bad.to_string(), format!("login attempt to http://{host}/v2/ failed with status: 401 Unauthorized"));
    client.login(&endpoint(&host), Credentials::basic("alice", "secret")).await.unwrap();

    let repo = client.repository(&endpoint(&host), "team/app", Access::Push, Credentials::basic("alice", "secret"), &[]).await.unwrap();
    let digest = upload(&repo, b"authorized").await;
    assert_eq!(repo.blob_size(&digest).await.unwrap(), Some(10));
}

/// A registry stand-in that wants `Bearer good-token`, handed out by `/token` to alice.
fn token_registry(realm: String) -> axum::Router {
    let challenge = format!(r#"Bearer realm="{realm}",service="test-registry""#);
    let v2 = move |headers: HeaderMap| {
        let challenge = challenge.clone();
        async move {
            let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer good-token");
            if ok {
                (StatusCode::OK, "{}").into_response()
            } else {
                (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)], r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#)
                    .into_response()
            }
        }
    };
    let token = |headers: HeaderMap, q: axum::extract::RawQuery| async move {
        let q = q.0.unwrap_or_default();
        let alice = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Basic YWxpY2U6cHc=");
        if alice && q.contains("service=test-registry") {
            (StatusCode::OK, r#"{"token":"good-token","expires_in":300,"refresh_token":"refresh-me"}"#).into_response()
        } else {
            (StatusCode::UNAUTHORIZED, r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#).into_response()
        }
    };
    axum::Router::new().route("/v2/", get(v2.clone())).route("/v2/{*rest}", get(v2)).route("/token", get(token))
}

#[tokio::test]
async fn bearer_tokens() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let router = token_registry(format!("http://{host}/token"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let client = RegistryClient::new("berth-test");
    let (_, identity) = client.login(&endpoint(&host), Credentials::basic("alice", "pw")).await.unwrap();
    assert_eq!(identity, "refresh-me");
    let err = client.login(&endpoint(&host), Credentials::basic("bob", "pw")).await.unwrap_err();
    assert!(err.to_string().contains("failed with status: 401 Unauthorized"), "{err}");
    let err = client.repository(&endpoint(&host), "a/b", Access::Pull, Credentials::default(), &[]).await.err().unwrap();
    assert!(matches!(err, ClientError::Unauthorized(_)), "{err:?}");
    let repo = client.repository(&endpoint(&host), "a/b", Access::Pull, Credentials::basic("alice", "pw"), &[]).await.unwrap();
    // The stand-in answers every authorized GET with `{}`, including manifests.
    let m = repo.get_manifest("latest", &["application/json"], 100).await.unwrap();
    assert_eq!(m.bytes, "{}");
}
