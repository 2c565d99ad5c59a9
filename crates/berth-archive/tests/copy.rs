//! `berth_archive::copy` against hostile container trees: symlinks to `/`, to host paths, with
//! `..` climbs, chains and loops must all resolve inside the root, and listing a tree must
//! never follow a link. The sandbox's sentinel (outside the root) is what an escape would see.

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::symlink;
use std::path::Path;

use berth_archive::copy::{list_tree, lstat_in_root, open_dir_in_root, resolve_in_root, FileKind};
use common::Sandbox;

fn tree(sb: &Sandbox) {
    let r = &sb.root;
    std::fs::create_dir_all(r.join("etc")).unwrap();
    std::fs::write(r.join("etc/passwd"), b"root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::create_dir_all(r.join("data/sub")).unwrap();
    std::fs::write(r.join("data/sub/f"), b"12345").unwrap();
    symlink("/", r.join("slash")).unwrap();
    symlink("/etc", r.join("etc-abs")).unwrap();
    symlink("../../../../../..", r.join("data/up")).unwrap();
    symlink("../outside", r.join("rel-out")).unwrap();
    symlink("loop-b", r.join("loop-a")).unwrap();
    symlink("loop-a", r.join("loop-b")).unwrap();
    symlink("/data/sub", r.join("chain1")).unwrap();
    symlink("chain1/f", r.join("chain2")).unwrap();
}

#[test]
fn stat_resolves_parents_inside_the_root_and_never_follows_the_last() {
    let sb = Sandbox::new();
    tree(&sb);
    // /etc-abs -> /etc is the container's /etc, never the host's.
    let p = lstat_in_root(&sb.root, "/etc-abs/passwd").unwrap();
    assert_eq!((p.kind, p.size), (FileKind::File, 26));
    // The host's /etc has files the container lacks: they are not found through the link.
    let e = lstat_in_root(&sb.root, "/etc-abs/os-release").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    // `..` climbs stop at the root.
    assert_eq!(lstat_in_root(&sb.root, "/data/up/etc/passwd").unwrap().size, 26);
    assert_eq!(lstat_in_root(&sb.root, "/../../etc/passwd").unwrap().size, 26);
    assert!(lstat_in_root(&sb.root, "/rel-out/sentinel").is_err(), "../outside is the root's /outside");
    assert!(lstat_in_root(&sb.root, "/slash/outside/sentinel").is_err());
    // The final component is reported, not followed.
    let l = lstat_in_root(&sb.root, "/etc-abs").unwrap();
    assert_eq!((l.kind, l.link.as_deref()), (FileKind::Symlink, Some(Path::new("/etc"))));
    assert_eq!(lstat_in_root(&sb.root, "/").unwrap().kind, FileKind::Dir);
    assert!(lstat_in_root(&sb.root, "/loop-a/x").is_err());
    sb.assert_host_unchanged();
}

#[test]
fn resolution_is_realpath_inside_the_root() {
    let sb = Sandbox::new();
    tree(&sb);
    assert_eq!(resolve_in_root(&sb.root, "/etc-abs/passwd").unwrap(), "/etc/passwd");
    assert_eq!(resolve_in_root(&sb.root, "/chain2").unwrap(), "/data/sub/f");
    assert_eq!(resolve_in_root(&sb.root, "/data/up").unwrap(), "/");
    assert_eq!(resolve_in_root(&sb.root, "/rel-out").unwrap(), "/outside");
    assert_eq!(resolve_in_root(&sb.root, "/slash/etc/../data").unwrap(), "/data");
    assert_eq!(resolve_in_root(&sb.root, "/data/new-file").unwrap(), "/data/new-file");
    assert_eq!(resolve_in_root(&sb.root, "/no/such/../dir").unwrap(), "/no/dir");
    symlink(sb.outside.join("sentinel"), sb.root.join("to-host")).unwrap();
    let host = sb.outside.join("sentinel").display().to_string();
    assert_eq!(resolve_in_root(&sb.root, "/to-host").unwrap(), host, "a host path names a path in the root");
    let e = resolve_in_root(&sb.root, "/loop-a").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
    sb.assert_host_unchanged();
}

#[test]
fn directories_open_inside_the_root_and_are_never_created() {
    let sb = Sandbox::new();
    tree(&sb);
    for (path, expect) in [("/etc-abs", "etc"), ("/slash", "root"), ("/data/up", "root"), ("/chain1", "sub")] {
        let fd = open_dir_in_root(&sb.root, path).unwrap();
        let target = std::fs::read_link(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd))).unwrap();
        assert!(target.starts_with(&sb.root), "{path} opened {}", target.display());
        assert_eq!(target.file_name().unwrap(), expect, "{path}");
    }
    assert_eq!(open_dir_in_root(&sb.root, "/rel-out").unwrap_err().kind(), std::io::ErrorKind::NotFound);
    assert!(!sb.root.join("outside").exists(), "nothing is created");
    assert_eq!(open_dir_in_root(&sb.root, "/etc/passwd").unwrap_err().raw_os_error(), Some(libc::ENOTDIR));
    sb.assert_host_unchanged();
}

#[test]
fn listing_never_follows_links() {
    let sb = Sandbox::new();
    tree(&sb);
    let entries = list_tree(&sb.root).unwrap();
    let names: Vec<String> = entries.iter().map(|e| e.rel.display().to_string()).collect();
    assert!(names.contains(&"data/sub/f".to_string()));
    assert!(!names.iter().any(|n| n.contains("sentinel") || n.starts_with("slash/")), "{names:?}");
    let slash = entries.iter().find(|e| e.rel == Path::new("slash")).unwrap();
    assert_eq!(slash.kind, FileKind::Symlink);
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap();
    assert!(pos("data") < pos("data/sub") && pos("data/sub") < pos("data/sub/f"));
    sb.assert_host_unchanged();
}
