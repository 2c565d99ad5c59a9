//! Manifests of all four media types, by tag and digest, references checked, deletes.

use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::common::*;

#[tokio::test]
async fn image_manifests_by_tag_and_digest() {
    let reg = TestRegistry::start().await;
    for (i, media_type) in [OCI_MANIFEST, DOCKER_MANIFEST].into_iter().enumerate() {
        let tag = format!("t{i}");
        let (digest, bytes) = push_image(&reg, "lib/img", &tag, media_type, i as u8).await;
        for reference in [tag.as_str(), digest.as_str()] {
            let r = reg.req(Method::GET, &format!("/v2/lib/img/manifests/{reference}"), &[("accept", media_type)], Bytes::new()).await;
            assert_eq!(r.status, StatusCode::OK);
            assert_eq!(r.body.as_ref(), bytes.as_slice(), "stored verbatim");
            assert_eq!(r.header("content-type"), Some(media_type));
            assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
            let h = reg.head(&format!("/v2/lib/img/manifests/{reference}")).await;
            assert_eq!(h.status, StatusCode::OK);
            assert_eq!(h.header("content-length"), Some(bytes.len().to_string().as_str()));
            assert_eq!(h.header("docker-content-digest"), Some(digest.as_str()));
            assert_eq!(h.header("content-type"), Some(media_type));
        }
    }
}

#[tokio::test]
async fn indexes_of_both_kinds() {
    let reg = TestRegistry::start().await;
    for (i, (list_type, child_type)) in [(OCI_INDEX, OCI_MANIFEST), (DOCKER_LIST, DOCKER_MANIFEST)].into_iter().enumerate() {
        let (d1, m1) = push_image(&reg, "multi", &format!("a{i}"), child_type, 10 + i as u8).await;
        let (d2, m2) = push_image(&reg, "multi", &format!("b{i}"), child_type, 20 + i as u8).await;
        let index = index_manifest(list_type, &[(&d1, m1.len(), child_type), (&d2, m2.len(), child_type)]);
        let r = reg.put_manifest("multi", &format!("list{i}"), list_type, &index).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        let r = reg.get(&format!("/v2/multi/manifests/list{i}")).await;
        assert_eq!(r.header("content-type"), Some(list_type));
        assert_eq!(r.body.as_ref(), index.as_slice());
        // A child unknown to the registry is refused.
        let missing = sha256(b"no such manifest");
        let bad = index_manifest(list_type, &[(&d1, m1.len(), child_type), (&missing, 3, child_type)]);
        let r = reg.put_manifest("multi", "bad", list_type, &bad).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "MANIFEST_BLOB_UNKNOWN"));
    }
}

#[tokio::test]
async fn manifest_with_unknown_blob_is_refused() {
    let reg = TestRegistry::start().await;
    let config = reg.push_blob("r", b"{}").await;
    let missing = sha256(b"never pushed");
    let m = image_manifest(OCI_MANIFEST, (&config, 2), &[(&missing, 12)]);
    let r = reg.put_manifest("r", "latest", OCI_MANIFEST, &m).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], missing);
    assert_eq!(reg.get("/v2/r/manifests/latest").await.code(), "MANIFEST_UNKNOWN");
}

#[tokio::test]
async fn invalid_manifests_are_refused() {
    let reg = TestRegistry::start().await;
    let r = reg.put_manifest("r", "x", "application/vnd.example.unknown+json", br#"{"schemaVersion":2}"#).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "MANIFEST_INVALID"));
    let r = reg.put_manifest("r", "x", OCI_MANIFEST, b"not json").await;
    assert_eq!(r.code(), "MANIFEST_INVALID");
    let schema1 = br#"{"schemaVersion":1,"name":"r","tag":"x","fsLayers":[]}"#;
    let r = reg.put_manifest("r", "x", "application/vnd.docker.distribution.manifest.v1+prettyjws", schema1).await;
    assert_eq!(r.code(), "MANIFEST_INVALID");
    let huge = vec![b' '; (4 << 20) + 1];
    let r = reg.put_manifest("r", "x", OCI_MANIFEST, &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn put_by_digest_must_match_and_may_add_tags() {
    let reg = TestRegistry::start().await;
    let (_, m) = push_image(&reg, "r", "base", OCI_MANIFEST, 1).await;
    let mut changed = m.clone();
    changed.push(b'\n');
    let digest = sha256(&changed);
    let r = reg.put_manifest("r", &sha256(&m), OCI_MANIFEST, &changed).await;
    assert_eq!(r.code(), "DIGEST_INVALID");
    let r = reg.put_manifest("r", &format!("{digest}?tag=v1&tag=v2"), OCI_MANIFEST, &changed).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    let tags: Vec<&str> = r.headers.get_all("oci-tag").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(tags, ["v1", "v2"]);
    assert_eq!(reg.get("/v2/r/manifests/v2").await.body.as_ref(), changed.as_slice());
}

#[tokio::test]
async fn retagging_moves_the_tag() {
    let reg = TestRegistry::start().await;
    let (d1, _) = push_image(&reg, "r", "latest", OCI_MANIFEST, 1).await;
    let (d2, _) = push_image(&reg, "r", "latest", OCI_MANIFEST, 2).await;
    assert_ne!(d1, d2);
    assert_eq!(reg.head("/v2/r/manifests/latest").await.header("docker-content-digest"), Some(d2.as_str()));
    assert_eq!(reg.head(&format!("/v2/r/manifests/{d1}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn delete_tag_and_manifest() {
    let reg = TestRegistry::start().await;
    let (digest, _) = push_image(&reg, "r", "one", OCI_MANIFEST, 1).await;
    reg.put_manifest("r", "two", OCI_MANIFEST, &reg.get("/v2/r/manifests/one").await.body).await;
    let r = reg.req(Method::DELETE, "/v2/r/manifests/one", &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(reg.get("/v2/r/manifests/one").await.code(), "MANIFEST_UNKNOWN");
    assert_eq!(reg.get("/v2/r/manifests/two").await.status, StatusCode::OK);
    let r = reg.req(Method::DELETE, &format!("/v2/r/manifests/{digest}"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(reg.get(&format!("/v2/r/manifests/{digest}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(reg.get("/v2/r/manifests/two").await.status, StatusCode::NOT_FOUND, "tags pointing at it go too");
    let r = reg.req(Method::DELETE, &format!("/v2/r/manifests/{digest}"), &[], Bytes::new()).await;
    assert_eq!(r.code(), "MANIFEST_UNKNOWN");
    let r = reg.req(Method::DELETE, "/v2/nope/manifests/latest", &[], Bytes::new()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"));
}

#[tokio::test]
async fn unknown_repository_and_manifest() {
    let reg = TestRegistry::start().await;
    let r = reg.get("/v2/nope/manifests/latest").await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "NAME_UNKNOWN"));
    push_image(&reg, "r", "x", OCI_MANIFEST, 1).await;
    let r = reg.get("/v2/r/manifests/missing").await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "MANIFEST_UNKNOWN"));
    assert_eq!(reg.head("/v2/r/manifests/missing").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn referrers_list_and_filter() {
    let reg = TestRegistry::start().await;
    let (subject, subject_bytes) = push_image(&reg, "r", "app", OCI_MANIFEST, 1).await;
    let empty = reg.push_blob("r", b"{}").await;
    let sbom_blob = reg.push_blob("r", b"sbom-content").await;
    let mut ids = Vec::new();
    for (artifact_type, note) in [("application/vnd.example.sbom", "a"), ("application/vnd.example.sig", "b")] {
        let m = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": empty, "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": sbom_blob, "size": 12}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": subject_bytes.len()},
            "annotations": {"note": note},
        }))
        .unwrap();
        let r = reg.put_manifest("r", &sha256(&m), OCI_MANIFEST, &m).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        assert_eq!(r.header("oci-subject"), Some(subject.as_str()));
        ids.push(sha256(&m));
    }
    let r = reg.get(&format!("/v2/r/referrers/{subject}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some(OCI_INDEX));
    let index = r.json();
    assert_eq!(index["mediaType"], OCI_INDEX);
    assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    let r = reg.get(&format!("/v2/r/referrers/{subject}?artifactType=application/vnd.example.sig")).await;
    assert_eq!(r.header("oci-filters-applied"), Some("artifactType"));
    let only = r.json()["manifests"].as_array().unwrap().clone();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0]["digest"], ids[1]);
    assert_eq!(only[0]["annotations"]["note"], "b");
    // Deleting a referrer removes it from the list; unknown subjects list empty, never 404.
    reg.req(Method::DELETE, &format!("/v2/r/manifests/{}", ids[1]), &[], Bytes::new()).await;
    assert_eq!(reg.get(&format!("/v2/r/referrers/{subject}")).await.json()["manifests"].as_array().unwrap().len(), 1);
    let r = reg.get(&format!("/v2/r/referrers/{}", sha256(b"none"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["manifests"], serde_json::json!([]));
    assert_eq!(reg.get("/v2/r/referrers/sha256:bad").await.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn subject_need_not_exist_yet() {
    let reg = TestRegistry::start().await;
    let empty = reg.push_blob("r", b"{}").await;
    let ghost = sha256(b"pushed later");
    let m = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.example.config", "digest": empty, "size": 2},
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": ghost, "size": 10},
    }))
    .unwrap();
    assert_eq!(reg.put_manifest("r", "sig", OCI_MANIFEST, &m).await.status, StatusCode::CREATED);
    let list = reg.get(&format!("/v2/r/referrers/{ghost}")).await.json();
    assert_eq!(list["manifests"][0]["artifactType"], "application/vnd.example.config");
}
