//! Blob uploads: monolithic, chunked, resumable, mounts, digest checks.

use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::common::*;

#[tokio::test]
async fn base_endpoint_announces_api_version() {
    let reg = TestRegistry::start().await;
    let r = reg.get("/v2/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("docker-distribution-api-version"), Some("registry/2.0"));
    assert_eq!(reg.get("/v2").await.status, StatusCode::OK);
}

#[tokio::test]
async fn monolithic_single_post_then_pull() {
    let reg = TestRegistry::start().await;
    let blob = data(70_000, 1);
    let digest = reg.push_blob("a/b/c", &blob).await;
    let r = reg.get(&format!("/v2/a/b/c/blobs/{digest}")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body.as_ref(), blob.as_slice());
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(r.header("content-length"), Some("70000"));
    let h = reg.head(&format!("/v2/a/b/c/blobs/{digest}")).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.header("content-length"), Some("70000"));
    assert_eq!(h.header("docker-content-digest"), Some(digest.as_str()));
    assert!(h.body.is_empty());
}

#[tokio::test]
async fn post_then_put_monolithic() {
    let reg = TestRegistry::start().await;
    let blob = data(5000, 2);
    let digest = sha256(&blob);
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let location = r.header("location").unwrap().to_owned();
    assert!(location.starts_with("/v2/r/blobs/uploads/"));
    assert_eq!(r.header("range"), Some("0-0"));
    assert_eq!(r.header("docker-upload-uuid"), location.rsplit('/').next());
    let r = reg.req(Method::PUT, &format!("{location}?digest={digest}"), &[("content-type", "application/octet-stream")], blob.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(r.header("location"), Some(format!("/v2/r/blobs/{digest}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(reg.get(&format!("/v2/r/blobs/{digest}")).await.body.as_ref(), blob.as_slice());
    // The session is gone once finished.
    assert_eq!(reg.get(&location).await.code(), "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn chunked_with_content_range_and_out_of_order_416() {
    let reg = TestRegistry::start().await;
    let blob = data(300_000, 3);
    let digest = sha256(&blob);
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[("content-length", "0")], Bytes::new()).await;
    let mut location = r.header("location").unwrap().to_owned();
    for (i, chunk) in blob.chunks(100_000).enumerate() {
        let (start, end) = (i * 100_000, i * 100_000 + chunk.len() - 1);
        let range = format!("{start}-{end}");
        let r = reg.req(Method::PATCH, &location, &[("content-range", &range)], chunk.to_vec()).await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
        assert_eq!(r.header("range"), Some(format!("0-{end}").as_str()));
        location = r.header("location").unwrap().to_owned();
        if i == 0 {
            // Replaying the first chunk is out of order now.
            let again = reg.req(Method::PATCH, &location, &[("content-range", &range)], chunk.to_vec()).await;
            assert_eq!(again.status, StatusCode::RANGE_NOT_SATISFIABLE);
            assert_eq!(again.header("range"), Some(format!("0-{end}").as_str()));
            assert!(again.header("location").is_some());
        }
    }
    let r = reg.req(Method::PUT, &format!("{location}?digest={digest}"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(reg.get(&format!("/v2/r/blobs/{digest}")).await.body.as_ref(), blob.as_slice());
}

#[tokio::test]
async fn chunk_length_must_match_content_range() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let location = r.header("location").unwrap().to_owned();
    let r = reg.req(Method::PATCH, &location, &[("content-range", "0-9")], vec![1u8; 5]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "SIZE_INVALID");
    // Rolled back: the upload is still empty.
    let s = reg.get(&location).await;
    assert_eq!(s.status, StatusCode::NO_CONTENT);
    assert_eq!(s.header("range"), Some("0-0"));
}

#[tokio::test]
async fn streamed_patch_without_range_then_final_chunk_in_put() {
    let reg = TestRegistry::start().await;
    let blob = data(3 << 20, 4);
    let digest = sha256(&blob);
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let location = r.header("location").unwrap().to_owned();
    let head = blob[..2_000_000].chunks(65_536).map(Bytes::copy_from_slice).collect();
    let r = reg.send(Method::PATCH, &location, &[], chunked(head)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text());
    assert_eq!(r.header("range"), Some("0-1999999"));
    let r = reg
        .req(Method::PUT, &format!("{location}?digest={digest}"), &[("content-range", &format!("2000000-{}", blob.len() - 1))], blob[2_000_000..].to_vec())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(reg.get(&format!("/v2/r/blobs/{digest}")).await.body.as_ref(), blob.as_slice());
}

#[tokio::test]
async fn resumable_upload_status_then_continue_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let reg = TestRegistry::start_with(Opts { root: Some(root.clone()), ..Opts::default() }).await;
    let blob = data(200_000, 5);
    let digest = sha256(&blob);
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let location = r.header("location").unwrap().to_owned();
    reg.req(Method::PATCH, &location, &[("content-range", "0-49999")], blob[..50_000].to_vec()).await;
    let s = reg.get(&location).await;
    assert_eq!(s.status, StatusCode::NO_CONTENT);
    assert_eq!(s.header("range"), Some("0-49999"));
    // A restarted registry on the same root picks the session up from disk.
    reg.stop().await;
    let reg2 = TestRegistry::start_with(Opts { root: Some(root), ..Opts::default() }).await;
    let s = reg2.get(&location).await;
    assert_eq!(s.header("range"), Some("0-49999"));
    let r = reg2.req(Method::PATCH, &location, &[("content-range", &format!("50000-{}", blob.len() - 1))], blob[50_000..].to_vec()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = reg2.req(Method::PUT, &format!("{location}?digest={digest}"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert_eq!(reg2.get(&format!("/v2/r/blobs/{digest}")).await.body.as_ref(), blob.as_slice());
}

#[tokio::test]
async fn digest_mismatch_is_refused_and_nothing_is_stored() {
    let reg = TestRegistry::start().await;
    let blob = data(10_000, 6);
    let wrong = sha256(b"something else");
    let r = reg.req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={wrong}"), &[], blob.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.code(), "DIGEST_INVALID");
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let location = r.header("location").unwrap().to_owned();
    let r = reg.req(Method::PUT, &format!("{location}?digest={wrong}"), &[], blob.clone()).await;
    assert_eq!(r.code(), "DIGEST_INVALID");
    assert!(reg.stored_blobs().is_empty());
    assert_eq!(reg.head(&format!("/v2/r/blobs/{}", sha256(&blob))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(reg.head(&format!("/v2/r/blobs/{wrong}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(std::fs::read_dir(reg.root.join("uploads")).unwrap().count(), 0);
}

#[tokio::test]
async fn invalid_and_unsupported_digests_are_400() {
    let reg = TestRegistry::start().await;
    for d in ["sha256:abc", "md5:00", &format!("sha512:{}", "a".repeat(128)), &format!("sha256:{}", "A".repeat(64))] {
        let r = reg.req(Method::POST, &format!("/v2/r/blobs/uploads/?digest={d}"), &[], b"x".to_vec()).await;
        assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "DIGEST_INVALID"), "{d}");
        let r = reg.get(&format!("/v2/r/blobs/{d}")).await;
        assert_eq!(r.code(), "DIGEST_INVALID", "{d}");
    }
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/?digest-algorithm=sha512", &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cancel_upload_and_unknown_sessions() {
    let reg = TestRegistry::start().await;
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let location = r.header("location").unwrap().to_owned();
    reg.req(Method::PATCH, &location, &[], vec![1u8; 100]).await;
    let r = reg.req(Method::DELETE, &location, &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(reg.get(&location).await.code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(reg.req(Method::PATCH, &location, &[], vec![1u8]).await.code(), "BLOB_UPLOAD_UNKNOWN");
    // A session belongs to its repository.
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let id = r.header("docker-upload-uuid").unwrap().to_owned();
    assert_eq!(reg.get(&format!("/v2/other/blobs/uploads/{id}")).await.code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(reg.get("/v2/r/blobs/uploads/..").await.code(), "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(reg.get("/v2/r/blobs/uploads/..%2F..%2Fx").await.status, StatusCode::NOT_FOUND);
    assert_eq!(reg.get("/v2/r/blobs/uploads/not-a-uuid").await.code(), "BLOB_UPLOAD_UNKNOWN");
}

#[tokio::test]
async fn cross_repo_mount_and_fallback() {
    let reg = TestRegistry::start().await;
    let blob = data(4000, 7);
    let digest = reg.push_blob("src/repo", &blob).await;
    assert_eq!(reg.head(&format!("/v2/dst/blobs/{digest}")).await.status, StatusCode::NOT_FOUND);
    let r = reg.req(Method::POST, &format!("/v2/dst/blobs/uploads/?mount={digest}&from=src/repo"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.header("location"), Some(format!("/v2/dst/blobs/{digest}").as_str()));
    assert_eq!(r.header("docker-content-digest"), Some(digest.as_str()));
    assert_eq!(reg.get(&format!("/v2/dst/blobs/{digest}")).await.body.as_ref(), blob.as_slice());
    // Not in `from`: an ordinary upload session instead.
    let r = reg.req(Method::POST, &format!("/v2/dst2/blobs/uploads/?mount={digest}&from=nowhere"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.header("location").is_some());
}

#[tokio::test]
async fn concurrent_uploads_of_the_same_blob() {
    let reg = std::sync::Arc::new(TestRegistry::start().await);
    let blob = data(2 << 20, 8);
    let mut tasks = Vec::new();
    for i in 0..6 {
        let (reg, blob) = (reg.clone(), blob.clone());
        tasks.push(tokio::spawn(async move { reg.push_blob(&format!("r{i}"), &blob).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), sha256(&blob));
    }
    let stored = reg.stored_blobs();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, stored[0].1);
}

#[tokio::test]
async fn blob_range_requests() {
    let reg = TestRegistry::start().await;
    let blob = data(10_000, 9);
    let digest = reg.push_blob("r", &blob).await;
    let path = format!("/v2/r/blobs/{digest}");
    let r = reg.req(Method::GET, &path, &[("range", "bytes=100-199")], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.header("content-range"), Some("bytes 100-199/10000"));
    assert_eq!(r.body.as_ref(), &blob[100..200]);
    let r = reg.req(Method::GET, &path, &[("range", "bytes=9000-")], Bytes::new()).await;
    assert_eq!(r.body.as_ref(), &blob[9000..]);
    let r = reg.req(Method::GET, &path, &[("range", "bytes=-10")], Bytes::new()).await;
    assert_eq!(r.body.as_ref(), &blob[9990..]);
    let r = reg.req(Method::GET, &path, &[("range", "bytes=10000-")], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(r.header("content-range"), Some("bytes */10000"));
}

#[tokio::test]
async fn delete_blob_unlinks_it_from_the_repository() {
    let reg = TestRegistry::start().await;
    let digest = reg.push_blob("r", b"bytes").await;
    reg.req(Method::POST, &format!("/v2/s/blobs/uploads/?mount={digest}&from=r"), &[], Bytes::new()).await;
    let r = reg.req(Method::DELETE, &format!("/v2/r/blobs/{digest}"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(reg.get(&format!("/v2/r/blobs/{digest}")).await.code(), "BLOB_UNKNOWN");
    assert_eq!(reg.get(&format!("/v2/s/blobs/{digest}")).await.status, StatusCode::OK);
    let r = reg.req(Method::DELETE, &format!("/v2/r/blobs/{digest}"), &[], Bytes::new()).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}
