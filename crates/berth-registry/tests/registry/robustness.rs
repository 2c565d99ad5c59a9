//! Odd and hostile requests get 4xx answers (or, for an unparseable `Range`, the whole blob),
//! never a 5xx or a dead server.

use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::common::*;

/// Method, path, headers, body.
type Case = (Method, String, Vec<(&'static str, &'static str)>, Vec<u8>);

#[tokio::test]
async fn hostile_requests_get_client_errors() {
    let reg = TestRegistry::start().await;
    let (digest, _) = push_image(&reg, "r", "t", OCI_MANIFEST, 1).await;
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let upload = r.header("location").unwrap().to_owned();
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<Case> = vec![
        (Method::GET, "/v2/r/tags/list?n=-1".into(), vec![], vec![]),
        (Method::GET, "/v2/r/tags/list?n=99999999999999999999999".into(), vec![], vec![]),
        (Method::GET, "/v2/_catalog?n=abc".into(), vec![], vec![]),
        (Method::GET, "/v2/r/manifests/%FF%FE".into(), vec![], vec![]),
        (Method::GET, "/v2/r/manifests/sha256:".into(), vec![], vec![]),
        (Method::GET, format!("/v2/r/blobs/{digest}"), vec![("range", "bytes=99999999999999999999-")], vec![]),
        (Method::GET, format!("/v2/r/blobs/{digest}"), vec![("range", "bytes=-")], vec![]),
        (Method::PATCH, upload.clone(), vec![("content-range", "18446744073709551615-0")], vec![1]),
        (Method::PATCH, upload.clone(), vec![("content-range", "0-18446744073709551615")], vec![1]),
        (Method::PUT, format!("{upload}?digest=sha256:zz"), vec![], vec![]),
        (Method::PUT, upload.clone(), vec![], vec![]),
        (Method::POST, "/v2/r/blobs/uploads/?mount=sha256:zz&from=r".into(), vec![], vec![]),
        (Method::POST, format!("/v2/r/blobs/uploads/?mount={digest}&from=..%2Fx"), vec![], vec![]),
        (Method::PUT, "/v2/r/manifests/x".into(), vec![("content-type", OCI_MANIFEST)], deep.into_bytes()),
        (Method::PUT, "/v2/r/manifests/x".into(), vec![], br#"{"schemaVersion":2,"config":{"digest":"sha256:aa","size":-1},"layers":[]}"#.to_vec()),
        (
            Method::PUT,
            "/v2/r/manifests/x".into(),
            vec![("content-type", OCI_MANIFEST)],
            br#"{"schemaVersion":2,"config":{"digest":"x","size":1e400},"layers":[]}"#.to_vec(),
        ),
        (Method::PUT, "/v2/r/manifests/x".into(), vec![("content-type", OCI_INDEX)], br#"{"schemaVersion":2,"manifests":"no"}"#.to_vec()),
        (Method::DELETE, "/v2/r/manifests/sha256:00".into(), vec![], vec![]),
        (Method::OPTIONS, "/v2/r/manifests/t".into(), vec![], vec![]),
        (Method::GET, "/v2/r/referrers/latest".into(), vec![], vec![]),
    ];
    for (method, path, headers, body) in cases {
        let r = reg.req(method.clone(), &path, &headers, body).await;
        let range_ignored = r.status == StatusCode::OK && headers.iter().any(|(k, _)| *k == "range");
        assert!(r.status.is_client_error() || range_ignored, "{method} {path}: {} {}", r.status, r.text());
        if r.status.is_client_error() && !r.body.is_empty() {
            assert!(!r.code().is_empty(), "{method} {path}: {}", r.text());
        }
    }
    assert_eq!(reg.get("/v2/r/manifests/t").await.status, StatusCode::OK);
    assert_eq!(reg.get(&upload).await.status, StatusCode::NO_CONTENT);
}
