//! `apply_layer_with`: split records rebuild the exact stream from the tree
//! (files the layer replaced itself from the stash), say when they cannot,
//! refuse a changed tree and damaged records; durable application syncs every
//! file and directory it wrote.

mod common;

use std::fs;
use std::path::PathBuf;

use berth_archive::{apply_layer_with, rebuild_tar, ApplyExtras, ApplyOptions, ApplyReport, RebuildError, WhiteoutMode};
use common::{Sandbox, TarBuf};
use tar::EntryType;

fn apply_stashed(sb: &Sandbox, tar: &[u8], durable: bool, stash: Option<&PathBuf>) -> (ApplyReport, Vec<u8>) {
    let mut record = Vec::new();
    let opts = ApplyOptions { whiteouts: WhiteoutMode::Overlay, same_owner: true };
    let extras = ApplyExtras { durable, split: Some(&mut record), split_stash: stash.map(|p| p.as_path()) };
    let report = apply_layer_with(&sb.root, tar, &opts, extras).expect("apply");
    (report, record)
}

fn apply(sb: &Sandbox, tar: &[u8], durable: bool) -> (ApplyReport, Vec<u8>) {
    apply_stashed(sb, tar, durable, None)
}

fn rebuild_stashed(sb: &Sandbox, stash: Option<&PathBuf>, record: &[u8]) -> Result<Vec<u8>, RebuildError> {
    let mut out = Vec::new();
    let n = rebuild_tar(&sb.root, stash.map(|p| p.as_path()), record, &mut out)?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

fn rebuild(sb: &Sandbox, record: &[u8]) -> Result<Vec<u8>, RebuildError> {
    rebuild_stashed(sb, None, record)
}

/// A layer with every kind of entry, extension headers, odd sizes and bytes
/// after the end-of-archive blocks.
fn rich_layer() -> Vec<u8> {
    let big: Vec<u8> = (0..3_000_017u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut t = TarBuf::new();
    t.dir("etc/").file("etc/motd", b"hello\n").file("etc/empty", b"");
    t.file("usr/bin/tool", &big); // parents created implicitly
    t.symlink("etc/link", "/usr/bin/tool").hardlink("etc/hard", "etc/motd");
    t.device("dev-null", EntryType::Char, 1, 3);
    t.whiteout("etc/.wh.gone").whiteout("opq/.wh..wh..opq");
    t.pax(&[("path", "long/".repeat(40).as_bytes())]).file("placeholder", b"pax named");
    t.gnu_longname(&[b'g'; 150]).file("short", b"gnu named");
    let mut out = t.finish();
    out.extend_from_slice(&[0u8; 4096]); // what `tar` pads to a record
    out.extend_from_slice(b"trailing junk a registry blob may carry");
    out
}

#[test]
fn split_record_rebuilds_the_exact_stream() {
    let sb = Sandbox::new();
    let tar = rich_layer();
    let (report, record) = apply(&sb, &tar, false);
    assert!(report.split_exact, "{report:?}");
    // File data is referenced, not copied: the record stays small.
    assert!(record.len() < 64 << 10, "record of {} bytes", record.len());
    let rebuilt = rebuild(&sb, &record).expect("rebuild");
    assert!(rebuilt == tar, "rebuilt stream differs ({} vs {} bytes)", rebuilt.len(), tar.len());
    sb.assert_host_unchanged();
}

#[test]
fn split_record_is_not_exact_when_the_layer_replaces_its_own_file() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.file("f", b"first version").file("f", b"second");
    let (report, record) = apply(&sb, &t.finish(), false);
    assert!(!report.split_exact);
    // Rebuilding anyway never gives the original bytes silently.
    match rebuild(&sb, &record) {
        Ok(out) => assert_ne!(out, t.finish()),
        Err(RebuildError::Changed { .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn files_the_layer_replaces_itself_are_rebuilt_from_the_stash() {
    let sb = Sandbox::new();
    let stash = sb.scratch("stash");
    let mut t = TarBuf::new();
    t.file("f", b"first version").file("f", b"second");
    t.dir("d/").file("d/x", b"under a dir").file("d/sub/y", b"deeper").file("d", b"a file now");
    t.file("kept", b"kept").hardlink("also", "kept").file("also", b"replaced link name");
    let tar = t.finish();
    let (report, record) = apply_stashed(&sb, &tar, true, Some(&stash));
    assert!(report.split_exact, "{report:?}");
    assert_eq!(fs::read(sb.root.join("f")).expect("f"), b"second");
    assert_eq!(fs::read(sb.root.join("d")).expect("d"), b"a file now");
    let rebuilt = rebuild_stashed(&sb, Some(&stash), &record).expect("rebuild");
    assert!(rebuilt == tar, "rebuilt stream differs");
    // Without its stash the record cannot give the stream back.
    assert!(rebuild(&sb, &record).map_or(true, |out| out != tar));
    sb.assert_host_unchanged();
}

#[test]
fn rebuild_refuses_a_changed_tree_and_damaged_records() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.dir("d/").file("d/f", b"some data").file("d/g", b"more");
    let (report, record) = apply(&sb, &t.finish(), false);
    assert!(report.split_exact);
    // Every truncation of the record is an error, never a panic or a short stream.
    for cut in 0..record.len() {
        assert!(rebuild(&sb, &record[..cut]).is_err(), "cut at {cut}");
    }
    let mut bad = record.clone();
    bad[18] = 9; // first tag after the magic line
    assert!(matches!(rebuild(&sb, &bad), Err(RebuildError::Record(_))));
    let mut huge = record.clone();
    huge[19..23].copy_from_slice(&u32::MAX.to_le_bytes()); // raw length
    assert!(matches!(rebuild(&sb, &huge), Err(RebuildError::Record(_))));
    fs::write(sb.root.join("d/f"), b"other length").expect("rewrite");
    assert!(matches!(rebuild(&sb, &record), Err(RebuildError::Changed { .. })));
    fs::remove_file(sb.root.join("d/g")).expect("remove");
    fs::write(sb.root.join("d/f"), b"some data").expect("rewrite");
    assert!(matches!(rebuild(&sb, &record), Err(RebuildError::Changed { .. })));
}

#[test]
fn durable_apply_syncs_every_file_and_directory_it_wrote() {
    let sb = Sandbox::new();
    let mut t = TarBuf::new();
    t.dir("a/").file("a/1", b"1").file("a/2", &[7u8; 20 << 20]).file("b/c/3", b"3").symlink("a/l", "1");
    for i in 0..300 {
        t.file(&format!("many/{i}"), b"x"); // more files than are kept open at once
    }
    let (report, _) = apply(&sb, &t.finish(), true);
    assert_eq!(report.synced_files, 303, "{report:?}");
    // root, a, b, b/c, many
    assert_eq!(report.synced_dirs, 5, "{report:?}");
    let (plain, _) = {
        let sb2 = Sandbox::new();
        apply(&sb2, &t.finish(), false)
    };
    assert_eq!((plain.synced_files, plain.synced_dirs), (0, 0));
}
