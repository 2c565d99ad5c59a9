//! A client that disconnects mid-chunk leaves a resumable prefix and no partial blob.
//! (Killing the registry process itself is tested by `tests/kill.rs`.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};

use crate::common::*;

/// Sends one HTTP/1.1 request by hand; returns the connection and the response head if asked.
fn raw_request(addr: &str, head: &str, body: &[u8], read_reply: bool) -> Option<String> {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(head.as_bytes()).unwrap();
    tcp.write_all(body).unwrap();
    if !read_reply {
        return None;
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 4096];
    while !reply.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed without a reply");
        reply.extend_from_slice(&buf[..n]);
    }
    Some(String::from_utf8_lossy(&reply).into_owned())
}

#[tokio::test]
async fn client_disconnect_mid_chunk_keeps_a_resumable_prefix() {
    let reg = TestRegistry::start().await;
    let blob = data(3 << 20, 43);
    let digest = sha256(&blob);
    let r = reg.req(Method::POST, "/v2/r/blobs/uploads/", &[], Bytes::new()).await;
    let location = r.header("location").unwrap().to_owned();
    let addr = reg.addr.to_string();
    let head = format!("PATCH {location} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", blob.len());
    let sent = 1_500_000;
    let body = blob[..sent].to_vec();
    tokio::task::spawn_blocking(move || raw_request(&addr, &head, &body, false)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(reg.stored_blobs().is_empty(), "partial data never reaches blobs/");
    let s = reg.get(&location).await;
    let end: usize = s.header("range").unwrap().trim_start_matches("0-").parse().unwrap();
    let offset = end + 1;
    assert!(offset <= sent && offset > 0, "offset {offset}");
    let r = reg
        .req(Method::PUT, &format!("{location}?digest={digest}"), &[("content-range", &format!("{offset}-{}", blob.len() - 1))], blob[offset..].to_vec())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    assert!(reg.get(&format!("/v2/r/blobs/{digest}")).await.body.as_ref() == blob.as_slice());
}
