//! Whiteouts in both modes: deletions and opaque directories, "a whiteout
//! never removes an entry of its own layer", AUFS metadata, and agreement
//! between Overlay mode (checked through a real overlay mount) and Plain mode.

mod common;

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_archive::{apply_layer, ApplyOptions, WhiteoutMode};
use common::{OverlayMount, Sandbox, TarBuf};

fn apply(root: &Path, tar: &TarBuf, mode: WhiteoutMode) -> berth_archive::ApplyReport {
    apply_layer(root, tar.finish().as_slice(), &ApplyOptions { whiteouts: mode, same_owner: true }).expect("apply")
}

fn lower() -> TarBuf {
    let mut t = TarBuf::new();
    t.dir("a/").file("a/f1", b"1").file("a/f2", b"2");
    t.dir("d/").file("d/x", b"x").dir("d/sub/").file("d/sub/y", b"y");
    t.dir("o/").file("o/old1", b"old").dir("o/sub/").file("o/sub/old2", b"old").dir("o/keepdir/");
    t.file("top", b"top");
    t
}

fn upper() -> TarBuf {
    let mut t = TarBuf::new();
    t.dir("a/").whiteout("a/.wh.f1");
    t.whiteout(".wh.d");
    t.dir("o/").whiteout("o/.wh..wh..opq").dir("o/sub/").file("o/sub/new", b"new");
    // Own-layer entries survive their own whiteouts, in either order.
    t.file("n", b"n").whiteout(".wh.n");
    t.whiteout(".wh.m").file("m", b"m");
    t
}

fn names(root: &Path) -> Vec<String> {
    common::snapshot(root).into_keys().collect()
}

#[test]
fn plain_mode_deletes_and_spares_its_own_layer() {
    let sb = Sandbox::new();
    apply(&sb.root, &lower(), WhiteoutMode::Plain);
    let report = apply(&sb.root, &upper(), WhiteoutMode::Plain);
    assert_eq!(report.whiteouts, 5);
    assert_eq!(names(&sb.root), ["a", "a/f2", "m", "n", "o", "o/sub", "o/sub/new", "top"].map(String::from).to_vec());
    sb.assert_host_unchanged();
}

#[test]
fn plain_opaque_after_own_children_keeps_them() {
    let sb = Sandbox::new();
    apply(&sb.root, &lower(), WhiteoutMode::Plain);
    let mut t = TarBuf::new();
    // Children first, marker last: the marker still hides only lower entries.
    t.file("o/sub/new", b"new").file("o/fresh", b"f").whiteout("o/.wh..wh..opq");
    // A whiteout of a directory this layer also fills hides only its lower part.
    t.file("d/mine", b"mine").whiteout(".wh.d");
    apply(&sb.root, &t, WhiteoutMode::Plain);
    let got = names(&sb.root);
    for p in ["o/sub/new", "o/fresh", "d/mine"] {
        assert!(got.contains(&p.to_string()), "{p} missing from {got:?}");
    }
    for p in ["o/old1", "o/sub/old2", "o/keepdir", "d/x", "d/sub"] {
        assert!(!got.contains(&p.to_string()), "{p} still in {got:?}");
    }
}

#[test]
fn overlay_mode_writes_devices_and_xattrs() {
    let sb = Sandbox::new();
    apply(&sb.root, &upper(), WhiteoutMode::Overlay);
    let wh = fs::symlink_metadata(sb.root.join("a/f1")).expect("whiteout");
    assert!(wh.file_type().is_char_device());
    assert_eq!((wh.rdev(), wh.uid(), wh.gid()), (0, 0, 0));
    assert!(fs::symlink_metadata(sb.root.join("d")).expect("d").file_type().is_char_device());
    let o = common::xattrs(&sb.root.join("o"));
    assert_eq!(o.get("trusted.overlay.opaque").map(Vec::as_slice), Some(&b"y"[..]));
    assert!(fs::symlink_metadata(sb.root.join("n")).expect("n").is_file(), "own entry kept");
    assert!(fs::symlink_metadata(sb.root.join("m")).expect("m").is_file(), "own entry replaces own whiteout");
    let got = names(&sb.root);
    assert!(got.iter().all(|n| !n.contains(".wh.")), "no literal whiteout files: {got:?}");
}

#[test]
fn overlay_directory_over_own_whiteout_is_opaque() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.whiteout(".wh.dd").dir("dd/").file("dd/f", b"f");
    t.dir("ee/").whiteout(".wh.ee");
    apply(&sb.root, &t, WhiteoutMode::Overlay);
    for d in ["dd", "ee"] {
        assert!(fs::symlink_metadata(sb.root.join(d)).expect(d).is_dir());
        let x = common::xattrs(&sb.root.join(d));
        assert_eq!(x.get("trusted.overlay.opaque").map(Vec::as_slice), Some(&b"y"[..]), "{d}");
    }
}

#[test]
fn overlay_and_plain_modes_agree() {
    let sb = Sandbox::new();
    let (l1, l2, flat, merged) = (sb.scratch("l1"), sb.scratch("l2"), sb.scratch("flat"), sb.scratch("merged"));
    apply(&l1, &lower(), WhiteoutMode::Overlay);
    apply(&l2, &upper(), WhiteoutMode::Overlay);
    apply(&flat, &lower(), WhiteoutMode::Plain);
    apply(&flat, &upper(), WhiteoutMode::Plain);
    let mount = OverlayMount::new(&[&l2, &l1], None, &merged);
    let seen = common::snapshot(&mount.merged);
    drop(mount);
    let expected = common::snapshot(&flat);
    assert_eq!(seen, expected);
}

#[test]
fn aufs_metadata_is_skipped_and_plnk_links_resolved() {
    for mode in [WhiteoutMode::Overlay, WhiteoutMode::Plain] {
        let sb = Sandbox::new();
        let mut t = TarBuf::new();
        t.file(".wh..wh.aufs", b"").dir(".wh..wh.orph/").dir(".wh..wh.plnk/");
        t.file_mode(".wh..wh.plnk/123.456", 0o755, b"data");
        t.dir("bin/").hardlink("bin/tool", "/.wh..wh.plnk/123.456").hardlink("bin/tool2", ".wh..wh.plnk/123.456");
        apply(&sb.root, &t, mode);
        let (a, b) = (fs::metadata(sb.root.join("bin/tool")).expect("a"), fs::metadata(sb.root.join("bin/tool2")).expect("b"));
        assert_eq!(a.ino(), b.ino());
        assert_eq!(a.nlink(), 2, "{mode:?}: the plnk copy is gone");
        assert_eq!(a.mode() & 0o7777, 0o755);
        assert_eq!(fs::read(sb.root.join("bin/tool")).expect("read"), b"data");
        assert_eq!(names(&sb.root), ["bin", "bin/tool", "bin/tool2"].map(String::from).to_vec(), "{mode:?}");
    }
}

#[test]
fn whiteout_of_missing_path_is_harmless() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.whiteout("nothing/here/.wh.x").whiteout(".wh.y");
    apply(&sb.root, &t, WhiteoutMode::Plain);
    assert!(names(&sb.root).is_empty());
}
