//! Images as archives and from containers: save/load round trips (both formats, both
//! clients), export, commit (with changes and deletions).

#![allow(clippy::unwrap_used)]

use berth_e2e::{stderr, stdout, Client, Daemon};

use berth_e2e::both_clients;

both_clients!(save_load_round_trip, commit_and_export);

fn tar_names(data: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(data);
    ar.entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
}

fn save_load_round_trip(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["tag", "busybox", "app/one:1"]);
    let id = d.ok(c, &["image", "inspect", "-f", "{{.Id}}", "busybox"]).trim().to_string();
    let archive = d.dir.join("images.tar");
    d.ok(c, &["save", "-o", archive.to_str().unwrap(), "busybox", "app/one:1"]);
    let data = std::fs::read(&archive).unwrap();
    let names = tar_names(&data);
    for wanted in ["oci-layout", "index.json", "manifest.json", "repositories"] {
        assert!(names.iter().any(|n| n == wanted), "{wanted} missing from {names:?}");
    }
    // The legacy index lists both tags for the one image.
    let mut ar = tar::Archive::new(data.as_slice());
    let manifest: serde_json::Value = ar
        .entries()
        .unwrap()
        .map(|e| e.unwrap())
        .find(|e| e.path().unwrap().to_str() == Some("manifest.json"))
        .map(|mut e| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).unwrap();
            serde_json::from_str(&s).unwrap()
        })
        .unwrap();
    let tags: Vec<&str> = manifest[0]["RepoTags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tags.contains(&"busybox:latest") && tags.contains(&"app/one:1"), "{tags:?}");
    d.ok(c, &["rmi", "busybox", "app/one:1"]);
    assert_eq!(d.ok(c, &["images", "-q"]), "");
    let out = d.ok(c, &["load", "-i", archive.to_str().unwrap()]);
    assert!(out.contains("Loaded image: busybox:latest") && out.contains("Loaded image: app/one:1"), "{out}");
    assert_eq!(d.ok(c, &["image", "inspect", "-f", "{{.Id}}", "app/one:1"]).trim(), id);
    assert_eq!(d.ok(c, &["run", "--rm", "app/one:1", "echo", "loaded"]), "loaded\n");
    // Loading through stdin, an image saved by id (no tags) reports its id.
    let by_id = d.dir.join("by-id.tar");
    d.ok(c, &["save", "-o", by_id.to_str().unwrap(), &id]);
    d.ok(c, &["rmi", "-f", "busybox", "app/one:1"]);
    let bytes = std::fs::read(&by_id).unwrap();
    let out = match c {
        Client::Docker => d.docker_stdin(&["load"], &bytes),
        Client::Berth => d.berth_stdin(&["load"], &bytes),
    };
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("busybox:latest") || text.contains(&id), "{text}");
    // Garbage is refused and changes nothing.
    let junk = d.dir.join("junk.tar");
    std::fs::write(&junk, vec![7u8; 10_000]).unwrap();
    let out = d.run(c, &["load", "-i", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(d.api("GET", "/_ping", None).status, 200);
}

fn commit_and_export(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["run", "--name", "work", "-e", "KEEP=1", "busybox", "sh", "-c", "echo made > /made && rm /bin/vi && mkdir -p /data/sub && echo x > /data/sub/f"]);
    let id = d.ok(c, &["commit", "-c", "CMD [\"cat\", \"/made\"]", "-m", "saved work", "work", "snap:1"]).trim().to_string();
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(d.ok(c, &["run", "--rm", "snap:1"]), "made\n");
    assert_eq!(
        d.ok(c, &["run", "--rm", "snap:1", "sh", "-c", "echo $KEEP; ls /bin/vi 2>&1 || echo gone"]),
        "1\nls: /bin/vi: No such file or directory\ngone\n"
    );
    let history = d.ok(c, &["history", "snap:1"]);
    assert!(history.contains("saved work"), "{history}");
    let layers: serde_json::Value = serde_json::from_str(&d.ok(c, &["image", "inspect", "snap:1"])).unwrap();
    assert_eq!(layers[0]["RootFS"]["Layers"].as_array().map(|l| l.len()), Some(2));
    assert_eq!(layers[0]["Parent"].as_str().map(|p| p.starts_with("sha256:")), Some(true));
    // Export a stopped container: its whole filesystem, changes applied.
    let out = d.dir.join("export.tar");
    d.ok(c, &["export", "-o", out.to_str().unwrap(), "work"]);
    let names = tar_names(&std::fs::read(&out).unwrap());
    assert!(names.iter().any(|n| n == "made"), "exported tar lacks /made");
    assert!(names.iter().any(|n| n == "data/sub/f"));
    assert!(!names.iter().any(|n| n == "bin/vi"), "a deleted file must not be exported");
    assert!(names.iter().any(|n| n == "bin/busybox"));
    // The export imports back as a runnable image.
    d.ok(c, &["import", out.to_str().unwrap(), "reimported"]);
    assert_eq!(d.ok(c, &["run", "--rm", "reimported", "cat", "/made"]), "made\n");
    // Commit of a running container (paused while committing) and of an unknown one.
    d.ok(c, &["run", "-d", "--name", "live", "busybox", "sh", "-c", "echo live > /l; sleep 1000"]);
    berth_e2e::wait_until("file written", std::time::Duration::from_secs(10), || d.run(c, &["exec", "live", "cat", "/l"]).status.success());
    d.ok(c, &["commit", "live", "snap:live"]);
    assert_eq!(d.ok(c, &["inspect", "-f", "{{.State.Status}}", "live"]).trim(), "running");
    assert_eq!(d.ok(c, &["run", "--rm", "--entrypoint", "cat", "snap:live", "/l"]), "live\n");
    assert!(!d.run(c, &["commit", "nosuch"]).status.success());
    d.ok(c, &["rm", "-f", "live", "work"]);
}

#[test]
fn loads_legacy_and_oci_only_archives() {
    let d = Daemon::start();
    d.busybox(Client::Docker, "busybox");
    let full = d.dir.join("full.tar");
    d.ok(Client::Docker, &["save", "-o", full.to_str().unwrap(), "busybox"]);
    let data = std::fs::read(&full).unwrap();
    // Rebuild the archive twice: once without the OCI index (legacy readers' view), once
    // without manifest.json (a pure OCI layout); both must load.
    for drop in ["index.json", "manifest.json"] {
        let mut out = tar::Builder::new(Vec::new());
        let mut ar = tar::Archive::new(data.as_slice());
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            if path == drop || (drop == "manifest.json" && path == "repositories") {
                continue;
            }
            let mut h = e.header().clone();
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut body).unwrap();
            out.append_data(&mut h, &path, body.as_slice()).unwrap();
        }
        let bytes = out.into_inner().unwrap();
        d.ok(Client::Docker, &["rmi", "-f", "busybox"]);
        let out = d.docker_stdin(&["load"], &bytes);
        assert!(out.status.success(), "without {drop}: {}", stderr(&out));
        assert!(stdout(&out).contains("Loaded image: busybox:latest"), "without {drop}: {}", stdout(&out));
        assert_eq!(d.ok(Client::Docker, &["run", "--rm", "busybox", "echo", "ok"]), "ok\n");
    }
    d.assert_no_leaks_after_cleanup();
}

#[test]
fn save_of_a_layer_changed_on_disk_fails_instead_of_writing_a_short_archive() {
    let d = Daemon::start();
    d.busybox(Client::Berth, "busybox");
    let layers: serde_json::Value = serde_json::from_str(&d.ok(Client::Berth, &["image", "inspect", "-f", "{{json .RootFS.Layers}}", "busybox"])).unwrap();
    let chain = layers[0].as_str().unwrap().trim_start_matches("sha256:").to_string();
    // The layer's tree no longer gives back the tar its diff id names: found while streaming,
    // after the archive has started.
    let diff = d.dir.join("data/layers").join(&chain).join("diff");
    let passwd = diff.join("etc/passwd");
    let mut text = std::fs::read(&passwd).unwrap();
    text[0] ^= 0x20;
    std::fs::write(&passwd, text).unwrap();
    for c in [Client::Docker, Client::Berth] {
        let out = d.run(c, &["save", "-o", d.dir.join("short.tar").to_str().unwrap(), "busybox"]);
        assert!(!out.status.success(), "{c:?}: save -o of a stream that failed exited 0");
        let out = d.run(c, &["save", "busybox"]);
        assert!(!out.status.success(), "{c:?}: save to stdout of a stream that failed exited 0");
    }
    d.assert_no_leaks_after_cleanup();
}
