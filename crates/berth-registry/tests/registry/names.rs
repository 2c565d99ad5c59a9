//! Repository name validation on the wire.

use hyper::StatusCode;

use crate::common::*;

#[tokio::test]
async fn invalid_names_are_refused() {
    let reg = TestRegistry::start().await;
    for path in [
        "/v2/a/../b/manifests/latest",
        "/v2/../../etc/manifests/latest",
        "/v2/a%2Fb/manifests/latest",
        "/v2/a%2fb/tags/list",
        "/v2/Upper/manifests/latest",
        "/v2/a//b/manifests/latest",
        "/v2/_x/tags/list",
        "/v2/a/./b/blobs/uploads/",
        "/v2/-a/tags/list",
    ] {
        let r = reg.get(path).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "NAME_INVALID"), "{path}");
    }
    let r = reg.req(hyper::Method::POST, "/v2/a/../b/blobs/uploads/", &[], bytes::Bytes::new()).await;
    assert_eq!(r.code(), "NAME_INVALID");
    assert!(!reg.root.join("repositories/b").exists());
    assert!(std::fs::read_dir(reg.root.join("uploads")).unwrap().next().is_none());
}

#[tokio::test]
async fn valid_separators_are_accepted() {
    let reg = TestRegistry::start().await;
    for repo in ["a.b", "a_b", "a__b", "a---b", "x/y/z/w", "0/1"] {
        push_image(&reg, repo, "latest", OCI_MANIFEST, 1).await;
        assert_eq!(reg.get(&format!("/v2/{repo}/tags/list")).await.status, StatusCode::OK, "{repo}");
    }
}

#[tokio::test]
async fn invalid_tags_are_refused() {
    let reg = TestRegistry::start().await;
    let (_, m) = push_image(&reg, "r", "ok", OCI_MANIFEST, 1).await;
    for tag in [".hidden", "-x", &"t".repeat(129)] {
        let r = reg.put_manifest("r", tag, OCI_MANIFEST, &m).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{tag}");
    }
}
