//! `docker logs`: reading (and following) a container's json-file log.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::time::Duration;

use berth_api::stdcopy::{frame, StdStream};
use bytes::Bytes;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::record::ContainerDirs;
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

impl Engine {
    /// Streams a container's logs into a channel of ready-to-send chunks.
    pub fn logs(self: &Arc<Self>, name: &str, opts: LogOptions) -> Result<(bool, mpsc::Receiver<Bytes>), EngineError> {
        let h = self.containers.get(name)?;
        let rec = h.snapshot();
        if rec.host_config.log_config.typ == "none" {
            return Err(EngineError::NotImplemented("configured logging driver does not support reading".into()));
        }
        let tty = rec.config.tty;
        let path = ContainerDirs::new(&self.config.data_root, &rec.id).log(&rec.id);
        let (tx, rx) = mpsc::channel(64);
        let mut signal = h.signal.subscribe();
        tokio::spawn(async move {
            let mut file = match std::fs::File::open(&path) {
                Ok(f) => Some(f),
                Err(_) => None,
            };
            let mut pending = Vec::new();
            // Initial content, honouring tail.
            let mut lines: Vec<Vec<u8>> = Vec::new();
            if let Some(f) = file.as_mut() {
                let mut all = Vec::new();
                let _ = f.read_to_end(&mut all);
                let complete = all.iter().rposition(|b| *b == b'\n').map(|i| i + 1).unwrap_or(0);
                pending.extend_from_slice(&all[complete..]);
                lines = all[..complete].split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| l.to_vec()).collect();
            }
            let skip = opts.tail.map(|n| lines.len().saturating_sub(n)).unwrap_or(0);
            for l in &lines[skip..] {
                if let Some(out) = opts.render(l, tty) {
                    if tx.send(Bytes::from(out)).await.is_err() {
                        return;
                    }
                }
            }
            if !opts.follow {
                return;
            }
            loop {
                let running = signal.borrow_and_update().running;
                if file.is_none() {
                    file = std::fs::File::open(&path).ok();
                }
                if let Some(f) = file.as_mut() {
                    let mut chunk = Vec::new();
                    let _ = f.read_to_end(&mut chunk);
                    pending.extend_from_slice(&chunk);
                    while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=i).collect();
                        if let Some(out) = opts.render(&line[..line.len() - 1], tty) {
                            if tx.send(Bytes::from(out)).await.is_err() {
                                return;
                            }
                        }
                    }
                    let _ = f.seek(SeekFrom::Current(0));
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
