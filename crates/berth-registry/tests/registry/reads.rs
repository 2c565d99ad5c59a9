//! Content discovery: tag lists and the catalog, with pagination.

use hyper::StatusCode;

use crate::common::*;

#[tokio::test]
async fn tag_list_pagination_with_link() {
    let reg = TestRegistry::start().await;
    let (digest, m) = push_image(&reg, "a/b", "t0", OCI_MANIFEST, 1).await;
    for t in ["t3", "t1", "T2", "t2", "latest"] {
        assert_eq!(reg.put_manifest("a/b", t, OCI_MANIFEST, &m).await.status, StatusCode::CREATED);
    }
    let r = reg.get("/v2/a/b/tags/list").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), serde_json::json!({"name": "a/b", "tags": ["T2", "latest", "t0", "t1", "t2", "t3"]}));
    assert!(r.header("link").is_none());

    let mut seen = Vec::new();
    let mut next = Some("/v2/a/b/tags/list?n=4".to_owned());
    while let Some(path) = next.take() {
        let r = reg.get(&path).await;
        let page: Vec<String> = serde_json::from_value(r.json()["tags"].clone()).unwrap();
        assert!(page.len() <= 4);
        seen.extend(page);
        next = r.header("link").map(|l| l.trim_start_matches('<').split('>').next().unwrap().to_owned());
        if let Some(l) = r.header("link") {
            assert!(l.ends_with("rel=\"next\""), "{l}");
        }
    }
    assert_eq!(seen, ["T2", "latest", "t0", "t1", "t2", "t3"]);

    let r = reg.get("/v2/a/b/tags/list?n=2&last=t0").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["t1", "t2"]));
    let r = reg.get("/v2/a/b/tags/list?last=t2").await;
    assert_eq!(r.json()["tags"], serde_json::json!(["t3"]));
    let r = reg.get("/v2/a/b/tags/list?n=0").await;
    assert_eq!(r.json()["tags"], serde_json::json!([]));
    assert!(r.header("link").is_none());
    assert_eq!(reg.get("/v2/a/b/tags/list?n=x").await.status, StatusCode::BAD_REQUEST);
    let _ = digest;
}

#[tokio::test]
async fn tag_list_of_unknown_repository_is_name_unknown() {
    let reg = TestRegistry::start().await;
    let r = reg.get("/v2/nope/tags/list").await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"));
}

#[tokio::test]
async fn catalog_lists_repositories_with_pagination() {
    let reg = TestRegistry::start().await;
    for repo in ["zeta", "alpha/one", "alpha/two", "beta"] {
        push_image(&reg, repo, "latest", OCI_MANIFEST, 1).await;
    }
    let r = reg.get("/v2/_catalog").await;
    assert_eq!(r.json(), serde_json::json!({"repositories": ["alpha/one", "alpha/two", "beta", "zeta"]}));
    let r = reg.get("/v2/_catalog?n=2").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["alpha/one", "alpha/two"]));
    assert_eq!(r.header("link"), Some("</v2/_catalog?n=2&last=alpha/two>; rel=\"next\""));
    let r = reg.get("/v2/_catalog?n=2&last=alpha/two").await;
    assert_eq!(r.json()["repositories"], serde_json::json!(["beta", "zeta"]));
    assert!(r.header("link").is_none());
}

#[tokio::test]
async fn unsupported_methods_and_unknown_paths() {
    let reg = TestRegistry::start().await;
    let r = reg.req(hyper::Method::PUT, "/v2/r/tags/list", &[], bytes::Bytes::new()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::METHOD_NOT_ALLOWED, "UNSUPPORTED"));
    assert_eq!(reg.get("/v2/r/whatever").await.status, StatusCode::NOT_FOUND);
    assert_eq!(reg.get("/other").await.status, StatusCode::NOT_FOUND);
}
