//! End-to-end tests of distribution: pull, push, login and `run` pulling, through berth's
//! daemon, against `berth registry serve`, Debian's `docker-registry` (CNCF distribution) and
//! a small fake registry (tampered blobs, malformed manifests, dropped connections), driven
//! by the docker CLI, skopeo and berth. Every registry is started by the test on 127.0.0.1
//! and killed when the test ends.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_e2e::{berth_bin, stderr, stdout, wait_until, Client, Daemon};

// ---------------------------------------------------------------------------------------------
// Registries under test
// ---------------------------------------------------------------------------------------------

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    wait_until(&format!("{what} to listen on {port}"), Duration::from_secs(20), || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
}

/// A registry process (berth's or CNCF distribution's) on loopback, killed on drop.
struct RegistryProcess {
    port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

impl RegistryProcess {
    /// `berth registry serve`, optionally with `--htpasswd`.
    fn berth(htpasswd: Option<&str>) -> Self {
        Self::berth_with(htpasswd, false)
    }

    /// `berth registry serve`, optionally with `--htpasswd`, and in bearer token mode
    /// (`--token-realm` pointing at its own `/token`) when `token` is set.
    fn berth_with(htpasswd: Option<&str>, token: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(berth_bin());
        cmd.args(["registry", "serve", "--addr", &format!("127.0.0.1:{port}")]).arg("--root").arg(dir.path().join("root"));
        if let Some(entry) = htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, entry).unwrap();
            cmd.arg("--htpasswd").arg(file);
        }
        if token {
            cmd.args(["--token-realm", &format!("http://127.0.0.1:{port}/token"), "--token-service", "berth-test"]);
        }
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let mut child = cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        wait_for_port(port, &mut child, "berth registry");
        Self { port, dir, child }
    }

    /// Debian's `docker-registry` (CNCF distribution 2.8) with a temp storage dir.
    fn distribution() -> Self {
        let bin = Path::new("/usr/bin/docker-registry");
        assert!(bin.exists(), "/usr/bin/docker-registry is missing: apt-get install docker-registry (scripts/deps.sh does)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("storage").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let mut child = Command::new(bin).arg("serve").arg(&config_path).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().unwrap();
        wait_for_port(port, &mut child, "docker-registry");
        Self { port, dir, child }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for RegistryProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request the fake registry received.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// What the fake registry answers.
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// Close the connection after this many body bytes.
    cut_after: Option<usize>,
}

impl Resp {
    fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self { status, headers: vec![("Content-Type".into(), content_type.into())], body, cut_after: None }
    }

    fn not_found(code: &str) -> Self {
        Self::new(404, "application/json", format!(r#"{{"errors":[{{"code":"{code}","message":"not here"}}]}}"#).into_bytes())
    }
}

type Handler = Arc<dyn Fn(&Req) -> Resp + Send + Sync>;

/// A tiny HTTP/1.1 registry stand-in: one thread per connection, one request per connection.
struct FakeRegistry {
    port: u16,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Req>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn read_request(s: &mut TcpStream) -> Option<Req> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut byte).ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        if buf.is_empty() && byte[0] == 0x16 {
            // A TLS ClientHello: this registry speaks plain HTTP only.
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let mut lines = text.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_string(), first.next()?.to_string());
    let headers = lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))).collect();
    Some(Req { method, path, headers })
}

fn answer(s: &mut TcpStream, req: &Req, resp: Resp) {
    let mut head = format!("HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n", resp.status, resp.body.len());
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = s.write_all(head.as_bytes());
    if req.method != "HEAD" {
        let end = resp.cut_after.unwrap_or(resp.body.len()).min(resp.body.len());
        let _ = s.write_all(&resp.body[..end]);
    }
    let _ = s.flush();
    let _ = s.shutdown(std::net::Shutdown::Both);
}

impl FakeRegistry {
    fn start(handler: Handler) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let Ok((mut s, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let (handler, seen) = (handler.clone(), seen2.clone());
                std::thread::spawn(move || {
                    let _ = s.set_nonblocking(false);
                    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                    if let Some(req) = read_request(&mut s) {
                        seen.lock().unwrap().push(req.clone());
                        let resp = handler(&req);
                        answer(&mut s, &req, resp);
                    }
                });
            }
        });
        Self { port, stop, seen, thread: Some(thread) }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Req> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Images for the fake registry
// ---------------------------------------------------------------------------------------------

fn sha256(data: &[u8]) -> String {
    let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = data.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&data));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    format!("sha256:{}", String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap())
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn layer_tar(file: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    b.append_data(&mut h, file, content).unwrap();
    b.into_inner().unwrap()
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A one-layer image as a fake registry serves it.
struct FakeImage {
    config: Vec<u8>,
    config_digest: String,
    layer: Vec<u8>,
    layer_digest: String,
    manifest: Vec<u8>,
    manifest_digest: String,
}

fn fake_image(arch: &str, content: &[u8], diff_id: Option<&str>, config_type: &str, layer_type: &str) -> FakeImage {
    fake_image_of(arch, layer_tar("hello.txt", content), diff_id, config_type, layer_type)
}

/// A one-layer image whose layer blob is `layer` as given (compressed or not).
fn fake_image_of(arch: &str, layer: Vec<u8>, diff_id: Option<&str>, config_type: &str, layer_type: &str) -> FakeImage {
    let layer_digest = sha256(&layer);
    let diff = diff_id.map(str::to_string).unwrap_or_else(|| layer_digest.clone());
    let config =
        format!(r#"{{"architecture":"{arch}","os":"linux","config":{{"Cmd":["/hello"]}},"rootfs":{{"type":"layers","diff_ids":["{diff}"]}}}}"#).into_bytes();
    let config_digest = sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{config_type}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{layer_type}","digest":"{layer_digest}","size":{}}}]}}"#,
        config.len(),
        layer.len()
    )
    .into_bytes();
    let manifest_digest = sha256(&manifest);
    FakeImage { config, config_digest, layer, layer_digest, manifest, manifest_digest }
}

/// Files by URL path, with `Range: bytes=N-` support; `/v2/` answers 200.
fn static_registry(files: HashMap<String, (String, Vec<u8>)>) -> Handler {
    Arc::new(move |req: &Req| {
        if req.path == "/v2/" {
            return Resp::new(200, "application/json", b"{}".to_vec());
        }
        let Some((ctype, body)) = files.get(&req.path) else {
            return Resp::not_found(if req.path.contains("/manifests/") { "MANIFEST_UNKNOWN" } else { "BLOB_UNKNOWN" });
        };
        let start = req.header("range").and_then(|r| r.strip_prefix("bytes=")).and_then(|r| r.trim_end_matches('-').parse::<usize>().ok());
        match start {
            Some(s) if s < body.len() => {
                let mut r = Resp::new(206, ctype, body[s..].to_vec());
                r.headers.push(("Content-Range".into(), format!("bytes {s}-{}/{}", body.len() - 1, body.len())));
                r
            }
            _ => Resp::new(200, ctype, body.clone()),
        }
    })
}

fn image_files(repo: &str, tag: &str, img: &FakeImage, manifest_type: &str) -> HashMap<String, (String, Vec<u8>)> {
    let mut files = HashMap::new();
    files.insert(format!("/v2/{repo}/manifests/{tag}"), (manifest_type.to_string(), img.manifest.clone()));
    files.insert(format!("/v2/{repo}/manifests/{}", img.manifest_digest), (manifest_type.to_string(), img.manifest.clone()));
    files.insert(format!("/v2/{repo}/blobs/{}", img.config_digest), ("application/octet-stream".into(), img.config.clone()));
    files.insert(format!("/v2/{repo}/blobs/{}", img.layer_digest), ("application/octet-stream".into(), img.layer.clone()));
    files
}

// ---------------------------------------------------------------------------------------------
// Helpers on the daemon
// ---------------------------------------------------------------------------------------------

fn combined(o: &std::process::Output) -> String {
    format!("{}{}", stdout(o), stderr(o))
}

fn fails(d: &Daemon, client: Client, args: &[&str]) -> String {
    let out = d.run(client, args);
    assert!(!out.status.success(), "{client:?} {args:?} should have failed:\n{}", combined(&out));
    combined(&out)
}

/// Names in a dir (empty when it does not exist).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn data(d: &Daemon) -> PathBuf {
    d.dir.join("data")
}

/// Every path under the daemon's dir except its log, for "nothing was written" checks.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            let path = e.path();
            if path.file_name().is_some_and(|n| n == "daemon.log" || n == "berth.db") {
                continue;
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

fn api_pull(d: &Daemon, image: &str, tag: &str) -> berth_e2e::http::Response {
    d.api("POST", &format!("/v1.51/images/create?fromImage={image}&tag={tag}"), None)
}

// ---------------------------------------------------------------------------------------------
// 1. push with docker and berth, remove, pull back, run
// ---------------------------------------------------------------------------------------------

#[test]
fn docker_push_rmi_pull_and_run_through_berth() {
    let reg = RegistryProcess::berth(None);
    let d = Daemon::start();
    let image = format!("{}/team/app:v1", reg.host());
    d.busybox(Client::Docker, "bb");
    d.ok(Client::Docker, &["tag", "bb", &image]);
    let out = d.ok(Client::Docker, &["push", &image]);
    assert!(out.contains(&format!("The push refers to repository [{}/team/app]", reg.host())), "{out}");
    assert!(out.contains("Pushed"), "{out}");
    let digest = out.lines().find_map(|l| l.strip_prefix("v1: digest: ")).map(|l| l.split(' ').next().unwrap().to_string()).expect("digest line");
    let again = d.ok(Client::Docker, &["push", &image]);
    assert!(again.contains("Layer already exists"), "{again}");

    d.ok(Client::Docker, &["rmi", &image, "bb"]);
    assert!(d.docker(&["image", "inspect", &image]).status.code() != Some(0));
    let out = d.ok(Client::Docker, &["pull", &image]);
    assert!(out.contains("v1: Pulling from team/app"), "{out}");
    assert!(out.contains("Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    assert!(out.contains(&format!("Status: Downloaded newer image for {image}")), "{out}");
    let up = d.ok(Client::Docker, &["pull", &image]);
    assert!(up.contains(&format!("Status: Image is up to date for {image}")), "{up}");
    let digests = d.ok(Client::Docker, &["image", "inspect", "-f", "{{json .RepoDigests}}", &image]);
    assert!(digests.contains(&digest), "{digests}");
    assert_eq!(d.ok(Client::Docker, &["run", "--rm", &image, "echo", "ok"]).trim(), "ok");
    let dist = d.api("GET", &format!("/v1.51/distribution/{image}/json"), None);
    assert_eq!(dist.status, 200, "{}", String::from_utf8_lossy(&dist.body));
    assert_eq!(dist.json()["Descriptor"]["digest"], digest.as_str());
    assert_eq!(dist.json()["Platforms"][0]["os"], "linux");

    // Pull by digest, and a tag that is not there.
    let by_digest = format!("{}/team/app@{digest}", reg.host());
    let out = d.ok(Client::Docker, &["pull", &by_digest]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let err = fails(&d, Client::Docker, &["pull", &format!("{}/team/app:nope", reg.host())]);
    assert!(err.contains("manifest unknown"), "{err}");
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn berth_push_rmi_pull_and_run() {
    let reg = RegistryProcess::berth(None);
    let d = Daemon::start();
    let image = format!("{}/team/app:v1", reg.host());
    d.busybox(Client::Berth, &image);
    let out = d.ok(Client::Berth, &["push", &image]);
    assert!(out.contains("Pushed") && out.contains("v1: digest: sha256:"), "{out}");
    // A second repository of the same registry gets the layer by cross-repository mount.
    let other = format!("{}/team/other:v1", reg.host());
    d.ok(Client::Berth, &["tag", &image, &other]);
    let out = d.ok(Client::Berth, &["push", &other]);
    assert!(out.contains("Mounted from team/app"), "{out}");

    d.ok(Client::Berth, &["rmi", &image, &other]);
    let out = d.ok(Client::Berth, &["pull", &image]);
    assert!(out.contains("Pull complete") && out.contains("Status: Downloaded newer image"), "{out}");
    assert_eq!(d.ok(Client::Berth, &["run", "--rm", &image, "echo", "ok"]).trim(), "ok");
    d.assert_no_leaks_after_cleanup();
}

// ---------------------------------------------------------------------------------------------
// 2. skopeo against what berth pushed
// ---------------------------------------------------------------------------------------------

fn skopeo(args: &[&str]) -> String {
    let out = Command::new("skopeo").args(args).output().expect("skopeo must be installed (scripts/deps.sh)");
    assert!(out.status.success(), "skopeo {args:?} failed:\n{}", combined(&out));
    stdout(&out)
}

#[test]
fn skopeo_copies_and_inspects_what_berth_pushed() {
    let reg = RegistryProcess::berth(None);
    let d = Daemon::start();
    let image = format!("{}/team/app:v1", reg.host());
    d.busybox(Client::Docker, &image);
    let out = d.ok(Client::Docker, &["push", &image]);
    let digest = out.lines().find_map(|l| l.strip_prefix("v1: digest: ")).map(|l| l.split(' ').next().unwrap().to_string()).unwrap();

    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{image}")])).unwrap();
    assert_eq!(inspect["Digest"], digest.as_str());
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(1));
    assert_eq!(inspect["Os"], "linux");

    let layout = tempfile::tempdir().unwrap();
    let oci = format!("oci:{}:v1", layout.path().join("img").display());
    skopeo(&["copy", "--src-tls-verify=false", &format!("docker://{image}"), &oci]);
    let copy = format!("{}/team/copy:v1", reg.host());
    skopeo(&["copy", "--dest-tls-verify=false", &oci, &format!("docker://{copy}")]);
    let out = d.ok(Client::Docker, &["pull", &copy]);
    assert!(out.contains("Status:"), "{out}");
    assert_eq!(d.ok(Client::Docker, &["run", "--rm", &copy, "echo", "ok"]).trim(), "ok");
    d.assert_no_leaks_after_cleanup();
}

// ---------------------------------------------------------------------------------------------
// 3. CNCF distribution as a second, independent registry
// ---------------------------------------------------------------------------------------------

#[test]
fn pulls_from_cncf_distribution() {
    let reg = RegistryProcess::distribution();
    let d = Daemon::start();
    let image = format!("{}/team/app:v1", reg.host());
    d.busybox(Client::Berth, &image);
    let out = d.ok(Client::Berth, &["push", &image]);
    assert!(out.contains("Pushed"), "{out}\n{}", reg.log());
    d.ok(Client::Docker, &["rmi", &image]);
    let out = d.ok(Client::Docker, &["pull", &image]);
    assert!(out.contains("Pull complete") && out.contains("Status: Downloaded newer image"), "{out}\n{}", reg.log());
    assert_eq!(d.ok(Client::Docker, &["run", "--rm", &image, "echo", "ok"]).trim(), "ok");
    let inspect: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", "--tls-verify=false", &format!("docker://{image}")])).unwrap();
    assert_eq!(inspect["Layers"].as_array().map(Vec::len), Some(1));
    d.assert_no_leaks_after_cleanup();
}

// ---------------------------------------------------------------------------------------------
// 4. basic auth: anonymous pushes refused, docker login accepted
// ---------------------------------------------------------------------------------------------

fn htpasswd_entry(user: &str, password: &str) -> String {
    let out = Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd must be installed (apache2-utils)");
    assert!(out.status.success(), "htpasswd: {}", combined(&out));
    stdout(&out)
}

#[test]
fn htpasswd_registry_refuses_anonymous_push_and_accepts_docker_login() {
    let reg = RegistryProcess::berth(Some(&htpasswd_entry("alice", "s3cret")));
    let d = Daemon::start();
    let image = format!("{}/team/app:v1", reg.host());
    d.busybox(Client::Docker, &image);
    let err = fails(&d, Client::Docker, &["push", &image]);
    assert!(err.to_lowercase().contains("authentication required"), "{err}");

    let bad = d.docker_stdin(&["login", &reg.host(), "-u", "alice", "--password-stdin"], b"wrong\n");
    assert!(!bad.status.success(), "{}", combined(&bad));
    assert!(combined(&bad).contains("401 Unauthorized"), "{}", combined(&bad));
    let good = d.docker_stdin(&["login", &reg.host(), "-u", "alice", "--password-stdin"], b"s3cret\n");
    assert!(good.status.success(), "{}", combined(&good));
    assert!(stdout(&good).contains("Login Succeeded"), "{}", combined(&good));

    let out = d.ok(Client::Docker, &["push", &image]);
    assert!(out.contains("Pushed"), "{out}");
    d.ok(Client::Docker, &["rmi", &image]);
    let out = d.ok(Client::Berth, &["pull", &image]);
    assert!(out.contains("Pull complete"), "{out}");
    d.ok(Client::Berth, &["logout", &reg.host()]);
    let err = fails(&d, Client::Berth, &["pull", &format!("{}/team/app:v2", reg.host())]);
    assert!(err.contains("pull access denied") || err.contains("authentication required"), "{err}");
}

/// `curl -si` of a URL: status line and headers, lowercased.
fn curl_head(url: &str, user: Option<&str>) -> String {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-D", "-"]);
    if let Some(u) = user {
        cmd.args(["-u", u]);
    }
    let out = cmd.arg(url).output().expect("curl must be installed");
    stdout(&out).to_lowercase()
}

#[test]
fn token_registry_refuses_anonymous_push_and_serves_docker_login_push_and_pull() {
    let reg = RegistryProcess::berth_with(Some(&htpasswd_entry("alice", "s3cret")), true);
    // The registry answers with a bearer challenge naming its token endpoint and the scope.
    let head = curl_head(&format!("http://{}/v2/team/app/tags/list", reg.host()), None);
    assert!(head.starts_with("http/1.1 401"), "{head}");
    let realm = format!("www-authenticate: bearer realm=\"http://{}/token\",service=\"berth-test\",scope=\"repository:team/app:pull\"", reg.host());
    assert!(head.contains(&realm), "{head}");
    // Basic credentials are no way around the tokens.
    let basic = curl_head(&format!("http://{}/v2/", reg.host()), Some("alice:s3cret"));
    assert!(basic.starts_with("http/1.1 401"), "{basic}");
    // The token endpoint itself wants the htpasswd user.
    let anon = curl_head(&format!("http://{}/token?service=berth-test&scope=repository:team/app:pull", reg.host()), None);
    assert!(anon.starts_with("http/1.1 401"), "{anon}");

    let d = Daemon::start();
    let image = format!("{}/team/app:v1", reg.host());
    d.busybox(Client::Docker, &image);
    let err = fails(&d, Client::Docker, &["push", &image]);
    assert!(err.to_lowercase().contains("authentication required"), "{err}");
    assert!(!reg.dir.path().join("root/repositories/team").exists(), "the anonymous push stored something");

    let bad = d.docker_stdin(&["login", &reg.host(), "-u", "alice", "--password-stdin"], b"wrong\n");
    assert!(!bad.status.success(), "{}", combined(&bad));
    assert!(combined(&bad).contains("401 Unauthorized"), "{}", combined(&bad));
    let good = d.docker_stdin(&["login", &reg.host(), "-u", "alice", "--password-stdin"], b"s3cret\n");
    assert!(good.status.success(), "{}", combined(&good));
    assert!(stdout(&good).contains("Login Succeeded"), "{}", combined(&good));

    let out = d.ok(Client::Docker, &["push", &image]);
    assert!(out.contains("Pushed"), "{out}");
    d.ok(Client::Docker, &["rmi", &image]);
    let out = d.ok(Client::Docker, &["pull", &image]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(d.ok(Client::Docker, &["run", "--rm", &image, "echo", "ok"]).trim(), "ok");
    d.ok(Client::Docker, &["rmi", &image]);
    d.ok(Client::Berth, &["logout", &reg.host()]);
    let err = fails(&d, Client::Berth, &["pull", &image]);
    assert!(err.contains("pull access denied") || err.contains("authentication required"), "{err}");
    d.assert_no_leaks_after_cleanup();
}

// ---------------------------------------------------------------------------------------------
// 5. blobs that do not match their digests
// ---------------------------------------------------------------------------------------------

fn assert_nothing_stored(d: &Daemon, img: &FakeImage) {
    let content = entries(&data(d).join("content/sha256"));
    for digest in [&img.layer_digest, &img.config_digest, &img.manifest_digest] {
        let hex = digest.trim_start_matches("sha256:");
        assert!(!content.iter().any(|c| c == hex), "blob {digest} was stored");
    }
    assert_eq!(entries(&data(d).join("layers")), Vec::<String>::new(), "a layer was registered");
    assert_eq!(entries(&data(d).join("tmp")), Vec::<String>::new(), "temp files were left");
    assert_eq!(d.ok(Client::Docker, &["images", "-q"]).trim(), "", "an image was recorded");
}

#[test]
fn tampered_blob_is_refused_and_nothing_is_stored() {
    let img = fake_image(host_arch(), b"genuine\n", None, OCI_CONFIG, OCI_LAYER);
    let mut files = image_files("team/app", "v1", &img, OCI_MANIFEST);
    // Same length, other bytes: only the digest can tell.
    let mut evil = img.layer.clone();
    let at = evil.windows(7).position(|w| w == b"genuine").unwrap();
    evil[at..at + 7].copy_from_slice(b"GENUINE");
    files.insert(format!("/v2/team/app/blobs/{}", img.layer_digest), ("application/octet-stream".into(), evil));
    let fake = FakeRegistry::start(static_registry(files));
    let d = Daemon::start();
    let err = fails(&d, Client::Docker, &["pull", &format!("{}/team/app:v1", fake.host())]);
    assert!(err.contains(&format!("filesystem layer verification failed for digest {}", img.layer_digest)), "{err}");
    assert_nothing_stored(&d, &img);
}

#[test]
fn layer_not_matching_the_config_diff_id_is_refused_and_nothing_is_stored() {
    let other = sha256(b"some other layer");
    let img = fake_image(host_arch(), b"content\n", Some(&other), OCI_CONFIG, OCI_LAYER);
    let fake = FakeRegistry::start(static_registry(image_files("team/app", "v1", &img, OCI_MANIFEST)));
    let d = Daemon::start();
    let err = fails(&d, Client::Berth, &["pull", &format!("{}/team/app:v1", fake.host())]);
    assert!(err.contains("layers from manifest don't match image configuration"), "{err}");
    assert_nothing_stored(&d, &img);
}

// ---------------------------------------------------------------------------------------------
// 6. run pulls a missing image
// ---------------------------------------------------------------------------------------------

#[test]
fn docker_run_pulls_a_missing_image() {
    let reg = RegistryProcess::berth(None);
    let image = format!("{}/team/app:v1", reg.host());
    {
        let pusher = Daemon::start();
        pusher.busybox(Client::Docker, &image);
        pusher.ok(Client::Docker, &["push", &image]);
    }
    let d = Daemon::start();
    let out = d.docker(&["run", "--rm", &image, "true"]);
    assert!(out.status.success(), "{}", combined(&out));
    assert!(stderr(&out).contains(&format!("Unable to find image '{image}' locally")), "{}", combined(&out));
    assert!(combined(&out).contains("Pull complete"), "{}", combined(&out));
    // And with berth's own CLI, on a name that is not there.
    let err = fails(&d, Client::Berth, &["run", "--rm", &format!("{}/team/none:v1", reg.host()), "true"]);
    assert!(err.contains("not found"), "{err}");
    d.assert_no_leaks_after_cleanup();
}

// ---------------------------------------------------------------------------------------------
// 7. bad input: malformed manifests, unknown media types, path tricks
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_manifests_and_names_get_4xx_and_write_nothing() {
    let good = fake_image(host_arch(), b"x\n", None, OCI_CONFIG, OCI_LAYER);
    let helm = fake_image(host_arch(), b"x\n", None, "application/vnd.cncf.helm.config.v1+json", OCI_LAYER);
    let evil_layer = fake_image(host_arch(), b"x\n", None, OCI_CONFIG, "application/x-evil");
    let mut files = HashMap::new();
    files.insert("/v2/bad/json/manifests/v1".to_string(), (OCI_MANIFEST.to_string(), b"{\"schemaVersion\": 2, \"config\": ".to_vec()));
    files.insert("/v2/bad/type/manifests/v1".to_string(), ("application/vnd.example.thing+json".to_string(), good.manifest.clone()));
    files.insert("/v2/bad/helm/manifests/v1".to_string(), (OCI_MANIFEST.to_string(), helm.manifest.clone()));
    files.insert("/v2/bad/layer/manifests/v1".to_string(), (OCI_MANIFEST.to_string(), evil_layer.manifest.clone()));
    files.insert("/v2/bad/big/manifests/v1".to_string(), (OCI_MANIFEST.to_string(), vec![b' '; 5 << 20]));
    files.insert(format!("/v2/bad/digest/manifests/{}", good.config_digest), (OCI_MANIFEST.to_string(), good.manifest.clone()));
    let fake = FakeRegistry::start(static_registry(files));
    let d = Daemon::start();
    let before = tree(&d.dir);
    let host = fake.host();
    for (repo, tag, words) in [
        ("bad/json", "v1", "malformed manifest"),
        ("bad/type", "v1", "unsupported manifest media type"),
        ("bad/helm", "v1", "not a container image"),
        ("bad/layer", "v1", "unsupported layer media type"),
        ("bad/big", "v1", "larger than"),
        ("bad/digest", good.config_digest.as_str(), "manifest verification failed"),
    ] {
        let r = api_pull(&d, &format!("{host}/{repo}"), tag);
        assert_eq!(r.status, 400, "{repo}: {}", String::from_utf8_lossy(&r.body));
        let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(msg.contains(words), "{repo}: {msg}");
    }
    for name in [format!("{host}/a/../b"), format!("{host}/..%2Fetc"), format!("{host}/a%252Fb"), format!("{host}/a/./b")] {
        let r = api_pull(&d, &name, "v1");
        assert_eq!(r.status, 400, "{name}: {}", String::from_utf8_lossy(&r.body));
        // images.rs decodes the path twice, so `%252F` arrives here as a plain `/`: then the
        // name is valid and merely unknown locally. Either way nothing reaches the registry.
        let r = d.api("POST", &format!("/v1.51/images/{name}/push?tag=v1"), None);
        let body = String::from_utf8_lossy(&r.body).into_owned();
        assert!(r.status == 400 || body.contains("does not exist locally"), "push {name}: {} {body}", r.status);
    }
    assert!(!fake.seen().iter().any(|r| r.path.contains("..") || r.path.contains("%2")), "a path trick reached the registry: {:?}", fake.seen());
    assert_eq!(tree(&d.dir), before, "files appeared in the daemon's dirs");
    assert_eq!(d.ok(Client::Docker, &["images", "-q"]).trim(), "");
}

// ---------------------------------------------------------------------------------------------
// Beyond the list: resumed downloads, platform selection, mirrors, search
// ---------------------------------------------------------------------------------------------

#[test]
fn download_resumes_after_a_dropped_connection() {
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let img = fake_image(host_arch(), &big, None, OCI_CONFIG, OCI_LAYER);
    let files = image_files("team/app", "v1", &img, OCI_MANIFEST);
    let inner = static_registry(files);
    let blob_path = format!("/v2/team/app/blobs/{}", img.layer_digest);
    let dropped = Arc::new(AtomicBool::new(false));
    let dropped2 = dropped.clone();
    let fake = FakeRegistry::start(Arc::new(move |req: &Req| {
        let mut resp = inner(req);
        if req.path == blob_path && req.method == "GET" && !dropped2.swap(true, Ordering::SeqCst) {
            resp.cut_after = Some(resp.body.len() / 2);
        }
        resp
    }));
    let d = Daemon::start();
    let out = d.ok(Client::Docker, &["pull", &format!("{}/team/app:v1", fake.host())]);
    assert!(out.contains("Pull complete"), "{out}");
    let ranged: Vec<Req> = fake.seen().into_iter().filter(|r| r.header("range").is_some()).collect();
    assert_eq!(ranged.len(), 1, "one resumed request expected: {:?}", fake.seen());
    let half = img.layer.len() / 2;
    assert_eq!(ranged[0].header("range"), Some(format!("bytes={half}-").as_str()));
}

#[test]
fn download_starts_over_when_the_registry_ignores_range_while_the_layer_streams() {
    let big: Vec<u8> = (0..6_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 24) as u8).collect();
    let img = fake_image(host_arch(), &big, None, OCI_CONFIG, OCI_LAYER);
    let inner = static_registry(image_files("team/app", "v1", &img, OCI_MANIFEST));
    let blob_path = format!("/v2/team/app/blobs/{}", img.layer_digest);
    let gets = Arc::new(Mutex::new(0u32));
    let gets2 = gets.clone();
    let fake = FakeRegistry::start(Arc::new(move |req: &Req| {
        if req.path != blob_path || req.method != "GET" {
            return inner(req);
        }
        let mut n = gets2.lock().unwrap();
        *n += 1;
        // The first answer is cut in the middle (the layer is already being unpacked by then);
        // the retry's Range is ignored: the whole blob again, with 200.
        let full = Req { headers: Vec::new(), ..req.clone() };
        let mut resp = inner(&full);
        if *n == 1 {
            resp.cut_after = Some(resp.body.len() * 2 / 3);
        }
        resp
    }));
    let d = Daemon::start();
    let out = d.ok(Client::Berth, &["pull", &format!("{}/team/app:v1", fake.host())]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(*gets.lock().unwrap(), 2, "{:?}", fake.seen());
    assert!(fake.seen().iter().any(|r| r.header("range").is_some()), "the retry asked for a range");
    let unpacked = data(&d).join("layers").join(img.layer_digest.trim_start_matches("sha256:")).join("diff/hello.txt");
    assert_eq!(std::fs::read(&unpacked).unwrap(), big, "the layer unpacked after the restart is the blob's");
    assert_eq!(entries(&data(&d).join("tmp")), Vec::<String>::new(), "temp files were left");
}

#[test]
fn platform_is_selected_from_an_index() {
    let native = fake_image(host_arch(), b"native\n", None, OCI_CONFIG, OCI_LAYER);
    let foreign_arch = if host_arch() == "arm64" { "amd64" } else { "arm64" };
    let foreign = fake_image(foreign_arch, b"foreign\n", None, OCI_CONFIG, OCI_LAYER);
    let entry = |img: &FakeImage, arch: &str| {
        format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#,
            img.manifest_digest,
            img.manifest.len()
        )
    };
    let index = format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{},{}]}}"#, entry(&foreign, foreign_arch), entry(&native, host_arch()))
        .into_bytes();
    let index_digest = sha256(&index);
    let mut files = image_files("multi/app", "native-only", &native, OCI_MANIFEST);
    files.extend(image_files("multi/app", "foreign-only", &foreign, OCI_MANIFEST));
    files.insert("/v2/multi/app/manifests/v1".into(), (OCI_INDEX.into(), index));
    let fake = FakeRegistry::start(static_registry(files));
    let d = Daemon::start();
    let image = format!("{}/multi/app:v1", fake.host());
    let out = d.ok(Client::Docker, &["pull", &image]);
    assert!(out.contains(&format!("Digest: {index_digest}")), "{out}");
    let id = d.ok(Client::Docker, &["image", "inspect", "-f", "{{.Id}}", &image]);
    assert_eq!(id.trim(), native.config_digest);
    let out = d.ok(Client::Docker, &["pull", "--platform", &format!("linux/{foreign_arch}"), &image]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    let arch = d.ok(Client::Docker, &["image", "inspect", "-f", "{{.Architecture}}", &image]);
    assert_eq!(arch.trim(), foreign_arch);
    let err = fails(&d, Client::Docker, &["pull", "--platform", "linux/s390x", &image]);
    assert!(err.contains("no matching manifest for linux/s390x"), "{err}");
}

#[test]
fn docker_hub_names_go_to_the_configured_mirror() {
    let reg = RegistryProcess::berth(None);
    let mirror = format!("http://{}", reg.host());
    {
        let pusher = Daemon::start();
        let image = format!("{}/library/mirrored:latest", reg.host());
        pusher.busybox(Client::Docker, &image);
        pusher.ok(Client::Docker, &["push", &image]);
    }
    let d = Daemon::start_with(&["--registry-mirror", &mirror]);
    let out = d.ok(Client::Docker, &["pull", "mirrored"]);
    assert!(out.contains("latest: Pulling from library/mirrored"), "{out}");
    assert!(out.contains("Status: Downloaded newer image for mirrored:latest"), "{out}");
    assert_eq!(d.ok(Client::Docker, &["run", "--rm", "mirrored", "echo", "ok"]).trim(), "ok");
    // docker info shows the daemon's registry settings.
    let config = d.ok(Client::Docker, &["info", "-f", "{{json .RegistryConfig}}"]);
    let config: serde_json::Value = serde_json::from_str(config.trim()).unwrap();
    assert_eq!(config["Mirrors"], serde_json::json!([format!("{mirror}/")]), "{config}");
    assert_eq!(config["IndexConfigs"]["docker.io"]["Mirrors"][0], format!("{mirror}/"), "{config}");
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn info_shows_insecure_registries() {
    let d = Daemon::start_with(&["--insecure-registry", "reg.example:5000", "--insecure-registry", "10.9.0.0/16"]);
    let config = d.ok(Client::Docker, &["info", "-f", "{{json .RegistryConfig}}"]);
    let config: serde_json::Value = serde_json::from_str(config.trim()).unwrap();
    assert_eq!(config["InsecureRegistryCIDRs"], serde_json::json!(["10.9.0.0/16", "127.0.0.0/8", "::1/128"]), "{config}");
    assert_eq!(config["IndexConfigs"]["reg.example:5000"]["Secure"], false, "{config}");
    let text = d.ok(Client::Docker, &["info"]);
    assert!(text.contains("Insecure Registries:") && text.contains("reg.example:5000") && text.contains("10.9.0.0/16"), "{text}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip").arg("-c").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("gzip must be installed");
    let mut stdin = child.stdin.take().unwrap();
    let input = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn image_whose_layer_already_existed_is_pushed_with_the_local_blob() {
    // A layer imported locally (stored as its plain tar) ...
    let plain = fake_image(host_arch(), b"shared layer\n", None, OCI_CONFIG, OCI_LAYER);
    let d = Daemon::start();
    let tar_path = d.dir.join("layer.tar");
    std::fs::write(&tar_path, &plain.layer).unwrap();
    d.ok(Client::Berth, &["import", tar_path.to_str().unwrap(), "local/shared:v1"]);
    // ... and an image on another registry whose layer is the gzip of the same tar.
    let gz = fake_image_of(host_arch(), gzip(&plain.layer), Some(&plain.layer_digest), OCI_CONFIG, "application/vnd.oci.image.layer.v1.tar+gzip");
    let fake = FakeRegistry::start(static_registry(image_files("team/app", "v1", &gz, OCI_MANIFEST)));
    let pulled = format!("{}/team/app:v1", fake.host());
    let out = d.ok(Client::Docker, &["pull", &pulled]);
    assert!(out.contains("Already exists"), "{out}");
    assert!(!fake.seen().iter().any(|r| r.path.ends_with(&gz.layer_digest)), "the existing layer was downloaded");

    // Its gzip blob was never fetched: the push sends the plain tar it has, under a new manifest.
    let reg = RegistryProcess::berth(None);
    let pushed = format!("{}/team/app:v1", reg.host());
    d.ok(Client::Docker, &["tag", &pulled, &pushed]);
    let out = d.ok(Client::Docker, &["push", &pushed]);
    assert!(out.contains("Pushed"), "{out}");
    d.ok(Client::Docker, &["rmi", &pushed, &pulled, "local/shared:v1"]);
    let out = d.ok(Client::Docker, &["pull", &pushed]);
    assert!(out.contains("Pull complete"), "{out}");
    let unpacked = data(&d).join("layers").join(plain.layer_digest.trim_start_matches("sha256:")).join("diff/hello.txt");
    assert_eq!(std::fs::read(&unpacked).unwrap(), b"shared layer\n");
    // RepoDigests in Docker's form: the familiar repository name, then the manifest digest.
    let digests = d.ok(Client::Docker, &["image", "inspect", "-f", "{{json .RepoDigests}}", &pushed]);
    let digests: Vec<String> = serde_json::from_str(digests.trim()).unwrap();
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert!(digests[0].starts_with(&format!("{}/team/app@sha256:", reg.host())), "{digests:?}");
}

/// `img` with another command in its config: another image id, the same layer blob.
fn with_cmd(img: &FakeImage, cmd: &str, layer_type: &str) -> FakeImage {
    let config = String::from_utf8(img.config.clone()).unwrap().replace(r#"["/hello"]"#, &format!(r#"["{cmd}"]"#)).into_bytes();
    let config_digest = sha256(&config);
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"{layer_type}","digest":"{}","size":{}}}]}}"#,
        config.len(),
        img.layer_digest,
        img.layer.len()
    )
    .into_bytes();
    let manifest_digest = sha256(&manifest);
    FakeImage { config, config_digest, layer: img.layer.clone(), layer_digest: img.layer_digest.clone(), manifest, manifest_digest }
}

#[test]
fn already_existing_layer_whose_blobs_are_all_gone_is_pushed_rebuilt_from_the_layer() {
    const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    let plain = layer_tar("hello.txt", b"layer pulled twice\n");
    let diff_id = sha256(&plain);
    // Image a's layer is gzip(tar); image b's is the same tar as two gzip members, so another
    // blob digest for the same diff id.
    let a = fake_image_of(host_arch(), gzip(&plain), Some(&diff_id), OCI_CONFIG, GZ);
    let b = with_cmd(&fake_image_of(host_arch(), [gzip(&plain), gzip(b"")].concat(), Some(&diff_id), OCI_CONFIG, GZ), "/other", GZ);
    assert_ne!(a.layer_digest, b.layer_digest);
    let mut files = image_files("team/a", "v1", &a, OCI_MANIFEST);
    files.extend(image_files("team/b", "v1", &b, OCI_MANIFEST));
    let fake = FakeRegistry::start(static_registry(files));
    let d = Daemon::start();
    let (img_a, img_b) = (format!("{}/team/a:v1", fake.host()), format!("{}/team/b:v1", fake.host()));
    d.ok(Client::Docker, &["pull", &img_a]);
    let out = d.ok(Client::Docker, &["pull", &img_b]);
    assert!(out.contains("Already exists"), "{out}");
    // Removing a removes the only blob of that layer; b's own blob was never fetched.
    d.ok(Client::Docker, &["rmi", &img_a]);
    let blobs = entries(&data(&d).join("content/sha256"));
    assert!(blobs.contains(&b.config_digest.trim_start_matches("sha256:").to_string()), "{blobs:?}");
    for gone in [&a.layer_digest, &b.layer_digest, &diff_id] {
        assert!(!blobs.contains(&gone.trim_start_matches("sha256:").to_string()), "{gone} still stored: {blobs:?}");
    }

    // The push rebuilds the layer's tar, byte for byte, and pushes it uncompressed under a new
    // manifest (the config, and so the image id, stay the same).
    let reg = RegistryProcess::berth(None);
    let pushed = format!("{}/team/b:v1", reg.host());
    d.ok(Client::Docker, &["tag", &img_b, &pushed]);
    let out = d.ok(Client::Docker, &["push", &pushed]);
    assert!(out.contains("Pushed"), "{out}");
    let head = curl_head(&format!("http://{}/v2/team/b/blobs/{diff_id}", reg.host()), None);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    d.ok(Client::Docker, &["rmi", &pushed, &img_b]);
    let out = d.ok(Client::Docker, &["pull", &pushed]);
    assert!(out.contains("Pull complete"), "{out}");
    let id = d.ok(Client::Docker, &["image", "inspect", "-f", "{{.Id}}", &pushed]);
    assert_eq!(id.trim(), b.config_digest);
    let unpacked = data(&d).join("layers").join(diff_id.trim_start_matches("sha256:")).join("diff/hello.txt");
    assert_eq!(std::fs::read(&unpacked).unwrap(), b"layer pulled twice\n");
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn search_on_a_registry_without_the_search_api_is_a_clear_error() {
    let reg = RegistryProcess::berth(None);
    let d = Daemon::start();
    let err = fails(&d, Client::Docker, &["search", &format!("{}/team", reg.host())]);
    assert!(err.contains("does not support search"), "{err}");
}

/// The files of a tar archive by path.
fn archive_files(data: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut ar = tar::Archive::new(data);
    let mut out = HashMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        out.insert(path, body);
    }
    out
}

/// Walks an archive's OCI layout (index.json -> manifests -> config and layers) checking that
/// every blob is there with its digest, size and (for layers) compression, and that
/// manifest.json lists the same config and layer blobs; returns the index's manifests.
fn check_saved_layout(data: &[u8]) -> Vec<(String, serde_json::Value)> {
    let files = archive_files(data);
    let blob = |desc: &serde_json::Value| -> Vec<u8> {
        let digest = desc["digest"].as_str().unwrap();
        let path = format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
        let bytes = files.get(&path).unwrap_or_else(|| panic!("{path} named by {desc} is not in the archive")).clone();
        assert_eq!(sha256(&bytes), digest, "{path}");
        assert_eq!(bytes.len() as u64, desc["size"].as_u64().unwrap(), "size of {path}");
        bytes
    };
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let legacy: serde_json::Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let mut out = Vec::new();
    for (i, desc) in index["manifests"].as_array().unwrap().iter().enumerate() {
        let manifest: serde_json::Value = serde_json::from_slice(&blob(desc)).unwrap();
        assert_eq!(manifest["mediaType"], desc["mediaType"], "{manifest}");
        blob(&manifest["config"]);
        let mut paths = Vec::new();
        for l in manifest["layers"].as_array().unwrap() {
            let bytes = blob(l);
            let media_type = l["mediaType"].as_str().unwrap();
            assert_eq!(bytes.starts_with(&[0x1f, 0x8b]), media_type.ends_with("gzip"), "{l}");
            paths.push(format!("blobs/sha256/{}", l["digest"].as_str().unwrap().trim_start_matches("sha256:")));
        }
        assert_eq!(
            legacy[i]["Config"].as_str().unwrap(),
            format!("blobs/sha256/{}", manifest["config"]["digest"].as_str().unwrap().trim_start_matches("sha256:"))
        );
        assert_eq!(legacy[i]["Layers"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect::<Vec<_>>(), paths);
        out.push((desc["digest"].as_str().unwrap().to_string(), manifest));
    }
    out
}

/// `data` without the entries named in `drop`.
fn archive_without(data: &[u8], drop: &[&str]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    let mut ar = tar::Archive::new(data);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e.path().unwrap().display().to_string();
        if drop.contains(&path.as_str()) {
            continue;
        }
        let mut h = e.header().clone();
        let mut body = Vec::new();
        e.read_to_end(&mut body).unwrap();
        out.append_data(&mut h, &path, body.as_slice()).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn save_of_an_image_whose_compressed_blob_is_gone_is_a_consistent_archive() {
    const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    // Two pulled images with gzip layers: a runnable busybox, whose blob is then deleted from
    // the store, and a small one whose blob stays.
    let rootfs = berth_e2e::image::busybox_rootfs_tar();
    let lost = with_cmd(&fake_image_of(host_arch(), gzip(&rootfs), Some(&sha256(&rootfs)), OCI_CONFIG, GZ), "/bin/sh", GZ);
    let small = layer_tar("hello.txt", b"kept blob\n");
    let kept = fake_image_of(host_arch(), gzip(&small), Some(&sha256(&small)), OCI_CONFIG, GZ);
    let mut files = image_files("team/lost", "v1", &lost, OCI_MANIFEST);
    files.extend(image_files("team/kept", "v2", &kept, OCI_MANIFEST));
    let fake = FakeRegistry::start(static_registry(files));
    let d = Daemon::start();
    let (img_lost, img_kept) = (format!("{}/team/lost:v1", fake.host()), format!("{}/team/kept:v2", fake.host()));
    d.ok(Client::Docker, &["pull", &img_lost]);
    d.ok(Client::Berth, &["pull", &img_kept]);
    let gone = data(&d).join("content/sha256").join(lost.layer_digest.trim_start_matches("sha256:"));
    std::fs::remove_file(&gone).unwrap();

    for client in [Client::Docker, Client::Berth] {
        let archive = d.dir.join(format!("saved-{client:?}.tar"));
        d.ok(client, &["save", "-o", archive.to_str().unwrap(), &img_lost, &img_kept]);
        let bytes = std::fs::read(&archive).unwrap();
        let manifests = check_saved_layout(&bytes);
        assert_eq!(manifests.len(), 2, "{manifests:?}");
        // The kept image goes under its own manifest; the other under one naming the tar that
        // was written instead of the gone blob (the same diff id, so the same image).
        assert_eq!(manifests[1].0, kept.manifest_digest);
        assert_ne!(manifests[0].0, lost.manifest_digest);
        assert_eq!(manifests[0].1["layers"][0]["digest"].as_str().unwrap(), sha256(&rootfs));
        assert_eq!(manifests[0].1["config"]["digest"].as_str().unwrap(), lost.config_digest);

        // skopeo reads the layout and copies every blob out, verifying each digest.
        let oci = format!("oci-archive:{}:v1", archive.display());
        let inspect: serde_json::Value = serde_json::from_str(&skopeo(&["inspect", &oci])).unwrap();
        assert_eq!(inspect["Digest"].as_str().unwrap(), manifests[0].0, "{inspect}");
        let out_dir = d.dir.join(format!("copied-{client:?}"));
        skopeo(&["copy", &oci, &format!("dir:{}", out_dir.display())]);

        // A second daemon loads it, from the docker-archive index and from the OCI one alone.
        let other = Daemon::start();
        let out = other.ok(client, &["load", "-i", archive.to_str().unwrap()]);
        assert!(out.contains(&format!("Loaded image: {img_lost}")) && out.contains(&format!("Loaded image: {img_kept}")), "{out}");
        assert_eq!(other.ok(client, &["image", "inspect", "-f", "{{.Id}}", &img_lost]).trim(), lost.config_digest);
        assert_eq!(other.ok(client, &["image", "inspect", "-f", "{{.Id}}", &img_kept]).trim(), kept.config_digest);
        assert_eq!(other.ok(client, &["run", "--rm", &img_lost, "echo", "saved"]), "saved\n");
        other.ok(client, &["rmi", &img_lost, &img_kept]);
        let oci_only = archive_without(&bytes, &["manifest.json", "repositories"]);
        let out = match client {
            Client::Docker => other.docker_stdin(&["load"], &oci_only),
            Client::Berth => other.berth_stdin(&["load"], &oci_only),
        };
        assert!(out.status.success(), "{}", combined(&out));
        assert_eq!(other.ok(client, &["image", "inspect", "-f", "{{.Id}}", &img_lost]).trim(), lost.config_digest);
        assert_eq!(other.ok(client, &["run", "--rm", &img_lost, "echo", "again"]), "again\n");
        other.assert_no_leaks_after_cleanup();
    }
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn layers_without_split_records_push_when_archiving_them_again_is_faithful_and_fail_clearly_otherwise() {
    const GZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    let rootfs = berth_e2e::image::busybox_rootfs_tar();
    let base = with_cmd(&fake_image_of(host_arch(), gzip(&rootfs), Some(&sha256(&rootfs)), OCI_CONFIG, GZ), "/bin/sh", GZ);
    let fake = FakeRegistry::start(static_registry(image_files("team/base", "v1", &base, OCI_MANIFEST)));
    let d = Daemon::start();
    let img_base = format!("{}/team/base:v1", fake.host());
    d.ok(Client::Docker, &["pull", &img_base]);
    d.ok(Client::Docker, &["run", "--name", "work", &img_base, "sh", "-c", "mkdir -p /srv && echo committed > /srv/f"]);
    d.ok(Client::Docker, &["commit", "work", "local/app:v1"]);
    d.ok(Client::Docker, &["rm", "work"]);
    let layers: serde_json::Value =
        serde_json::from_str(&d.ok(Client::Docker, &["image", "inspect", "-f", "{{json .RootFS.Layers}}", "local/app:v1"])).unwrap();
    let top = layers[1].as_str().unwrap().to_string();
    // As left by a berth from before split records: no record for either layer, no blob for
    // the committed one (built layers keep none).
    let layer_dirs = data(&d).join("layers");
    let chain_of_top = sha256(format!("{} {top}", sha256(&rootfs)).as_bytes());
    for chain in [sha256(&rootfs), chain_of_top] {
        std::fs::remove_file(layer_dirs.join(chain.trim_start_matches("sha256:")).join("tar-split")).unwrap();
    }
    let content = data(&d).join("content/sha256");
    assert!(!content.join(top.trim_start_matches("sha256:")).exists());

    // The committed layer was archived by berth from a tree: archived again it is the same tar.
    let reg = RegistryProcess::berth(None);
    let pushed = format!("{}/team/app:v1", reg.host());
    d.ok(Client::Docker, &["tag", "local/app:v1", &pushed]);
    let out = d.ok(Client::Docker, &["push", &pushed]);
    assert!(out.contains("Pushed"), "{out}");
    let head = curl_head(&format!("http://{}/v2/team/app/blobs/{top}", reg.host()), None);
    assert!(head.starts_with("http/1.1 200"), "{head}");

    // The pulled layer's blob gone too: its tar cannot be given back faithfully; push and save
    // say which layer and what to do, and push nothing under that tag.
    std::fs::remove_file(content.join(base.layer_digest.trim_start_matches("sha256:"))).unwrap();
    let broken = format!("{}/team/broken:v1", reg.host());
    d.ok(Client::Docker, &["tag", "local/app:v1", &broken]);
    let err = fails(&d, Client::Docker, &["push", &broken]);
    assert!(err.contains(&sha256(&rootfs)) && err.contains("pull or load its image again"), "{err}");
    let head = curl_head(&format!("http://{}/v2/team/broken/manifests/v1", reg.host()), None);
    assert!(head.starts_with("http/1.1 404"), "{head}");
    let err = fails(&d, Client::Berth, &["save", "-o", d.dir.join("broken.tar").to_str().unwrap(), "local/app:v1"]);
    assert!(err.contains(&sha256(&rootfs)), "{err}");
    d.assert_no_leaks_after_cleanup();
}
