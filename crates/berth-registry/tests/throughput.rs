//! Loopback throughput of a 200 MB blob push (one streamed PATCH, as docker sends it) and
//! pull. Ignored by default; run in release for meaningful numbers:
//! `cargo test -p berth-registry --release --test throughput -- --ignored --nocapture`.
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use berth_registry::{ServeConfig, Server};
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sha2::{Digest as _, Sha256};

type Body = BoxBody<Bytes, std::convert::Infallible>;

const SIZE: usize = 200 << 20;
const CHUNK: usize = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run in release with --ignored --nocapture"]
async fn push_and_pull_200mb() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        ServeConfig { addr: "127.0.0.1:0".parse().unwrap(), root: dir.path().join("root"), tls: None, htpasswd: None, auth_writes_only: false, token: None };
    let server = Server::bind(&config).await.unwrap();
    let base = format!("http://{}", server.local_addr());
    tokio::spawn(server.run(std::future::pending()));
    let client: Client<_, Body> = Client::builder(TokioExecutor::new()).build_http();

    // 1 MiB of pseudo-random data repeated, with the chunk index mixed in so chunks differ.
    let chunks: Vec<Bytes> = (0..SIZE / CHUNK).map(|i| Bytes::from((0..CHUNK).map(|j| ((j * 31 + i * 7) % 251) as u8).collect::<Vec<u8>>())).collect();
    let mut hasher = Sha256::new();
    chunks.iter().for_each(|c| hasher.update(c));
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));

    let empty = || Empty::<Bytes>::new().boxed();
    let resp = client.request(Request::post(format!("{base}/v2/bench/blobs/uploads/")).body(empty()).unwrap()).await.unwrap();
    let location = resp.headers()["location"].to_str().unwrap().to_owned();

    let started = Instant::now();
    let stream = futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Frame::data(c))));
    let req = Request::builder().method(Method::PATCH).uri(format!("{base}{location}")).body(StreamBody::new(stream).boxed()).unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let req = Request::put(format!("{base}{location}?digest={digest}")).body(empty()).unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let push = started.elapsed();

    let started = Instant::now();
    let resp = client.request(Request::get(format!("{base}/v2/bench/blobs/{digest}")).body(empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.unwrap().into_data() {
            received += data.len();
        }
    }
    let pull = started.elapsed();
    assert_eq!(received, SIZE);
    let mb = SIZE as f64 / 1e6;
    println!("push: {:.0} MB/s ({push:?})", mb / push.as_secs_f64());
    println!("pull: {:.0} MB/s ({pull:?})", mb / pull.as_secs_f64());
}
