//! Crash safety: a registry process killed (SIGKILL) at various points of an upload never
//! exposes a partial blob, and the upload resumes afterwards.
//!
//! This binary has no libtest harness (`harness = false`) because it is also the registry
//! under test: run with `BERTH_REGISTRY_CRASH_CHILD_ROOT` set, it serves that root until its
//! stdin closes; run by `cargo test`, it is the test and SIGKILLs that child mid-upload.
#![allow(clippy::unwrap_used)]

#[path = "registry/common.rs"]
#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};

use common::*;

const CHILD_ROOT: &str = "BERTH_REGISTRY_CRASH_CHILD_ROOT";
const BLOB_LEN: usize = 24 << 20;
const NAME: &str = "killed_registry_never_serves_partial_blobs";

fn main() {
    if let Ok(root) = std::env::var(CHILD_ROOT) {
        child_server(root);
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        if !args.iter().any(|a| a == "--ignored") {
            println!("{NAME}: test");
        }
        return;
    }
    if !selected(&args) {
        println!("\nrunning 0 tests\n\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n");
        return;
    }
    println!("\nrunning 1 test");
    let outcome = std::panic::catch_unwind(killed_registry_never_serves_partial_blobs);
    let (word, passed, failed) = if outcome.is_ok() { ("ok", 1, 0) } else { ("FAILED", 0, 1) };
    println!("test {NAME} ... {word}\n\ntest result: {word}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n");
    if outcome.is_err() {
        std::process::exit(101);
    }
}

/// Whether libtest-style arguments (filters, `--exact`, `--skip`, `--ignored`) select the test.
fn selected(args: &[String]) -> bool {
    const WITH_VALUE: [&str; 6] = ["--test-threads", "--skip", "--format", "--color", "--logfile", "-Z"];
    let mut filters = Vec::new();
    let mut skips = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--ignored" {
            return false; // this test is not ignored
        }
        if a == "--skip" {
            skips.extend(it.next().cloned());
        } else if WITH_VALUE.contains(&a.as_str()) {
            it.next();
        } else if !a.starts_with('-') {
            filters.push(a.clone());
        }
    }
    let exact = args.iter().any(|a| a == "--exact");
    let matches = |f: &String| {
        if exact {
            f == NAME
        } else {
            NAME.contains(f.as_str())
        }
    };
    (filters.is_empty() || filters.iter().any(matches)) && !skips.iter().any(|s| NAME.contains(s.as_str()))
}

/// The registry half: serve `root` on an ephemeral loopback port, print it, and stop when the
/// parent goes away (stdin closes), so no process outlives the test.
fn child_server(root: String) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let config = berth_registry::ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            root: root.into(),
            tls: None,
            htpasswd: None,
            auth_writes_only: false,
            token: None,
        };
        let server = berth_registry::Server::bind(&config).await.unwrap();
        println!("LISTENING {}", server.local_addr());
        std::io::stdout().flush().unwrap();
        let stdin_closed = tokio::task::spawn_blocking(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        });
        server
            .run(async {
                let _ = stdin_closed.await;
            })
            .await
            .unwrap();
    });
}

struct ChildServer {
    child: Child,
    addr: String,
}

impl ChildServer {
    fn start(root: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash::crash_child_server", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ROOT, root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines.next().expect("child exited before listening").unwrap();
            // libtest prints "test <name> ... " on the same line first.
            if let Some((_, a)) = line.split_once("LISTENING ") {
                break a.trim().to_owned();
            }
        };
        Self { child, addr }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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

fn header_of<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    reply.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn assert_no_partial_blob(root: &Path, blob_hex: &str) {
    for (name, hash) in stored_blobs(root) {
        assert_eq!(name, hash, "a file under blobs/ does not hash to its name");
        if name == blob_hex {
            let len = std::fs::metadata(root.join("blobs/sha256").join(&name)).unwrap().len();
            assert_eq!(len as usize, BLOB_LEN);
        }
    }
}

fn killed_registry_never_serves_partial_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let blob = data(BLOB_LEN, 42);
    let digest = sha256(&blob);
    let hex = digest.trim_start_matches("sha256:").to_owned();
    let mut location = String::new();
    let mut resumed = Vec::new();
    // Kill mid-PATCH after 4, 12 and 20 MiB, then right after sending the final PUT.
    for (round, cut) in [4usize << 20, 12 << 20, 20 << 20, BLOB_LEN].into_iter().enumerate() {
        let server = ChildServer::start(&root);
        let start = if round == 0 {
            let reply = raw_request(&server.addr, "POST /v2/crash/blobs/uploads/ HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", b"", true).unwrap();
            location = header_of(&reply, "location").unwrap().to_owned();
            0
        } else {
            let reply = raw_request(&server.addr, &format!("GET {location} HTTP/1.1\r\nHost: t\r\n\r\n"), b"", true).unwrap();
            assert!(reply.starts_with("HTTP/1.1 204"), "{reply}");
            let range = header_of(&reply, "range").unwrap();
            let end: usize = range.trim_start_matches("0-").parse().unwrap();
            if end == 0 {
                0
            } else {
                end + 1
            }
        };
        assert!(start <= cut, "resumed at {start}, past what was sent ({cut})");
        resumed.push(start);
        let body = &blob[start..];
        let head = format!("PATCH {location} HTTP/1.1\r\nHost: t\r\nContent-Range: {start}-{}\r\nContent-Length: {}\r\n\r\n", BLOB_LEN - 1, body.len());
        if cut < BLOB_LEN {
            raw_request(&server.addr, &head, &body[..cut - start], false);
            std::thread::sleep(Duration::from_millis(200));
        } else {
            let reply = raw_request(&server.addr, &head, body, true).unwrap();
            assert!(reply.starts_with("HTTP/1.1 202"), "{reply}");
            let put = format!("PUT {location}?digest={digest} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n");
            raw_request(&server.addr, &put, b"", false);
        }
        server.kill();
        assert_no_partial_blob(&root, &hex);
    }
    assert!(resumed.iter().any(|&o| o > 0), "no round resumed mid-blob: {resumed:?}");
    // A fresh registry finishes (or has already finished) the upload; the blob is whole.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let reg = TestRegistry::start_with(Opts { root: Some(root.clone()), ..Opts::default() }).await;
        let status = reg.get(&location).await;
        if status.status == StatusCode::NO_CONTENT {
            let r = reg.req(Method::PUT, &format!("{location}?digest={digest}"), &[], Bytes::new()).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        }
        let r = reg.get(&format!("/v2/crash/blobs/{digest}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.as_ref() == blob.as_slice());
    });
    assert_no_partial_blob(&root, &hex);
}
