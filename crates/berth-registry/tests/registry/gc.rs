//! Garbage collection over a registry root.

use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::common::*;

#[tokio::test]
async fn gc_removes_orphans_and_keeps_referenced_blobs() {
    let reg = TestRegistry::start().await;
    let (d1, m1) = push_image(&reg, "app", "v1", OCI_MANIFEST, 1).await;
    let (d2, m2) = push_image(&reg, "app", "v2", DOCKER_MANIFEST, 2).await;
    let index = index_manifest(OCI_INDEX, &[(&d1, m1.len(), OCI_MANIFEST), (&d2, m2.len(), DOCKER_MANIFEST)]);
    assert_eq!(reg.put_manifest("multi", "latest", OCI_INDEX, &index).await.status, StatusCode::CREATED);
    let orphan = data(12_345, 99);
    let orphan_digest = reg.push_blob("app", &orphan).await;
    // An abandoned upload, too young to collect.
    let r = reg.req(Method::POST, "/v2/app/blobs/uploads/", &[], Bytes::new()).await;
    reg.req(Method::PATCH, r.header("location").unwrap(), &[], vec![0u8; 10]).await;
    let before = reg.stored_blobs().len();

    let root = reg.root.clone();
    let dry = tokio::task::spawn_blocking(move || berth_registry::gc(&root, true)).await.unwrap().unwrap();
    assert!(dry.dry_run);
    assert_eq!((dry.blobs_removed, dry.bytes_freed), (1, 12_345));
    assert_eq!(reg.stored_blobs().len(), before, "dry run deletes nothing");

    let root = reg.root.clone();
    let report = tokio::task::spawn_blocking(move || berth_registry::gc(&root, false)).await.unwrap().unwrap();
    assert_eq!((report.blobs_removed, report.bytes_freed, report.links_removed), (1, 12_345, 1));
    assert_eq!(report.blobs_kept, before - 1);
    assert_eq!(report.uploads_removed, 0);
    assert_eq!(reg.head(&format!("/v2/app/blobs/{orphan_digest}")).await.status, StatusCode::NOT_FOUND);
    // Everything the manifests reference still pulls, through the index too.
    for (repo, reference) in [("app", "v1"), ("app", "v2"), ("multi", "latest")] {
        let r = reg.get(&format!("/v2/{repo}/manifests/{reference}")).await;
        assert_eq!(r.status, StatusCode::OK);
        let doc = r.json();
        for layer in doc["layers"].as_array().into_iter().flatten().chain(std::iter::once(&doc["config"])) {
            if let Some(d) = layer["digest"].as_str() {
                assert_eq!(reg.head(&format!("/v2/{repo}/blobs/{d}")).await.status, StatusCode::OK, "{d}");
            }
        }
    }
    let again = berth_registry::gc(&reg.root, false).unwrap();
    assert_eq!(again.blobs_removed, 0);
}

#[tokio::test]
async fn gc_keeps_referrers_and_index_children_only_reachable_through_the_index() {
    let reg = TestRegistry::start().await;
    let (child, child_bytes) = push_image(&reg, "r", "child", OCI_MANIFEST, 3).await;
    let index = index_manifest(OCI_INDEX, &[(&child, child_bytes.len(), OCI_MANIFEST)]);
    reg.put_manifest("r", "idx", OCI_INDEX, &index).await;
    // Untag the child: it is still a revision and reachable through the index.
    reg.req(Method::DELETE, "/v2/r/manifests/child", &[], Bytes::new()).await;
    let report = berth_registry::gc(&reg.root, false).unwrap();
    assert_eq!(report.blobs_removed, 0);
    assert_eq!(reg.get(&format!("/v2/r/manifests/{child}")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn gc_removes_stale_uploads_and_refuses_missing_root() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::POST, "/v2/app/blobs/uploads/", &[], Bytes::new()).await;
    let id = r.header("docker-upload-uuid").unwrap().to_owned();
    reg.req(Method::PATCH, r.header("location").unwrap(), &[], vec![0u8; 10]).await;
    let startedat = reg.root.join("uploads").join(&id).join("startedat");
    std::fs::write(&startedat, "1000").unwrap();
    let report = berth_registry::gc(&reg.root, false).unwrap();
    assert_eq!((report.uploads_removed, report.upload_bytes_freed), (1, 10));
    assert!(!reg.root.join("uploads").join(&id).exists());
    assert!(berth_registry::gc(&reg.root.join("nope"), false).is_err());
}
