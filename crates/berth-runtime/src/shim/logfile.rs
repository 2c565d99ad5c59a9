//! The json-file log: one JSON object per line, `{"log":"…\n","stream":"stdout","time":"…"}`,
//! the format `docker logs` tooling expects on disk. The container's own log rotates by size
//! ([`super::rotate`]); a per-service log shared with the other containers of a service can be
//! written as well, its lines carrying `attrs` that say which container wrote them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::rotate::{RotatingFile, Rotation, SharedFile};

/// Lines longer than this are written in pieces, as Docker does with partial messages.
const MAX_LINE: usize = 16 * 1024;

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attrs: Option<&'a BTreeMap<String, String>>,
    time: &'a str,
}

/// Where and how the shim logs the container's output.
#[derive(Debug, Clone, Default)]
pub struct LogSettings {
    /// The container's json-file log (`None`: log driver `none`).
    pub path: Option<PathBuf>,
    /// Rotation of both the container's and the service's log.
    pub rotation: Rotation,
    /// A service log appended by every container of the service.
    pub service: Option<PathBuf>,
    /// `attrs` of the service log's lines (container id and name).
    pub attrs: BTreeMap<String, String>,
}

impl LogSettings {
    /// Whether anything is logged at all.
    pub fn enabled(&self) -> bool {
        self.path.is_some() || self.service.is_some()
    }
}

/// Appends a container's output to its json-file log (and service log), a line per entry.
pub struct JsonLog {
    own: Option<RotatingFile>,
    service: Option<SharedFile>,
    attrs: BTreeMap<String, String>,
    partial: [Vec<u8>; 2],
}

impl JsonLog {
    /// Opens (creating) the log at `path` for appending, without rotation.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Self::with_settings(&LogSettings { path: Some(path.to_path_buf()), ..Default::default() })
    }

    /// Opens the files `settings` names.
    pub fn with_settings(settings: &LogSettings) -> std::io::Result<Self> {
        let own = match &settings.path {
            Some(p) => Some(RotatingFile::open(p, settings.rotation)?),
            None => None,
        };
        let service = match &settings.service {
            Some(p) => Some(SharedFile::open(p, settings.rotation)?),
            None => None,
        };
        Ok(Self { own, service, attrs: settings.attrs.clone(), partial: [Vec::new(), Vec::new()] })
    }

    /// Records `data` written by the process on `stream`; complete lines are written at once.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        let idx = stream as usize;
        let mut buf = std::mem::take(&mut self.partial[idx]);
        buf.extend_from_slice(data);
        let mut lines: Vec<&[u8]> = Vec::new();
        let mut start = 0;
        while let Some(pos) = buf[start..].iter().position(|b| *b == b'\n') {
            let end = start + pos + 1;
            lines.push(&buf[start..end]);
            start = end;
        }
        while buf.len() - start >= MAX_LINE {
            lines.push(&buf[start..start + MAX_LINE]);
            start += MAX_LINE;
        }
        self.entries(stream, &lines);
        buf.drain(..start);
        self.partial[idx] = buf;
    }

    /// Writes out whatever partial lines remain (at process exit).
    pub fn flush(&mut self) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let buf = std::mem::take(&mut self.partial[stream as usize]);
            if !buf.is_empty() {
                self.entries(stream, &[&buf]);
            }
        }
    }

    /// Encodes `lines` and appends them with one write per file.
    fn entries(&mut self, stream: Stream, lines: &[&[u8]]) {
        if lines.is_empty() {
            return;
        }
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        // A full disk must not take the container down; the output still reaches attachers.
        if let Some(own) = self.own.as_mut() {
            let _ = own.write(&encode(stream, lines, None, &time));
        }
        if let Some(service) = self.service.as_mut() {
            let _ = service.write(&encode(stream, lines, Some(&self.attrs), &time));
        }
    }
}

fn encode(stream: Stream, lines: &[&[u8]], attrs: Option<&BTreeMap<String, String>>, time: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(lines.iter().map(|l| l.len() + 64).sum());
    for bytes in lines {
        let text = String::from_utf8_lossy(bytes);
        let entry = Entry { log: &text, stream: stream.name(), attrs, time };
        if serde_json::to_writer(&mut out, &entry).is_ok() {
            out.push(b'\n');
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entries(path: &Path) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(path).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn lines_are_split_and_partials_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let mut log = JsonLog::open(&path).unwrap();
        log.write(Stream::Stdout, b"hello\nwor");
        log.write(Stream::Stderr, b"oops\n");
        log.write(Stream::Stdout, b"ld\n");
        log.write(Stream::Stdout, b"tail");
        log.flush();
        let entries = entries(&path);
        let logs: Vec<(&str, &str)> = entries.iter().map(|e| (e["stream"].as_str().unwrap(), e["log"].as_str().unwrap())).collect();
        assert_eq!(logs, vec![("stdout", "hello\n"), ("stderr", "oops\n"), ("stdout", "world\n"), ("stdout", "tail")]);
        assert!(entries.iter().all(|e| e.get("attrs").is_none()));
    }

    #[test]
    fn service_log_lines_say_which_container_wrote_them() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("c-json.log");
        let service = dir.path().join("web.log");
        let mut attrs = BTreeMap::new();
        attrs.insert("container_name".to_string(), "web-1".to_string());
        let settings = LogSettings { path: Some(own.clone()), service: Some(service.clone()), attrs, ..Default::default() };
        let mut log = JsonLog::with_settings(&settings).unwrap();
        log.write(Stream::Stdout, b"a\nb\n");
        let shared = entries(&service);
        assert_eq!(shared.len(), 2);
        assert_eq!(shared[1]["log"], "b\n");
        assert_eq!(shared[0]["attrs"]["container_name"], "web-1");
        assert_eq!(entries(&own).len(), 2);
    }
}
