//! Hostile layer tars: each test builds a tar in memory, applies it, and
//! checks that nothing outside the root changed (a sentinel dir next to the
//! root, /etc/passwd's hash and mtime, no token-named file in /, /tmp, /etc)
//! and that the root holds what Docker would produce, or that we failed with
//! a clear error.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;

use berth_archive::{apply_layer, ApplyError, ApplyOptions, DigestReader, ErrorKind, WhiteoutMode};
use common::{Sandbox, TarBuf};
use tar::EntryType;

/// Applies in a thread that can write only inside the sandbox (see
/// [`common::confined`]), so a regression cannot damage the host.
fn apply(root: &Path, tar: &[u8], mode: WhiteoutMode) -> Result<berth_archive::ApplyReport, ApplyError> {
    let sandbox = root.parent().expect("sandbox");
    common::confined(sandbox, || apply_layer(root, tar, &ApplyOptions { whiteouts: mode, same_owner: true }))
}

fn apply_overlay(sb: &Sandbox, tar: &TarBuf) -> Result<berth_archive::ApplyReport, ApplyError> {
    apply(&sb.root, &tar.finish(), WhiteoutMode::Overlay)
}

fn read(p: impl AsRef<Path>) -> Vec<u8> {
    fs::read(p).expect("read")
}

#[test]
fn dotdot_entries_are_refused() {
    for name in ["../evil", "../../evil", "a/../../evil", "../outside/sentinel", "./../evil"] {
        let sb = Sandbox::new();
        let mut t = TarBuf::new();
        t.file("ok", b"ok").file(name, b"pwned");
        let err = apply_overlay(&sb, &t).expect_err(name);
        assert!(matches!(err, ApplyError::Breakout { .. }), "{name}: {err}");
        assert!(err.to_string().contains(name), "error names the entry: {err}");
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert_eq!(read(sb.root.join("ok")), b"ok", "what was applied before stays");
        sb.assert_host_unchanged();
    }
}

#[test]
fn absolute_paths_stay_in_the_root() {
    let sb = Sandbox::new();
    let abs = format!("/abs/{}", sb.token);
    let mut t = TarBuf::new();
    t.file(&abs, b"inside").file("/../etc/evil", b"inside too");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(read(sb.root.join("abs").join(&sb.token)), b"inside");
    assert_eq!(read(sb.root.join("etc/evil")), b"inside too");
    sb.assert_host_unchanged();
}

#[test]
fn symlink_to_slash_then_entries_through_it() {
    let sb = Sandbox::new();
    let tmp_evil = format!("x/tmp/{}", sb.token);
    let mut t = TarBuf::new();
    t.symlink("x", "/").file(&tmp_evil, b"pwned").file("x/etc/passwd", b"root::0:0::/:/bin/sh\n");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(fs::read_link(sb.root.join("x")).expect("readlink"), Path::new("/"));
    assert_eq!(read(sb.root.join("tmp").join(&sb.token)), b"pwned");
    assert_eq!(read(sb.root.join("etc/passwd")), b"root::0:0::/:/bin/sh\n");
    sb.assert_host_unchanged();
}

#[test]
fn symlink_dotdot_then_entries_through_it() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.symlink("x", "../../..").file("x/evil", b"pwned").dir("x/d/").file("x/d/f", b"f");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(fs::read_link(sb.root.join("x")).expect("readlink"), Path::new("../../.."));
    assert_eq!(read(sb.root.join("evil")), b"pwned");
    assert_eq!(read(sb.root.join("d/f")), b"f");
    sb.assert_host_unchanged();
}

#[test]
fn symlink_chain_resolves_inside_the_root() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.symlink("a", "b").symlink("b", "/c").symlink("c", "../../../..").file(&format!("a/{}", sb.token), b"pwned");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(read(sb.root.join(&sb.token)), b"pwned");
    sb.assert_host_unchanged();
}

#[test]
fn dangling_symlink_chain_to_the_host_is_an_error() {
    let sb = Sandbox::new();
    let outside = sb.outside.display().to_string();
    let mut t = TarBuf::new();
    t.symlink("l1", "l2").symlink("l2", &outside).file("l1/sentinel", b"pwned");
    let err = apply_overlay(&sb, &t).expect_err("parent is a dangling symlink inside the root");
    assert!(err.to_string().contains("l1/sentinel"), "{err}");
    sb.assert_host_unchanged();
}

#[test]
fn hardlink_to_host_etc_passwd() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.hardlink("h", "/etc/passwd");
    let err = apply_overlay(&sb, &t).expect_err("no etc/passwd in the root");
    assert!(matches!(err, ApplyError::InvalidHardlink { reason: "target does not exist", .. }), "{err}");
    sb.assert_host_unchanged();

    // With an etc/passwd in the layer, the link is to that one.
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.file("etc/passwd", b"layer passwd\n").hardlink("h", "/etc/passwd");
    apply_overlay(&sb, &t).expect("apply");
    let (a, b) = (fs::metadata(sb.root.join("h")).expect("h"), fs::metadata(sb.root.join("etc/passwd")).expect("p"));
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(read(sb.root.join("h")), b"layer passwd\n");
    sb.assert_host_unchanged();
}

#[test]
fn hardlink_with_dotdot_target_is_refused() {
    for target in ["../../etc/passwd", "../outside/sentinel", "a/../../x"] {
        let sb = Sandbox::new();
        let mut t = TarBuf::new();
        t.hardlink("h", target);
        let err = apply_overlay(&sb, &t).expect_err(target);
        assert!(matches!(err, ApplyError::InvalidHardlink { reason: "target escapes the layer root", .. }), "{err}");
        sb.assert_host_unchanged();
        assert_eq!(fs::metadata(sb.outside.join("sentinel")).expect("stat").nlink(), 1);
    }
}

#[test]
fn hardlink_through_symlinked_dir() {
    let outside = |sb: &Sandbox| sb.outside.display().to_string();
    for (link, target) in [("/etc", "d/passwd"), ("", "d/sentinel"), ("../outside", "d/sentinel")] {
        let sb = Sandbox::new();
        let link = if link.is_empty() { outside(&sb) } else { link.to_owned() };
        let mut t = TarBuf::new();
        t.symlink("d", &link).hardlink("h", target);
        let err = apply_overlay(&sb, &t).expect_err(target);
        assert!(matches!(err, ApplyError::InvalidHardlink { .. }), "{err}");
        assert_eq!(fs::metadata(sb.outside.join("sentinel")).expect("stat").nlink(), 1);
        sb.assert_host_unchanged();
    }
    // Through a symlinked dir that resolves inside the root, it works.
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.file("real/f", b"f").symlink("d", "/real").hardlink("h", "d/f");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(fs::metadata(sb.root.join("h")).expect("h").ino(), fs::metadata(sb.root.join("real/f")).expect("f").ino());
    sb.assert_host_unchanged();
}

#[test]
fn hardlink_to_a_directory_or_itself_is_refused() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.dir("d/").hardlink("h", "d");
    let err = apply_overlay(&sb, &t).expect_err("link to dir");
    assert!(matches!(err, ApplyError::InvalidHardlink { reason: "target is a directory", .. }), "{err}");
    let mut t = TarBuf::new();
    t.file("f", b"x").hardlink("f", "./f");
    let err = apply(&sb.root, &t.finish(), WhiteoutMode::Plain).expect_err("link to itself");
    assert!(matches!(err, ApplyError::InvalidHardlink { reason: "target is the entry itself", .. }), "{err}");
    sb.assert_host_unchanged();
}

#[test]
fn device_nodes_are_created_inside_the_root() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.device("dev/null", EntryType::Char, 1, 3).device("dev/sda", EntryType::Block, 8, 0).device("fifo", EntryType::Fifo, 0, 0);
    apply_overlay(&sb, &t).expect("apply");
    let null = fs::symlink_metadata(sb.root.join("dev/null")).expect("null");
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(null.mode() & 0o7777, 0o666, "mode set explicitly, umask ignored");
    let sda = fs::symlink_metadata(sb.root.join("dev/sda")).expect("sda");
    assert!(sda.file_type().is_block_device());
    assert_eq!(sda.rdev(), nix::sys::stat::makedev(8, 0));
    assert!(fs::symlink_metadata(sb.root.join("fifo")).expect("fifo").file_type().is_fifo());
    sb.assert_host_unchanged();
}

#[test]
fn file_replaces_symlink_to_outside_file() {
    let sb = Sandbox::new();
    let abs = sb.outside.join("sentinel").display().to_string();
    let mut t = TarBuf::new();
    t.symlink("s", &abs).symlink("r", "../outside/sentinel").symlink("t", "/etc/passwd");
    t.file("s", b"pwned").file("r", b"pwned").file("t", b"pwned");
    apply_overlay(&sb, &t).expect("apply");
    for name in ["s", "r", "t"] {
        let meta = fs::symlink_metadata(sb.root.join(name)).expect("stat");
        assert!(meta.file_type().is_file(), "{name} is now a regular file");
        assert_eq!(read(sb.root.join(name)), b"pwned");
    }
    sb.assert_host_unchanged();
}

#[test]
fn symlink_replaced_by_directory() {
    let sb = Sandbox::new();
    let outside = sb.outside.display().to_string();
    let before = fs::metadata(&sb.outside).expect("stat").permissions().mode();
    let mut t = TarBuf::new();
    t.symlink("x", &outside);
    t.raw(EntryType::Directory, b"x/", b"", 0o777, b"").file("x/f", b"inside");
    apply_overlay(&sb, &t).expect("apply");
    let x = fs::symlink_metadata(sb.root.join("x")).expect("x");
    assert!(x.is_dir());
    assert_eq!(x.mode() & 0o7777, 0o777);
    assert_eq!(read(sb.root.join("x/f")), b"inside");
    assert_eq!(fs::metadata(&sb.outside).expect("stat").permissions().mode(), before, "outside dir mode unchanged");
    sb.assert_host_unchanged();
}

#[test]
fn directory_replaced_by_file() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.dir("d/").file("d/a", b"a").dir("d/sub/").file("d/sub/b", b"b").symlink("d/out", "/etc");
    t.file("d", b"now a file");
    apply(&sb.root, &t.finish(), WhiteoutMode::Plain).expect("apply");
    assert!(fs::symlink_metadata(sb.root.join("d")).expect("d").is_file());
    assert_eq!(read(sb.root.join("d")), b"now a file");
    sb.assert_host_unchanged();
}

#[test]
fn long_names_via_pax_and_gnu() {
    let sb = Sandbox::new();
    let long_dir = "a".repeat(120);
    let pax_name = format!("{long_dir}/{}", "p".repeat(150));
    let gnu_name = format!("{long_dir}/{}", "g".repeat(150));
    let mut t = TarBuf::new();
    t.pax(&[("path", pax_name.as_bytes())]).file("short-pax", b"pax");
    t.gnu_longname(gnu_name.as_bytes()).file("short-gnu", b"gnu");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(read(sb.root.join(&pax_name)), b"pax");
    assert_eq!(read(sb.root.join(&gnu_name)), b"gnu");
    assert!(!sb.root.join("short-pax").exists() && !sb.root.join("short-gnu").exists());

    let escape = format!("{}{}evil", "a/".repeat(60), "../".repeat(61));
    for gnu in [false, true] {
        let sb = Sandbox::new();
        let mut t = TarBuf::new();
        if gnu {
            t.gnu_longname(escape.as_bytes());
        } else {
            t.pax(&[("path", escape.as_bytes())]);
        }
        t.file("harmless", b"pwned");
        let err = apply_overlay(&sb, &t).expect_err("long name escape");
        assert!(matches!(err, ApplyError::Breakout { .. }), "{err}");
        sb.assert_host_unchanged();
    }
}

#[test]
fn pax_linkpath_escape_is_refused() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.pax(&[("linkpath", b"../../../../etc/shadow")]).hardlink("h", "harmless");
    let err = apply_overlay(&sb, &t).expect_err("linkpath escape");
    assert!(matches!(err, ApplyError::InvalidHardlink { .. }), "{err}");
    sb.assert_host_unchanged();
}

#[test]
fn pax_size_overrides_the_header() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    // The header says 0 bytes, the PAX record 5: the PAX size wins, so the
    // data is read as the file's and the next header is found after it.
    // (Its uid, gid and mtime fields are left empty: read as 0, like Go.)
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..1].copy_from_slice(b"f");
    h.set_mode(0o644);
    h.set_size(0);
    h.set_entry_type(EntryType::Regular);
    t.pax(&[("size", b"5")]).push(h, b"hello").file("next", b"next");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(read(sb.root.join("f")), b"hello");
    assert_eq!(read(sb.root.join("next")), b"next");
    sb.assert_host_unchanged();
}

#[test]
fn pax_overlay_xattrs_are_never_applied() {
    for mode in [WhiteoutMode::Overlay, WhiteoutMode::Plain] {
        let sb = Sandbox::new();
        let mut t = TarBuf::new();
        t.pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y"), ("SCHILY.xattr.user.keep", b"1")]).dir("d/");
        t.pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc"), ("SCHILY.xattr.trusted.ok", b"2")]).file("d/f", b"f");
        apply(&sb.root, &t.finish(), mode).expect("apply");
        let d = common::xattrs(&sb.root.join("d"));
        assert!(!d.contains_key("trusted.overlay.opaque"), "{mode:?}: {d:?}");
        assert_eq!(d.get("user.keep").map(Vec::as_slice), Some(&b"1"[..]));
        let f = common::xattrs(&sb.root.join("d/f"));
        assert!(!f.contains_key("trusted.overlay.redirect"), "{mode:?}: {f:?}");
        assert_eq!(f.get("trusted.ok").map(Vec::as_slice), Some(&b"2"[..]));
        sb.assert_host_unchanged();
    }
}

#[test]
fn whiteouts_cannot_reach_outside() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.whiteout("../.wh.outside");
    assert!(matches!(apply(&sb.root, &t.finish(), WhiteoutMode::Plain), Err(ApplyError::Breakout { .. })));
    for name in ["a/.wh..", "a/.wh...", ".wh."] {
        let mut t = TarBuf::new();
        t.dir("a/").whiteout(name);
        let err = apply(&sb.root, &t.finish(), WhiteoutMode::Plain).expect_err(name);
        assert!(matches!(err, ApplyError::InvalidEntry { .. }), "{name}: {err}");
    }
    // Through a symlink to /, a whiteout removes the root's etc/passwd only.
    let mut t = TarBuf::new();
    t.file("etc/passwd", b"layer").symlink("x", "/");
    apply(&sb.root, &t.finish(), WhiteoutMode::Plain).expect("lower");
    let mut t = TarBuf::new();
    t.whiteout("x/etc/.wh.passwd").whiteout("x/.wh.x");
    apply(&sb.root, &t.finish(), WhiteoutMode::Plain).expect("upper");
    assert!(!sb.root.join("etc/passwd").exists());
    assert!(sb.root.join("etc").is_dir());
    assert!(fs::symlink_metadata(sb.root.join("x")).is_err(), "the symlink itself was whited out");
    sb.assert_host_unchanged();
}

#[test]
fn only_a_directory_may_stand_for_the_root() {
    let sb = Sandbox::new();
    for name in ["./", "/", "."] {
        let mut t = TarBuf::new();
        t.file(name, b"x");
        let err = apply_overlay(&sb, &t).expect_err(name);
        assert!(matches!(err, ApplyError::InvalidEntry { .. }), "{err}");
    }
    let mut t = TarBuf::new();
    t.raw(EntryType::Directory, b"./", b"", 0o750, b"");
    apply_overlay(&sb, &t).expect("root dir entry");
    let meta = fs::metadata(&sb.root).expect("stat");
    assert_eq!(meta.mode() & 0o7777, 0o750);
    assert_eq!(meta.mtime(), common::MTIME as i64);
    sb.assert_host_unchanged();
}

#[test]
fn truncated_tars_are_errors() {
    let mut t = TarBuf::new();
    t.dir("d/").file("d/f", &vec![7u8; 5000]).file("g", b"g");
    let full = t.finish();
    // Cut twice inside d/f's data, then inside g's header.
    for cut in [512 * 2 + 100, 512 * 2 + 4000, 512 * 12 + 100] {
        let sb = Sandbox::new();
        let err = apply(&sb.root, &full[..cut], WhiteoutMode::Overlay).expect_err("truncated");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        sb.assert_host_unchanged();
    }
    let mut t = TarBuf::new();
    t.pax(&[("path", b"long-name")]);
    let sb = Sandbox::new();
    apply(&sb.root, &t.finish(), WhiteoutMode::Overlay).expect_err("pax header without entry");
}

#[test]
fn garbage_headers_are_errors() {
    let sb = Sandbox::new();
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let err = apply(&sb.root, &garbage, WhiteoutMode::Overlay).expect_err("garbage");
    assert!(matches!(err, ApplyError::Read(_)), "{err}");

    // Valid checksum, nonsense numeric fields.
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..1].copy_from_slice(b"f");
    h.as_old_mut().mode.copy_from_slice(b"zzzzzzz\0");
    h.set_entry_type(EntryType::Regular);
    h.set_size(0);
    let mut t = TarBuf::new();
    t.push(h, b"");
    let err = apply(&sb.root, &t.finish(), WhiteoutMode::Overlay).expect_err("bad mode");
    assert!(matches!(err, ApplyError::InvalidEntry { .. }), "{err}");

    // Unknown entry type.
    let mut t = TarBuf::new();
    t.raw(EntryType::new(b'V'), b"vol", b"", 0o644, b"");
    let err = apply(&sb.root, &t.finish(), WhiteoutMode::Overlay).expect_err("volume header");
    assert!(err.to_string().contains("unsupported entry type"), "{err}");
    sb.assert_host_unchanged();
}

#[test]
fn reader_is_drained_to_eof() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.file("f", b"data");
    let mut blob = t.finish();
    blob.extend(std::iter::repeat_n(0u8, 10 * 1024)); // tar writers pad to 10 KiB records
    let mut reader = DigestReader::new(blob.as_slice());
    let report = common::confined(sb.dir.path(), || apply_layer(&sb.root, &mut reader, &ApplyOptions::default())).expect("apply");
    assert_eq!((report.entries, report.bytes), (1, 4));
    let (_, digest, n) = reader.finish();
    assert_eq!(n, blob.len() as u64);
    assert_eq!(digest, format!("sha256:{}", common::hex(&blob)));
    sb.assert_host_unchanged();
}

#[test]
fn parent_cache_follows_replacements() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    // x first resolves to sub; once x is a real directory, x/f2 lands in it.
    t.dir("sub/").symlink("x", "sub").file("x/f1", b"1").dir("x/").file("x/f2", b"2");
    // y/tmp resolves to the root's tmp; once tmp is a symlink to var, y/tmp/f
    // follows it (inside the root).
    t.dir("var/").symlink("y", "/").file("y/tmp/before", b"b").symlink("tmp", "/var").file("y/tmp/f", b"f");
    apply_overlay(&sb, &t).expect("apply");
    assert_eq!(read(sb.root.join("sub/f1")), b"1");
    assert!(fs::symlink_metadata(sb.root.join("x")).expect("x").is_dir());
    assert_eq!(read(sb.root.join("x/f2")), b"2");
    assert!(!sb.root.join("sub/f2").exists());
    assert_eq!(read(sb.root.join("var/f")), b"f");
    assert!(!sb.root.join("var/before").exists());
    sb.assert_host_unchanged();
}
