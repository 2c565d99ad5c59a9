//! Rendering of the daemon's JSON message streams (pull, push, load, build, import) the way
//! docker's `jsonmessage.DisplayJSONMessagesStream` does: on a terminal, per-layer progress
//! lines are updated in place; elsewhere progress bars are left out.

use std::collections::HashMap;
use std::io::Write;

use berth_api::types::JsonMessage;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::error::{CliError, Result};

/// Reads the next data chunk of a response body (`None` at the end).
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// Splits a byte stream of concatenated JSON values.
#[derive(Default)]
pub struct JsonSplitter {
    buf: Vec<u8>,
}

impl JsonSplitter {
    /// Feeds bytes; returns the complete messages so far.
    pub fn push<T: serde::de::DeserializeOwned>(&mut self, data: &[u8]) -> Vec<std::result::Result<T, String>> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.buf).into_iter::<T>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                Some(Ok(v)) => {
                    consumed = stream.byte_offset();
                    out.push(Ok(v));
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    out.push(Err(e.to_string()));
                    consumed = self.buf.len();
                    break;
                }
                None => break,
            }
        }
        self.buf.drain(..consumed);
        out
    }
}

/// Where a stream goes.
pub struct Renderer<W: Write> {
    out: W,
    tty: bool,
    quiet: bool,
    ids: HashMap<String, usize>,
    /// Terminal columns for progress bars (0: unknown, drawn as for 200).
    width: u16,
    /// Every `aux` payload seen (build's image id, push's digest).
    pub aux: Vec<serde_json::Value>,
}

/// The progress bar of a message, drawn here from `progressDetail` for a terminal `width`
/// columns wide (0: unknown), as docker's `JSONProgress.String()` does: a 50-column bar when
/// the terminal is wider than 110 columns, then `current/total`; the daemon's own `progress`
/// text only when there are no numbers.
pub fn progress_text(jm: &JsonMessage, width: u16) -> String {
    let detail = jm.progress_detail.as_ref();
    let num = |k: &str| detail.and_then(|d| d.get(k)).and_then(|v| v.as_f64()).unwrap_or(0.0);
    let (current, total) = (num("current"), num("total"));
    if current <= 0.0 && total <= 0.0 {
        return jm.progress.clone().unwrap_or_default();
    }
    let human = super::format::human_size;
    if total <= 0.0 {
        return format!("{:>8}", human(current));
    }
    let width = if width == 0 { 200 } else { width };
    let pct = (((current / total) * 100.0) as usize / 2).min(50);
    let bar = if width > 110 { format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct)) } else { String::new() };
    if current > total {
        format!("{bar}{:>8}", human(current))
    } else {
        format!("{bar}{:>8}/{}", human(current), human(total))
    }
}

/// Columns of the terminal on stdout or stderr (0 when neither is one).
pub fn terminal_width() -> u16 {
    use std::os::fd::AsFd;
    let out = std::io::stdout();
    let err = std::io::stderr();
    rustix::termios::tcgetwinsize(out.as_fd()).or_else(|_| rustix::termios::tcgetwinsize(err.as_fd())).map(|w| w.ws_col).unwrap_or(0)
}

impl<W: Write> Renderer<W> {
    /// A renderer writing to `out`; `tty` enables in-place progress, `quiet` prints nothing.
    pub fn new(out: W, tty: bool, quiet: bool) -> Self {
        Self { out, tty, quiet, ids: HashMap::new(), width: 0, aux: Vec::new() }
    }

    /// Draws progress bars for a terminal `width` columns wide.
    pub fn with_width(mut self, width: u16) -> Self {
        self.width = width;
        self
    }

    /// Shows one message; an in-stream error becomes `Err` with `errorDetail.code` (or 1).
    pub fn display(&mut self, jm: &JsonMessage) -> Result<()> {
        if let Some(err) = jm.error.clone().or_else(|| jm.error_detail.as_ref().map(|d| d.message.clone())) {
            let code = jm.error_detail.as_ref().and_then(|d| d.code).filter(|c| *c > 0).unwrap_or(1);
            return Err(CliError::Code { msg: err, code: code as i32 });
        }
        if let Some(aux) = &jm.aux {
            self.aux.push(aux.clone());
            return Ok(());
        }
        if self.quiet {
            return Ok(());
        }
        let has_progress = jm.progress_detail.is_some();
        let progress = progress_text(jm, self.width);
        let mut diff = 0;
        let id = jm.id.clone().unwrap_or_default();
        if !id.is_empty() && has_progress {
            let n = self.ids.len();
            let line = *self.ids.entry(id.clone()).or_insert(n);
            if line == n && self.tty {
                writeln!(self.out)?;
            }
            diff = self.ids.len() - line;
            if self.tty {
                write!(self.out, "\x1b[{diff}A")?;
            }
        } else {
            self.ids.clear();
        }
        let mut endl = "";
        if self.tty && jm.stream.is_none() && has_progress {
            write!(self.out, "\x1b[2K\r")?;
            endl = "\r";
        } else if has_progress && !progress.is_empty() {
            return Ok(());
        }
        if !id.is_empty() {
            write!(self.out, "{id}: ")?;
        }
        let status = jm.status.clone().unwrap_or_default();
        if has_progress && self.tty {
            write!(self.out, "{status} {progress}{endl}")?;
        } else if let Some(s) = &jm.stream {
            write!(self.out, "{s}{endl}")?;
        } else {
            writeln!(self.out, "{status}{endl}")?;
        }
        if diff > 0 && self.tty {
            write!(self.out, "\x1b[{diff}B")?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// Renders a whole JSON message stream; returns the `aux` payloads.
pub async fn render<W: Write>(resp: hyper::Response<Incoming>, out: W, tty: bool, quiet: bool) -> Result<Vec<serde_json::Value>> {
    let mut body = resp.into_body();
    let mut split = JsonSplitter::default();
    let mut r = Renderer::new(out, tty, quiet).with_width(if tty { terminal_width() } else { 0 });
    while let Some(chunk) = next_chunk(&mut body).await? {
        for msg in split.push::<JsonMessage>(&chunk) {
            let msg = msg.map_err(|e| CliError::msg(format!("unexpected answer from daemon: {e}")))?;
            r.display(&msg)?;
        }
    }
    Ok(r.aux)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(lines: &str, tty: bool) -> (String, Option<String>) {
        let mut split = JsonSplitter::default();
        let mut r = Renderer::new(Vec::new(), tty, false);
        let mut err = None;
        for m in split.push::<JsonMessage>(lines.as_bytes()) {
            if let Err(e) = m.map_err(CliError::Msg).and_then(|m| r.display(&m)) {
                err = Some(e.to_string());
            }
        }
        (String::from_utf8_lossy(&r.out).to_string(), err)
    }

    #[test]
    fn non_terminal_skips_progress_bars() {
        let stream = r#"{"status":"Pulling from library/busybox","id":"latest"}
{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}{"status":"Downloading","progressDetail":{"current":10,"total":100},"progress":"[=>  ] 10B/100B","id":"abc"}
{"status":"Pull complete","progressDetail":{},"id":"abc"}
{"status":"Digest: sha256:00"}
{"stream":"Loaded image: busybox:latest\n"}"#;
        let (out, err) = show(stream, false);
        assert_eq!(err, None);
        assert_eq!(out, "latest: Pulling from library/busybox\nabc: Pulling fs layer\nabc: Pull complete\nDigest: sha256:00\nLoaded image: busybox:latest\n");
    }

    #[test]
    fn terminal_draws_bars_from_progress_detail() {
        let line = r#"{"status":"Downloading","progressDetail":{"current":48606,"total":3642247},"progress":"ignored","id":"abc"}"#;
        let jm: JsonMessage = serde_json::from_str(line).unwrap_or_default();
        assert_eq!(progress_text(&jm, 120), format!("[>{}]  48.61kB/3.642MB", " ".repeat(50)));
        assert_eq!(progress_text(&jm, 80), " 48.61kB/3.642MB");
        let half: JsonMessage = serde_json::from_str(r#"{"progressDetail":{"current":50,"total":100}}"#).unwrap_or_default();
        assert_eq!(progress_text(&half, 0), format!("[{}>{}]      50B/100B", "=".repeat(25), " ".repeat(25)));
        let plain: JsonMessage = serde_json::from_str(r#"{"progressDetail":{},"progress":"text"}"#).unwrap_or_default();
        assert_eq!(progress_text(&plain, 200), "text");
        let mut r = Renderer::new(Vec::new(), true, false).with_width(120);
        for l in [r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#, line, r#"{"status":"Pull complete","progressDetail":{},"id":"abc"}"#] {
            let m: JsonMessage = serde_json::from_str(l).unwrap_or_default();
            assert!(r.display(&m).is_ok());
        }
        let out = String::from_utf8_lossy(&r.out).to_string();
        assert!(out.contains("\x1b[1A\x1b[2K\rabc: Downloading [>"), "{out:?}");
        assert!(out.contains("abc: Pull complete"), "{out:?}");
    }

    #[test]
    fn errors_carry_codes() {
        let (_, err) = show(r#"{"errorDetail":{"code":3,"message":"boom"},"error":"boom"}"#, false);
        assert_eq!(err.as_deref(), Some("boom"));
        let mut r = Renderer::new(Vec::new(), false, false);
        let m = JsonMessage::error("x", Some(7));
        assert!(matches!(r.display(&m), Err(CliError::Code { code: 7, .. })));
    }

    #[test]
    fn splitter_handles_partial_values() {
        let mut s = JsonSplitter::default();
        assert!(s.push::<serde_json::Value>(br#"{"a":"#).is_empty());
        let got = s.push::<serde_json::Value>(b"1}\n{\"b\":2}");
        assert_eq!(got.len(), 2);
    }
}
