//! `docker logs`: reading (and following) a container's json-file log across its rotated
//! files (`<id>-json.log.N`, oldest, ... `<id>-json.log`, current).
//!
//! The current file is opened once, before anything is read, and followed through that same
//! descriptor from where the initial read stopped, so no line is missed or repeated between
//! the two. `--tail` reads backwards from the end in blocks, so its cost does not grow with the
//! log's size. A follower notices a rotation (the path names a new inode) or a truncation
//! (`max-file=1`), finishes the old file and continues with the new one.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_api::stdcopy::{frame, StdStream};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::Engine;
use crate::error::EngineError;

/// What `GET /containers/{id}/logs` asked for.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub follow: bool,
    pub tail: Option<usize>,
    pub since: Option<f64>,
    pub until: Option<f64>,
    pub timestamps: bool,
}

#[derive(Deserialize)]
struct Entry {
    log: String,
    stream: String,
    time: String,
}

/// How often a follower looks for new lines while the container runs.
const FOLLOW_POLL: Duration = Duration::from_millis(50);
/// Block size of backwards reads for `--tail`.
const BLOCK: u64 = 64 * 1024;
/// Lines sent to the client per channel message on initial reads.
const BATCH: usize = 256 * 1024;

fn unix_time(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339).ok().map(|t| t.timestamp() as f64 + t.timestamp_subsec_nanos() as f64 / 1e9)
}

/// Parses `since`/`until` as Docker sends them: unix seconds with an optional fraction, or
/// RFC 3339.
pub fn parse_time(s: &str) -> Result<Option<f64>, EngineError> {
    if s.is_empty() || s == "0" {
        return Ok(None);
    }
    if let Ok(v) = s.parse::<f64>() {
        return Ok(Some(v));
    }
    unix_time(s).map(Some).ok_or_else(|| EngineError::Invalid(format!("invalid time value {s:?}")))
}

impl LogOptions {
    /// Renders one log entry for the client, or nothing if it is filtered out.
    fn render(&self, line: &[u8], tty: bool) -> Option<Vec<u8>> {
        let e: Entry = serde_json::from_slice(line).ok()?;
        let stream = match e.stream.as_str() {
            "stderr" if self.stderr => StdStream::Stderr,
            "stdout" if self.stdout => StdStream::Stdout,
            _ => return None,
        };
        let t = unix_time(&e.time);
        if let (Some(since), Some(t)) = (self.since, t) {
            if t < since {
                return None;
            }
        }
        if let (Some(until), Some(t)) = (self.until, t) {
            if t > until {
                return None;
            }
        }
        let mut text = Vec::new();
        if self.timestamps {
            text.extend_from_slice(e.time.as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(e.log.as_bytes());
        Some(if tty { text } else { frame(stream, &text) })
    }
}

/// The offset just after the last `\n` before `end` (0 if none).
fn complete_end(file: &File, end: u64) -> std::io::Result<u64> {
    let mut pos = end;
    while pos > 0 {
        let start = pos.saturating_sub(BLOCK);
        let mut block = vec![0u8; (pos - start) as usize];
        file.read_exact_at(&mut block, start)?;
        if let Some(i) = block.iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        pos = start;
    }
    Ok(0)
}

/// Pushes the last lines of `file` before `end` (just after a `\n`) to the front of `out`
/// until it holds `want`.
fn last_lines(file: &File, end: u64, want: usize, out: &mut VecDeque<Vec<u8>>) -> std::io::Result<()> {
    let (mut pos, mut tail) = (end, Vec::new());
    while pos > 0 && out.len() < want {
        let start = pos.saturating_sub(BLOCK);
        let mut data = vec![0u8; (pos - start) as usize];
        file.read_exact_at(&mut data, start)?;
        data.extend_from_slice(&tail);
        let nls: Vec<usize> = data.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i).collect();
        for j in (1..nls.len()).rev() {
            out.push_front(data[nls[j - 1] + 1..nls[j]].to_vec());
            if out.len() >= want {
                return Ok(());
            }
        }
        match nls.first() {
            Some(first) if start == 0 => out.push_front(data[..*first].to_vec()),
            Some(first) => tail = data[..=*first].to_vec(),
            None => tail = data,
        }
        pos = start;
    }
    Ok(())
}

/// Calls `f` for each complete line of `file` in `[start, end)`.
fn each_line(file: &File, start: u64, end: u64, f: &mut dyn FnMut(&[u8]) -> bool) -> std::io::Result<()> {
    let mut off = start;
    let mut line = Vec::new();
    while off < end {
        let mut chunk = vec![0u8; (end - off).min(BLOCK) as usize];
        file.read_exact_at(&mut chunk, off)?;
        off += chunk.len() as u64;
        for piece in chunk.split_inclusive(|b| *b == b'\n') {
            line.extend_from_slice(piece);
            if line.ends_with(b"\n") {
                if !f(&line[..line.len() - 1]) {
                    return Ok(());
                }
                line.clear();
            }
        }
    }
    Ok(())
}

/// The log files of a container, open, oldest first; the last is the current one (opened
/// first, so the others are at least as old as what it follows).
struct OpenLogs {
    rotated: Vec<File>,
    current: Option<File>,
    current_path: PathBuf,
}

impl OpenLogs {
    fn open(files: &[PathBuf]) -> OpenLogs {
        let (current_path, older) = files.split_last().map(|(c, o)| (c.clone(), o.to_vec())).unwrap_or_default();
        let current = File::open(&current_path).ok();
        let rotated = older.iter().filter_map(|p| File::open(p).ok()).collect();
        OpenLogs { rotated, current, current_path }
    }
}

/// Sends the initial content (all, or the tail) and returns `(offset, partial line)` of the
/// current file, where following continues.
fn initial(logs: &OpenLogs, opts: &LogOptions, tty: bool, tx: &mpsc::Sender<Bytes>) -> std::io::Result<(u64, Vec<u8>)> {
    let len = match &logs.current {
        Some(f) => f.metadata()?.len(),
        None => 0,
    };
    let end = match &logs.current {
        Some(f) => complete_end(f, len)?,
        None => 0,
    };
    let mut partial = vec![0u8; (len - end) as usize];
    if let Some(f) = &logs.current {
        f.read_exact_at(&mut partial, end)?;
    }
    let mut batch = Vec::new();
    let mut open = true;
    let mut emit = |line: &[u8]| {
        if let Some(out) = opts.render(line, tty) {
            batch.extend_from_slice(&out);
        }
        if batch.len() >= BATCH {
            open = tx.blocking_send(Bytes::from(std::mem::take(&mut batch))).is_ok();
        }
        open
    };
    match opts.tail {
        Some(n) => {
            let mut lines = VecDeque::new();
            if let Some(f) = &logs.current {
                last_lines(f, end, n, &mut lines)?;
            }
            for f in logs.rotated.iter().rev() {
                if lines.len() >= n {
                    break;
                }
                last_lines(f, f.metadata()?.len(), n, &mut lines)?;
            }
            for l in &lines {
                if !emit(l) {
                    break;
                }
            }
        }
        None => {
            for f in &logs.rotated {
                each_line(f, 0, f.metadata()?.len(), &mut emit)?;
            }
            if let Some(f) = &logs.current {
                each_line(f, 0, end, &mut emit)?;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send(Bytes::from(batch));
    }
    Ok((len, partial))
}

/// Follows the current log file from `off`.
struct Follower {
    path: PathBuf,
    file: Option<File>,
    off: u64,
    pending: Vec<u8>,
}

impl Follower {
    /// Reads what was appended; switches files after a rotation, rewinds after a truncation.
    fn poll(&mut self) -> Vec<Vec<u8>> {
        let mut lines = Vec::new();
        let rotated = match (&self.file, std::fs::metadata(&self.path)) {
            (Some(f), Ok(now)) => f.metadata().map(|m| m.ino() != now.ino() || m.dev() != now.dev()).unwrap_or(true),
            (None, Ok(_)) => true,
            (_, Err(_)) => false,
        };
        self.read_new(&mut lines);
        if rotated {
            self.file = File::open(&self.path).ok();
            self.off = 0;
            self.read_new(&mut lines);
        }
        lines
    }

    fn read_new(&mut self, lines: &mut Vec<Vec<u8>>) {
        let Some(f) = &self.file else { return };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        if len < self.off {
            self.off = 0; // truncated in place (max-file=1)
            self.pending.clear();
        }
        let mut buf = vec![0u8; (len - self.off) as usize];
        if f.read_exact_at(&mut buf, self.off).is_err() {
            return;
        }
        self.off = len;
        self.pending.extend_from_slice(&buf);
        while let Some(i) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            lines.push(line[..line.len() - 1].to_vec());
        }
    }
}

impl Engine {
    /// Streams a container's logs into a channel of ready-to-send chunks.
    pub fn logs(self: &Arc<Self>, name: &str, opts: LogOptions) -> Result<(bool, mpsc::Receiver<Bytes>), EngineError> {
        let h = self.containers.get(name)?;
        let rec = h.snapshot();
        if rec.host_config.log_config.typ == "none" {
            return Err(EngineError::NotImplemented("configured logging driver does not support reading".into()));
        }
        let tty = rec.config.tty;
        let files = self.log_files(&rec);
        let (tx, rx) = mpsc::channel(64);
        let mut signal = h.signal.subscribe();
        tokio::spawn(async move {
            let (opts2, tx2) = (opts.clone(), tx.clone());
            let started = tokio::task::spawn_blocking(move || {
                let logs = OpenLogs::open(&files);
                let (off, pending) = initial(&logs, &opts2, tty, &tx2).unwrap_or_default();
                Follower { path: logs.current_path.clone(), file: logs.current, off, pending }
            })
            .await;
            let Ok(mut follower) = started else { return };
            if !opts.follow {
                return;
            }
            loop {
                let running = signal.borrow_and_update().running;
                for line in follower.poll() {
                    if let Some(out) = opts.render(&line, tty) {
                        if tx.send(Bytes::from(out)).await.is_err() {
                            return;
                        }
                    }
                }
                if !running {
                    return;
                }
                tokio::select! {
                    _ = signal.changed() => {}
                    _ = tokio::time::sleep(FOLLOW_POLL) => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Ok((tty, rx))
    }
}

#[cfg(test)]
mod tests;
