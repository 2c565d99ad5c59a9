//! `cp` both ways, running and stopped containers, volumes, and hostile symlinks; `diff`.

use std::path::Path;
use std::time::Duration;

use berth_e2e::{stderr, stdout, wait_until, Client, Daemon};

fn sh(d: &Daemon, c: Client, name: &str, script: &str) -> String {
    d.ok(c, &["exec", name, "sh", "-c", script])
}

/// A local tree: text, 200 KB of binary, a nested dir, an empty dir, a relative symlink.
fn local_tree(root: &Path) {
    std::fs::create_dir_all(root.join("sub/deep")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("a.txt"), b"alpha\n").unwrap();
    let bin: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(root.join("sub/b.bin"), &bin).unwrap();
    std::fs::write(root.join("sub/deep/c"), b"gamma").unwrap();
    std::os::unix::fs::symlink("../a.txt", root.join("sub/link")).unwrap();
}

fn assert_same_tree(a: &Path, b: &Path) {
    for rel in ["a.txt", "sub/b.bin", "sub/deep/c"] {
        assert_eq!(std::fs::read(a.join(rel)).unwrap(), std::fs::read(b.join(rel)).unwrap(), "{rel}");
    }
    assert_eq!(std::fs::read_link(b.join("sub/link")).unwrap(), Path::new("../a.txt"));
    assert!(b.join("empty").is_dir());
}

pub fn cp_round_trips_a_tree(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["run", "-d", "--name", "box", "-v", "vol:/vol", "busybox", "sleep", "1000"]);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    local_tree(&src);
    let src_s = src.to_str().unwrap();
    // Into a new path (renamed), and into an existing directory.
    d.ok(c, &["cp", src_s, "box:/data"]);
    d.ok(c, &["cp", src_s, "box:/tmp/"]);
    assert_eq!(sh(d, c, "box", "cat /data/a.txt /tmp/src/sub/deep/c"), "alpha\ngamma");
    // A tar on stdin (`cp - box:dir`), as the README's table says.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    b.append_data(&mut h, "from-stdin.txt", &b"piped\n"[..]).unwrap();
    let tar = b.into_inner().unwrap();
    let out = match c {
        Client::Docker => d.docker_stdin(&["cp", "-", "box:/tmp"], &tar),
        Client::Berth => d.berth_stdin(&["cp", "-", "box:/tmp"], &tar),
    };
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(sh(d, c, "box", "cat /tmp/from-stdin.txt"), "piped\n");
    assert_eq!(sh(d, c, "box", "readlink /data/sub/link; wc -c < /data/sub/b.bin").split_whitespace().collect::<Vec<_>>(), vec!["../a.txt", "200000"]);
    // And back out.
    let out = work.path().join("out");
    d.ok(c, &["cp", "box:/data", out.to_str().unwrap()]);
    assert_same_tree(&src, &out);
    d.ok(c, &["cp", "box:/data/sub/b.bin", work.path().join("b.copy").to_str().unwrap()]);
    assert_eq!(std::fs::read(work.path().join("b.copy")).unwrap(), std::fs::read(src.join("sub/b.bin")).unwrap());
    // Contents of a directory (`dir/.`) into a new directory.
    let dot = work.path().join("dot");
    d.ok(c, &["cp", "box:/data/.", dot.to_str().unwrap()]);
    assert_same_tree(&src, &dot);
    // The runtime's files and volumes are the container's.
    let hosts = work.path().join("hosts");
    d.ok(c, &["cp", "box:/etc/hosts", hosts.to_str().unwrap()]);
    assert!(std::fs::read_to_string(&hosts).unwrap().contains("localhost"));
    d.ok(c, &["cp", src.join("a.txt").to_str().unwrap(), "box:/vol/in-volume"]);
    assert_eq!(sh(d, c, "box", "cat /vol/in-volume"), "alpha\n");
    // A stopped container: its root filesystem is mounted for the copy.
    d.ok(c, &["stop", "-t", "0", "box"]);
    d.ok(c, &["cp", src.join("sub/deep/c").to_str().unwrap(), "box:/while-stopped"]);
    let back = work.path().join("back.txt");
    d.ok(c, &["cp", "box:/data/a.txt", back.to_str().unwrap()]);
    assert_eq!(std::fs::read(&back).unwrap(), b"alpha\n");
    d.ok(c, &["start", "box"]);
    assert_eq!(sh(d, c, "box", "cat /while-stopped"), "gamma");
    let out = d.run(c, &["cp", "box:/nope", work.path().to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Could not find the file /nope in container box"), "{}", stderr(&out));
    // The stat header: Go mode bits, size, name.
    let r = d.api("HEAD", "/containers/box/archive?path=/data/sub/link", None);
    assert_eq!(r.status, 200);
    let stat = decode_stat(r.header("X-Docker-Container-Path-Stat").unwrap());
    assert_eq!((stat["name"].as_str(), stat["mode"].as_u64()), (Some("link"), Some((1 << 27) | 0o777)));
    assert_eq!(stat["linkTarget"], "/data/a.txt");
    let stat = decode_stat(d.api("HEAD", "/containers/box/archive?path=/data", None).header("X-Docker-Container-Path-Stat").unwrap());
    assert_eq!(stat["mode"].as_u64().unwrap() & (1 << 31), 1 << 31);
    assert_eq!(d.api("HEAD", "/containers/box/archive?path=/nope", None).status, 404);
}

fn decode_stat(v: &str) -> serde_json::Value {
    let bytes = base64_decode(v);
    serde_json::from_slice(&bytes).unwrap()
}

fn base64_decode(s: &str) -> Vec<u8> {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for b in s.bytes().filter(|b| *b != b'=') {
        let v = A.iter().position(|x| *x == b).unwrap() as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

pub fn cp_never_leaves_the_container(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    // Host files the container must never reach: a secret beside the daemon's dirs.
    let secret = d.dir.join("host-secret.txt");
    std::fs::write(&secret, b"host secret\n").unwrap();
    let token = format!("berth-cp-{}", std::process::id());
    let script = format!(
        "ln -s /etc /evil-etc; ln -s ../../../../../.. /up; ln -s {s} /secret; ln -s {s} /wsecret; ln -s {dir} /hostdir; touch /ready; exec sleep 1000",
        s = secret.display(),
        dir = d.dir.display()
    );
    d.ok(c, &["run", "-d", "--name", "evil", "busybox", "sh", "-c", &script]);
    wait_until("links made", Duration::from_secs(10), || d.run(c, &["exec", "evil", "test", "-f", "/ready"]).status.success());
    let work = tempfile::tempdir().unwrap();
    let marker = work.path().join(&token);
    std::fs::write(&marker, b"marker\n").unwrap();
    let m = marker.to_str().unwrap();
    for round in ["running", "stopped"] {
        // Reads resolve inside the container: the host's files are not found.
        for (path, follow) in [("/evil-etc/os-release", false), ("/secret", true), ("/up/etc/os-release", false)] {
            let flags: &[&str] = if follow { &["cp", "-L"] } else { &["cp"] };
            let out = d.run(c, &[flags, &[&format!("evil:{path}"), work.path().join("got").to_str().unwrap()]].concat());
            assert!(!out.status.success(), "{round}: {path} was copied out: {}", stdout(&out));
            assert!(stderr(&out).contains("Could not find the file"), "{round} {path}: {}", stderr(&out));
            assert!(!work.path().join("got").exists());
        }
        let got = work.path().join(format!("passwd-{round}"));
        d.ok(c, &["cp", "evil:/evil-etc/passwd", got.to_str().unwrap()]);
        assert!(std::fs::read_to_string(&got).unwrap().contains("www-data:x:33"), "the container's passwd, not the host's");
        // Writes land in the container's /etc and /, never the host's.
        d.ok(c, &["cp", m, "evil:/evil-etc/"]);
        d.ok(c, &["cp", m, "evil:/up/"]);
        // Through links to host paths: whatever the client makes of it (the docker CLI
        // creates the link's target inside the container), the host is untouched.
        let _ = d.run(c, &["cp", m, "evil:/hostdir/"]);
        let _ = d.run(c, &["cp", m, "evil:/wsecret"]);
        assert_eq!(std::fs::read(&secret).unwrap(), b"host secret\n");
        assert!(!Path::new("/etc").join(&token).exists() && !Path::new("/").join(&token).exists());
        assert!(!d.dir.join(&token).exists());
        if round == "running" {
            d.ok(c, &["stop", "-t", "0", "evil"]);
        }
    }
    d.ok(c, &["start", "evil"]);
    assert_eq!(sh(d, c, "evil", &format!("cat /etc/{token} /{token}")), "marker\nmarker\n");
    // Whiteout names could delete files through the layer applier: refused.
    let wh = work.path().join(".wh.passwd");
    std::fs::write(&wh, b"").unwrap();
    assert!(!d.run(c, &["cp", wh.to_str().unwrap(), "evil:/etc/"]).status.success());
    assert!(sh(d, c, "evil", "cat /etc/passwd").contains("root"));
}

pub fn diff_lists_changes(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(
        c,
        &[
            "run",
            "--name",
            "ch",
            "-v",
            "/vol",
            "busybox",
            "sh",
            "-c",
            "mkdir -p /newdir && echo x > /newdir/f && echo y >> /etc/passwd && rm /bin/ls && echo z > /vol/ignored",
        ],
    );
    let out = d.ok(c, &["diff", "ch"]);
    let lines: Vec<&str> = out.lines().collect();
    for want in ["A /newdir", "A /newdir/f", "C /etc", "C /etc/passwd", "C /bin", "D /bin/ls"] {
        assert!(lines.contains(&want), "missing {want:?} in:\n{out}");
    }
    for l in &lines {
        assert!(
            !l.contains("/proc") && !l.contains("/sys") && !l.contains("/dev") && !l.contains("/etc/hosts") && !l.contains("/vol"),
            "runtime path reported: {l}\n{out}"
        );
    }
    let r = d.api("GET", "/containers/ch/changes", None).json();
    assert!(r.as_array().unwrap().iter().any(|c| c["Path"] == "/bin/ls" && c["Kind"] == 2));
}

/// An upload cut short (the connection ends before the declared length, right after a whole
/// entry) is a failed copy, not a complete archive: nothing of it is extracted.
pub fn cp_upload_cut_short_extracts_nothing() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    d.busybox(Client::Berth, "busybox");
    d.ok(Client::Berth, &["run", "-d", "--name", "box", "busybox", "sleep", "1000"]);
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    b.append_data(&mut h, "partial.txt", &b"hello"[..]).unwrap();
    let whole = b.into_inner().unwrap();
    let cut = &whole[..whole.len() - 1024]; // without the end-of-archive blocks
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "PUT /containers/box/archive?path=/tmp HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        cut.len() + (1 << 20)
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(cut).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer); // the daemon answers an error, or just closes
    assert!(!String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
    let out = d.run(Client::Berth, &["exec", "box", "test", "-e", "/tmp/partial.txt"]);
    assert!(!out.status.success(), "a cut-short upload was extracted");
    d.ok(Client::Berth, &["rm", "-f", "box"]);
    d.assert_no_leaks_after_cleanup();
}
