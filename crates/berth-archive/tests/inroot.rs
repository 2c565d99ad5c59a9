//! Hostile trees for the in-root helpers the builder uses (`COPY` sources, destinations,
//! upper-dir clean-up): symlinks to `/`, `..` chains, device nodes. Each test checks that the
//! host outside the sandbox root is unchanged and that what was read came from the root.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use berth_archive::inroot::{list_in_root, metadata_in_root, open_dir_in_root, remove_empty_in_root, remove_file_in_root, walk_in_root, EntryKind, WalkEntry};
use common::Sandbox;

fn walk(root: &std::path::Path, path: &str) -> std::io::Result<Vec<WalkEntry>> {
    let mut out = Vec::new();
    walk_in_root(root, path, &mut |e| {
        out.push(e);
        Ok(())
    })?;
    Ok(out)
}

fn names(entries: &[WalkEntry]) -> Vec<String> {
    entries.iter().map(|e| e.rel.display().to_string()).collect()
}

#[test]
fn walk_reports_symlinks_below_the_start_without_following_them() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.root.join("ctx/sub")).expect("mkdir");
    fs::write(sb.root.join("ctx/sub/f"), b"data").expect("write");
    symlink("/etc", sb.root.join("ctx/etc")).expect("symlink");
    symlink("../../../../../../outside", sb.root.join("ctx/up")).expect("symlink");
    let entries = walk(&sb.root, "ctx").expect("walk");
    assert_eq!(names(&entries), ["", "etc", "sub", "sub/f", "up"]);
    assert_eq!(entries[1].kind, EntryKind::Symlink(PathBuf::from("/etc")));
    assert!(entries[1].file.is_none());
    assert_eq!(entries[4].kind, EntryKind::Symlink(PathBuf::from("../../../../../../outside")));
    let mut data = String::new();
    let mut f = entries[3].file.as_ref().expect("file open");
    std::io::Read::read_to_string(&mut f, &mut data).expect("read");
    assert_eq!(data, "data");
    sb.assert_host_unchanged();
}

#[test]
fn a_named_start_that_is_a_symlink_resolves_inside_the_root() {
    let sb = Sandbox::new();
    fs::write(sb.root.join(&sb.token), b"in root").expect("write");
    symlink("/", sb.root.join("slash")).expect("symlink");
    symlink("../../../../..", sb.root.join("dotdot")).expect("symlink");
    symlink("/etc/passwd", sb.root.join("passwd")).expect("symlink");
    for start in ["slash", "dotdot", "slash/dotdot/slash"] {
        let entries = walk(&sb.root, start).expect(start);
        let found = names(&entries);
        assert!(found.contains(&sb.token), "{start}: {found:?}");
        assert!(!found.iter().any(|n| n == "outside" || n == "bin"), "{start} left the root: {found:?}");
    }
    // /etc/passwd inside the root does not exist: the host's must not be read.
    let err = walk(&sb.root, "passwd").expect_err("host passwd");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    assert!(walk(&sb.root, "../outside").is_err(), "a relative path climbing out is refused");
    sb.assert_host_unchanged();
}

#[test]
fn device_nodes_and_fifos_are_reported_never_opened() {
    let sb = Sandbox::new();
    fs::create_dir(sb.root.join("d")).expect("mkdir");
    // A node for the host's /dev/zero: opening it would "work", so only the walk's rule
    // (open regular files only) keeps it closed.
    nix::sys::stat::mknod(
        &sb.root.join("d/zero"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 5),
    )
    .expect("mknod");
    nix::unistd::mkfifo(&sb.root.join("d/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o644)).expect("mkfifo");
    let entries = walk(&sb.root, "d").expect("walk");
    assert_eq!(names(&entries), ["", "fifo", "zero"]);
    for e in &entries[1..] {
        assert_eq!(e.kind, EntryKind::Other);
        assert!(e.file.is_none());
    }
    let named = walk(&sb.root, "d/fifo").expect("named fifo");
    assert_eq!(named[0].kind, EntryKind::Other, "a named fifo is not opened either (it would block)");
    sb.assert_host_unchanged();
}

#[test]
fn metadata_and_listing_stay_in_the_root() {
    let sb = Sandbox::new();
    fs::create_dir(sb.root.join("realdir")).expect("mkdir");
    symlink("/", sb.root.join("slash")).expect("symlink");
    symlink("/etc", sb.root.join("hostetc")).expect("symlink");
    assert!(metadata_in_root(&sb.root, "slash").expect("stat").is_dir());
    let err = metadata_in_root(&sb.root, "hostetc/passwd").expect_err("host file");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    let listed = list_in_root(&sb.root, "slash").expect("list");
    let listed: Vec<(String, bool)> = listed.into_iter().map(|(n, d)| (n.display().to_string(), d)).collect();
    assert_eq!(listed, [("hostetc".to_string(), false), ("realdir".to_string(), true), ("slash".to_string(), false)]);
    sb.assert_host_unchanged();
}

#[test]
fn destination_dirs_through_symlinked_parents_are_made_inside() {
    let sb = Sandbox::new();
    symlink("/", sb.root.join("slash")).expect("symlink");
    symlink("../../../../..", sb.root.join("up")).expect("symlink");
    let name = format!("slash/up/{}/deeper", sb.token);
    let fd = open_dir_in_root(&sb.root, &name).expect("open dir");
    assert!(sb.root.join(&sb.token).join("deeper").is_dir());
    // The fd names the directory inside the root: a file created through it lands there.
    let via = PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)));
    fs::write(via.join("f"), b"x").expect("write through fd");
    assert_eq!(fs::read(sb.root.join(&sb.token).join("deeper/f")).expect("read"), b"x");
    sb.assert_host_unchanged();
}

#[test]
fn removing_empty_entries_never_follows_or_leaves_the_root() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.root.join("etc")).expect("mkdir");
    fs::write(sb.root.join("etc/hosts"), b"").expect("write");
    fs::write(sb.root.join("etc/resolv.conf"), b"nameserver 1.1.1.1\n").expect("write");
    fs::create_dir(sb.root.join("proc")).expect("mkdir");
    fs::create_dir_all(sb.root.join("sys/kernel")).expect("mkdir");
    fs::write(sb.root.join("empty"), b"").expect("write");
    symlink("empty", sb.root.join("link")).expect("symlink");
    symlink("/", sb.root.join("slash")).expect("symlink");
    fs::write(sb.outside.join("empty-outside"), b"").expect("write outside");
    assert!(remove_empty_in_root(&sb.root, "etc/hosts").expect("hosts"));
    assert!(!sb.root.join("etc/hosts").exists());
    assert!(!remove_empty_in_root(&sb.root, "etc/resolv.conf").expect("resolv"), "non-empty files stay");
    assert!(remove_empty_in_root(&sb.root, "proc").expect("proc"));
    assert!(!remove_empty_in_root(&sb.root, "sys").expect("sys"), "non-empty dirs stay");
    assert!(!remove_empty_in_root(&sb.root, "link").expect("link"), "a final symlink is not followed");
    assert!(sb.root.join("empty").exists());
    assert!(!remove_empty_in_root(&sb.root, "nope/nothing").expect("missing"));
    // Through a symlink to `/`: resolves to the root's own (missing) outside dir.
    assert!(!remove_empty_in_root(&sb.root, "slash/outside/empty-outside").expect("escape"));
    assert!(sb.outside.join("empty-outside").exists());
    assert!(remove_empty_in_root(&sb.root, "../x").is_err(), "relative climbs are refused");
}

#[test]
fn removing_a_file_removes_a_final_symlink_never_its_target() {
    let sb = Sandbox::new();
    fs::write(sb.root.join("Dockerfile"), b"FROM scratch\n").expect("write");
    symlink(sb.outside.join("sentinel"), sb.root.join("link")).expect("symlink");
    symlink("/", sb.root.join("slash")).expect("symlink");
    fs::create_dir(sb.root.join("dir")).expect("mkdir");
    assert!(remove_file_in_root(&sb.root, "link").expect("link"));
    assert!(sb.outside.join("sentinel").exists(), "the target stays");
    assert!(!remove_file_in_root(&sb.root, "slash/outside/sentinel").expect("through /"));
    assert!(!remove_file_in_root(&sb.root, "dir").expect("dir"), "directories stay");
    assert!(remove_file_in_root(&sb.root, "slash/Dockerfile").expect("in root through /"));
    assert!(!sb.root.join("Dockerfile").exists());
    assert!(remove_file_in_root(&sb.root, "../../outside/sentinel").is_err());
    sb.assert_host_unchanged();
}
