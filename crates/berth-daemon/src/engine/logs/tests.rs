#![allow(clippy::unwrap_used)]

use std::io::Write;

use super::*;

fn entry(i: usize) -> String {
    format!("{{\"log\":\"line {i}\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00Z\"}}\n")
}

fn write(path: &std::path::Path, range: std::ops::Range<usize>, partial: &str) {
    let mut f = std::fs::File::create(path).unwrap();
    for i in range {
        f.write_all(entry(i).as_bytes()).unwrap();
    }
    f.write_all(partial.as_bytes()).unwrap();
}

fn collect(rx: &mut mpsc::Receiver<Bytes>) -> String {
    let mut out = Vec::new();
    while let Ok(b) = rx.try_recv() {
        out.extend_from_slice(&b);
    }
    String::from_utf8(out).unwrap()
}

fn opts(tail: Option<usize>) -> LogOptions {
    LogOptions { stdout: true, stderr: true, tail, ..Default::default() }
}

fn setup() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let cur = dir.path().join("c-json.log");
    let (r2, r1) = (dir.path().join("c-json.log.2"), dir.path().join("c-json.log.1"));
    write(&r2, 0..1000, "");
    write(&r1, 1000..2000, "");
    write(&cur, 2000..2500, "{\"log\":\"partial");
    (dir, vec![r2, r1, cur])
}

#[test]
fn reads_every_rotated_file_in_order() {
    let (_dir, files) = setup();
    let (tx, mut rx) = mpsc::channel(10_000);
    let logs = OpenLogs::open(&files);
    let (off, partial) = initial(&logs, &opts(None), true, &tx).unwrap();
    let text = collect(&mut rx);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2500);
    assert_eq!(lines[0], "line 0");
    assert_eq!(lines[2499], "line 2499");
    assert_eq!(partial, b"{\"log\":\"partial");
    assert_eq!(off, std::fs::metadata(&files[2]).unwrap().len());
}

#[test]
fn tail_reaches_back_across_files() {
    let (_dir, files) = setup();
    for (n, first) in [(3, 2497), (700, 1800), (2400, 100), (10_000, 0)] {
        let (tx, mut rx) = mpsc::channel(10_000);
        initial(&OpenLogs::open(&files), &opts(Some(n)), true, &tx).unwrap();
        let text = collect(&mut rx);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), n.min(2500), "tail {n}");
        assert_eq!(lines[0], format!("line {first}"), "tail {n}");
        assert_eq!(*lines.last().unwrap(), "line 2499");
    }
    let (tx, mut rx) = mpsc::channel(10);
    initial(&OpenLogs::open(&files), &opts(Some(0)), true, &tx).unwrap();
    assert_eq!(collect(&mut rx), "");
}

#[test]
fn long_lines_span_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let cur = dir.path().join("c-json.log");
    let long = "x".repeat(150_000);
    let line = format!("{{\"log\":\"{long}\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00Z\"}}\n");
    std::fs::write(&cur, format!("{}{line}{}", entry(1), entry(2))).unwrap();
    let (tx, mut rx) = mpsc::channel(100);
    initial(&OpenLogs::open(&[cur]), &opts(Some(2)), true, &tx).unwrap();
    let text = collect(&mut rx);
    assert!(text.starts_with(&long[..100]) && text.ends_with("line 2\n"), "{}", &text[..40]);
}

#[test]
fn follower_crosses_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let cur = dir.path().join("c-json.log");
    write(&cur, 0..2, "");
    let len = std::fs::metadata(&cur).unwrap().len();
    let mut f = Follower { path: cur.clone(), file: File::open(&cur).ok(), off: len, pending: Vec::new() };
    assert!(f.poll().is_empty());
    std::fs::OpenOptions::new().append(true).open(&cur).unwrap().write_all(entry(2).as_bytes()).unwrap();
    std::fs::rename(&cur, dir.path().join("c-json.log.1")).unwrap();
    write(&cur, 3..4, "");
    let got: Vec<String> = f.poll().iter().map(|l| String::from_utf8_lossy(l).into_owned()).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].contains("line 2") && got[1].contains("line 3"));
    // Truncated in place (max-file=1) to less than was read: starts over.
    let short = "{\"log\":\"y\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-01T00:00:00Z\"}\n";
    std::fs::File::create(&cur).unwrap().write_all(short.as_bytes()).unwrap();
    let got = f.poll();
    assert_eq!(got, vec![short.trim_end().as_bytes().to_vec()]);
}
