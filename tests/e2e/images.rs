//! Images through the real clients: import (file, stdin, --change), tag, inspect, history,
//! images filters, rmi rules, prune.

use berth_e2e::{stderr, stdout, Client, Daemon};

use berth_e2e::both_clients;

both_clients!(import_tag_inspect_history, rmi_rules_and_prune);

fn import_tag_inspect_history(d: &Daemon, c: Client) {
    let id = d.busybox(c, "busybox");
    assert!(id.starts_with("sha256:"), "{id}");
    // Import from stdin with changes.
    let tar = berth_e2e::image::busybox_rootfs_tar();
    let args =
        ["import", "-c", "CMD [\"echo\", \"from-cmd\"]", "-c", "ENV GREETING=hello", "-c", "WORKDIR /srv", "-m", "imported for test", "-", "tools/app:1.0"];
    let out = match c {
        Client::Docker => d.docker_stdin(&args, &tar),
        Client::Berth => d.berth_stdin(&args, &tar),
    };
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(d.ok(c, &["run", "--rm", "tools/app:1.0"]), "from-cmd\n");
    assert_eq!(d.ok(c, &["run", "--rm", "tools/app:1.0", "sh", "-c", "echo $GREETING $(pwd)"]), "hello /srv\n");
    // Same content, same layer: one image id for the same config is stable; tags add names.
    d.ok(c, &["tag", "busybox", "localhost:5000/team/busybox:v1"]);
    let images = d.ok(c, &["images"]);
    assert!(images.contains("localhost:5000/team/busybox") && images.contains("v1"), "{images}");
    assert!(images.contains("tools/app") && images.contains("1.0"), "{images}");
    let ids = d.ok(c, &["images", "-q"]);
    assert_eq!(ids.lines().count(), 3, "{ids}");
    let inspect: serde_json::Value = serde_json::from_str(&d.ok(c, &["image", "inspect", "tools/app:1.0"])).unwrap();
    assert_eq!(inspect[0]["Config"]["WorkingDir"], "/srv");
    assert_eq!(inspect[0]["Comment"], "imported for test");
    assert_eq!(inspect[0]["RootFS"]["Layers"].as_array().map(|l| l.len()), Some(1));
    assert_eq!(inspect[0]["Os"], "linux");
    let history = d.ok(c, &["history", "tools/app:1.0"]);
    assert!(history.contains("imported for test"), "{history}");
    let filtered = d.ok(c, &["images", "--filter", "reference=tools/*", "-q"]);
    assert_eq!(filtered.lines().count(), 1, "{filtered}");
    let out = d.run(c, &["import", "-c", "RUN echo no", "/dev/null"]);
    assert!(!out.status.success());
    let out = d.run(c, &["image", "inspect", "nosuch"]);
    assert!(!out.status.success());
}

fn rmi_rules_and_prune(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["tag", "busybox", "second:tag"]);
    let out = d.ok(c, &["rmi", "second:tag"]);
    assert!(out.contains("Untagged: second:tag"), "{out}");
    d.ok(c, &["create", "--name", "user", "busybox", "true"]);
    let out = d.run(c, &["rmi", "busybox"]);
    assert!(!out.status.success(), "an image in use must not be removed");
    assert!(stderr(&out).contains("is using its referenced image"), "{}", stderr(&out));
    d.ok(c, &["rm", "user"]);
    let out = d.ok(c, &["rmi", "busybox"]);
    assert!(out.contains("Untagged: busybox:latest") && out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(d.ok(c, &["images", "-q"]), "");
    let layers = std::fs::read_dir(d.dir.join("data/layers")).map(|r| r.count()).unwrap_or(0);
    assert_eq!(layers, 0, "unreferenced layers must be removed with the last image");
    // Prune: an untagged image goes, a tagged one stays unless -a.
    d.busybox(c, "keep");
    let tar = berth_e2e::image::busybox_rootfs_tar();
    let out = match c {
        Client::Docker => d.docker_stdin(&["import", "-c", "LABEL x=1", "-"], &tar),
        Client::Berth => d.berth_stdin(&["import", "-c", "LABEL x=1", "-"], &tar),
    };
    assert!(out.status.success());
    assert_eq!(d.ok(c, &["images", "-q"]).lines().count(), 2);
    d.ok(c, &["image", "prune", "-f"]);
    assert_eq!(d.ok(c, &["images", "-q"]).lines().count(), 1);
    d.ok(c, &["image", "prune", "-a", "-f"]);
    assert_eq!(stdout(&d.run(c, &["images", "-q"])), "");
}
