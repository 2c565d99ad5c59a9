//! Basic auth from an htpasswd file, as `docker login` uses it.

use base64::Engine as _;
use hyper::StatusCode;

use crate::common::*;

/// Written by `htpasswd -nbB -C 5 alice 's3cret pass'` (Apache's tool, `$2y$`).
const ALICE: &str = "alice:$2y$05$eU7SFbsO81OaRmUdFMdTDuXtPeLs1VjTaL5pEh6LOo28ZmILk9GlK";

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

async fn start(writes_only: bool) -> (TestRegistry, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("htpasswd");
    let bob = bcrypt::hash("hunter2", 4).unwrap();
    std::fs::write(&file, format!("{ALICE}\nbob:{bob}\n")).unwrap();
    let reg = TestRegistry::start_with(Opts { htpasswd: Some(file), writes_only, ..Opts::default() }).await;
    (reg, dir)
}

#[tokio::test]
async fn anonymous_is_challenged_and_credentials_admit() {
    let (mut reg, _dir) = start(false).await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.header("www-authenticate"), Some("Basic realm=\"berth-registry\""));
    assert_eq!(r.code(), "UNAUTHORIZED");
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    assert_eq!(reg.get("/v2/_catalog").await.status, StatusCode::UNAUTHORIZED);

    reg.auth = Some(basic("alice", "wrong"));
    assert_eq!(reg.get("/v2/").await.status, StatusCode::UNAUTHORIZED);
    reg.auth = Some(basic("nobody", "s3cret pass"));
    assert_eq!(reg.get("/v2/").await.status, StatusCode::UNAUTHORIZED);
    reg.auth = Some("Bearer abc".into());
    assert_eq!(reg.get("/v2/").await.status, StatusCode::UNAUTHORIZED);

    reg.auth = Some(basic("alice", "s3cret pass"));
    assert_eq!(reg.get("/v2/").await.status, StatusCode::OK);
    push_image(&reg, "r", "latest", OCI_MANIFEST, 1).await;
    reg.auth = Some(basic("bob", "hunter2"));
    assert_eq!(reg.get("/v2/r/manifests/latest").await.status, StatusCode::OK);
}

#[tokio::test]
async fn writes_only_mode_allows_anonymous_pulls() {
    let (mut reg, _dir) = start(true).await;
    reg.auth = Some(basic("alice", "s3cret pass"));
    push_image(&reg, "r", "latest", OCI_MANIFEST, 1).await;
    reg.auth = None;
    assert_eq!(reg.get("/v2/").await.status, StatusCode::OK);
    assert_eq!(reg.get("/v2/r/manifests/latest").await.status, StatusCode::OK);
    let r = reg.req(hyper::Method::POST, "/v2/r/blobs/uploads/", &[], bytes::Bytes::new()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    reg.auth = Some(basic("alice", "nope"));
    assert_eq!(reg.get("/v2/").await.status, StatusCode::UNAUTHORIZED, "docker login must fail on a bad password");
}
