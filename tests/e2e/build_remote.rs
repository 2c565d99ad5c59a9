//! Builds whose inputs come from outside the context, through `DOCKER_BUILDKIT=0 docker build`
//! and `berth build`: `ADD <url>` against a loopback HTTP server this test runs (file names,
//! mode 0600, `Last-Modified` times, no unpacking, `--chown`/`--chmod`, redirects, the cache
//! following the downloaded content, HTTP errors naming the line), and `--cache-from` images
//! used as the cache after the local cache is gone.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use berth_e2e::{stderr, stdout, Client, Daemon};

use berth_e2e::both_clients;

both_clients!(add_url_downloads_into_the_image_and_caches_by_content, add_url_errors_name_the_line, cache_from_images_serve_as_the_cache);

/// `Last-Modified` of the served files, and the same instant in Unix seconds.
const LAST_MODIFIED: &str = "Wed, 21 Oct 2015 07:28:00 GMT";
const LAST_MODIFIED_SECS: u64 = 1445412480;

/// A tiny HTTP/1.0 server on 127.0.0.1 answering fixed paths; `/dyn` answers the current
/// `version`. The thread ends with the test process.
struct Server {
    port: u16,
    version: Arc<AtomicUsize>,
}

impl Server {
    fn start(archive: Vec<u8>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let version = Arc::new(AtomicUsize::new(1));
        let v = version.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = answer(conn, &archive, v.load(Ordering::SeqCst));
            }
        });
        Server { port, version }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

fn answer(mut conn: TcpStream, archive: &[u8], version: usize) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
    let dynamic = format!("dynamic content v{version}\n");
    let (status, extra, body): (&str, String, &[u8]) = match path.as_str() {
        "/files/hello.txt" => ("200 OK", format!("Last-Modified: {LAST_MODIFIED}\r\n"), b"hello from http\n"),
        "/archive.tar" => ("200 OK", String::new(), archive),
        "/redirect" => ("302 Found", "Location: /files/hello.txt\r\n".into(), b""),
        "/dyn" => ("200 OK", String::new(), dynamic.as_bytes()),
        "/named/" => ("200 OK", "Content-Disposition: attachment; filename=\"from-header.txt\"\r\n".into(), b"named by header\n"),
        "/noname/" => ("200 OK", String::new(), b"no name\n"),
        _ => ("404 Not Found", String::new(), b"not here\n"),
    };
    let head = format!("HTTP/1.0 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n", body.len());
    conn.write_all(head.as_bytes())?;
    conn.write_all(body)
}

/// A tar holding one file, `inside.txt`.
fn small_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(7);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "inside.txt", &b"inside\n"[..]).unwrap();
    b.into_inner().unwrap()
}

fn context(d: &Daemon, name: &str, dockerfile: &str) -> PathBuf {
    let dir = d.dir.join("ctx").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), dockerfile).unwrap();
    dir
}

fn build_ok(d: &Daemon, c: Client, args: &[&str]) -> String {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    let out = d.run(c, &all);
    assert!(out.status.success(), "{c:?} build {args:?} failed ({:?}):\n{}\n{}", out.status.code(), stdout(&out), stderr(&out));
    stdout(&out)
}

/// For each `Step N/M : text` of a build's output, whether it was a cache hit.
fn cache_hits(output: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for line in output.lines() {
        if line.starts_with("Step ") {
            out.push((line.to_string(), false));
        } else if line == " ---> Using cache" {
            if let Some(last) = out.last_mut() {
                last.1 = true;
            }
        }
    }
    out
}

fn add_url_downloads_into_the_image_and_caches_by_content(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let server = Server::start(small_tar());
    let dockerfile = format!(
        "FROM busybox\n\
         ADD {hello} /data/\n\
         ADD {archive} /data/\n\
         ADD --chown=1:2 --chmod=640 {redirect} /data/renamed.txt\n\
         ADD {named} /data/\n\
         ADD {dynamic} /data/dyn\n\
         RUN cat /data/dyn\n",
        hello = server.url("/files/hello.txt"),
        archive = server.url("/archive.tar"),
        redirect = server.url("/redirect"),
        named = server.url("/named/"),
        dynamic = server.url("/dyn"),
    );
    let ctx = context(d, "addurl", &dockerfile);
    let first = build_ok(d, c, &["-t", "addurl", ctx.to_str().unwrap()]);
    assert!(cache_hits(&first).iter().all(|(_, hit)| !hit), "{first}");
    assert!(first.contains("dynamic content v1"), "{first}");

    let script = "cd /data && stat -c '%n %a %u:%g %Y %s' hello.txt archive.tar renamed.txt from-header.txt dyn && cat renamed.txt from-header.txt && \
                  test ! -e inside.txt && tar -tf archive.tar";
    let listing = d.ok(c, &["run", "--rm", "addurl", "sh", "-c", script]);
    let expected_lines = [
        format!("hello.txt 600 0:0 {LAST_MODIFIED_SECS} 16"),
        format!("archive.tar 600 0:0 0 {}", small_tar().len()),
        format!("renamed.txt 640 1:2 {LAST_MODIFIED_SECS} 16"),
        "from-header.txt 600 0:0 0 16".to_string(),
        "dyn 600 0:0 0 19".to_string(),
        "hello from http".to_string(),
        "named by header".to_string(),
        "inside.txt".to_string(),
    ];
    let got: Vec<&str> = listing.lines().collect();
    assert_eq!(got, expected_lines.iter().map(String::as_str).collect::<Vec<_>>(), "{listing}");

    // Unchanged downloads: every step is a cache hit.
    let again = build_ok(d, c, &["-t", "addurl", ctx.to_str().unwrap()]);
    let hits = cache_hits(&again);
    assert_eq!(hits.len(), 7, "{again}");
    assert!(hits.iter().skip(1).all(|(_, hit)| *hit), "{again}");

    // New content behind the same URL: that ADD and what follows run again.
    server.version.store(2, Ordering::SeqCst);
    let changed = build_ok(d, c, &["-t", "addurl", ctx.to_str().unwrap()]);
    let hits: Vec<bool> = cache_hits(&changed).into_iter().map(|(_, h)| h).collect();
    assert_eq!(hits, vec![false, true, true, true, true, false, false], "{changed}");
    assert!(changed.contains("dynamic content v2"), "{changed}");
}

fn add_url_errors_name_the_line(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let server = Server::start(small_tar());
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let missing = server.url("/missing.txt");
    let cases: Vec<(&str, String, String)> = vec![
        (
            "notfound",
            format!("FROM busybox\nRUN true\nADD {missing} /x\n"),
            format!("Dockerfile:3: ADD failed: failed to GET {missing} with status 404 Not Found"),
        ),
        ("noname", format!("FROM busybox\nADD {} /d/\n", server.url("/noname/")), "Dockerfile:2: ADD failed: cannot determine filename for source".into()),
        (
            "refused",
            format!("FROM busybox\n\nADD http://127.0.0.1:{closed}/f /f\n"),
            format!("Dockerfile:3: ADD failed: failed to GET http://127.0.0.1:{closed}/f"),
        ),
        ("badurl", "FROM busybox\nADD http://:80/x /x\n".into(), "Dockerfile:2: ADD failed: invalid URL".into()),
        ("copyurl", format!("FROM busybox\nCOPY {} /x\n", server.url("/files/hello.txt")), "Dockerfile:2: COPY failed: source can't be a URL for COPY".into()),
    ];
    for (name, text, want) in cases {
        let ctx = context(d, name, &text);
        let out = d.run(c, &["build", ctx.to_str().unwrap()]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!out.status.success(), "{name} must fail:\n{all}");
        assert!(all.contains(&want), "{name}: wanted {want:?} in:\n{all}");
        d.ok(c, &["version"]);
    }
}

/// An image built on one daemon, saved with its base and loaded on a fresh daemon (so without
/// its intermediate images or cache), is the cache of the same build there with
/// `--cache-from`, and only with it; a changed file misses from its `COPY` on.
fn cache_from_images_serve_as_the_cache(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = d.dir.join("ctx").join("cachefrom");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("app.txt"), "version 1\n").unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG FLAVOR=plain\nRUN echo \"ran for $FLAVOR\" > /ran\nCOPY app.txt /app/\nENV APP=1\nWORKDIR /app\nCMD [\"cat\", \"/app/app.txt\"]\n",
    )
    .unwrap();
    let first = build_ok(d, c, &["-t", "app:v1", ctx.to_str().unwrap()]);
    assert!(first.contains(" ---> Running in "), "{first}");
    let v1 = d.ok(c, &["image", "inspect", "--format", "{{.Id}}", "app:v1"]).trim().to_string();
    let saved = d.dir.join("app.tar");
    d.ok(c, &["save", "-o", saved.to_str().unwrap(), "busybox", "app:v1"]);

    let fresh = Daemon::start();
    fresh.ok(c, &["load", "-i", saved.to_str().unwrap()]);
    // Without --cache-from the loaded image is not a cache.
    let plain = build_ok(&fresh, c, &["-t", "app:plain", ctx.to_str().unwrap()]);
    assert!(cache_hits(&plain).iter().all(|(_, hit)| !hit), "{plain}");

    // With it, every step is a hit (the local cache of the build above is not: it is no
    // ancestor of app:v1), nothing runs, and the result is app:v1 itself.
    let cached = build_ok(&fresh, c, &["-t", "app:v2", "--cache-from", "app:v1", ctx.to_str().unwrap()]);
    let hits = cache_hits(&cached);
    assert_eq!(hits.len(), 7, "{cached}");
    assert!(hits.iter().skip(1).all(|(_, hit)| *hit), "{cached}");
    assert!(!cached.contains(" ---> Running in "), "{cached}");
    let v2 = fresh.ok(c, &["image", "inspect", "--format", "{{.Id}}", "app:v2"]).trim().to_string();
    assert_eq!(v2, v1);
    assert_eq!(fresh.ok(c, &["run", "--rm", "app:v2", "cat", "/ran"]), "ran for plain\n");

    // A changed file: the steps before its COPY still come from app:v1, the rest run.
    std::fs::write(ctx.join("app.txt"), "version 2\n").unwrap();
    let changed = build_ok(&fresh, c, &["-t", "app:v3", "--cache-from", "app:v1", ctx.to_str().unwrap()]);
    let hits: Vec<bool> = cache_hits(&changed).into_iter().map(|(_, h)| h).collect();
    assert_eq!(hits, vec![false, true, true, false, false, false, false], "{changed}");
    assert_eq!(fresh.ok(c, &["run", "--rm", "app:v3"]), "version 2\n");
    // A missing --cache-from image is skipped, as the classic builder does.
    build_ok(&fresh, c, &["--cache-from", "no-such-image:latest", ctx.to_str().unwrap()]);
    fresh.assert_no_leaks_after_cleanup();
}
