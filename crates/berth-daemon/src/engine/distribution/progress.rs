//! Progress of pulls and pushes in Docker's JSON message stream: status lines, per-layer
//! lines with `progressDetail` and the `progress` bar text dockerd renders (200 columns), and
//! throttling so a fast transfer does not flood the client.

use std::time::{Duration, Instant};

use berth_api::types::JsonMessage;
use serde_json::json;
use tokio::sync::mpsc;

/// Minimum time between two byte-progress lines of one layer.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Where progress goes: the response stream of the request. Cheap to clone.
#[derive(Clone)]
pub struct Progress {
    tx: mpsc::UnboundedSender<JsonMessage>,
}

impl Progress {
    /// A progress sink and the receiving end the response streams from.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<JsonMessage>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self { tx }, rx)
    }

    fn send(&self, m: JsonMessage) {
        // A client that went away is noticed through `closed`; a failed send is not an error.
        let _ = self.tx.send(m);
    }

    /// Whether the client stopped listening (the transfer should stop).
    pub fn closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// `{"status": text}`, or with an `id` (`latest: Pulling from …`).
    pub fn message(&self, id: Option<&str>, status: &str) {
        let mut m = JsonMessage::status(status);
        m.id = id.map(str::to_string);
        self.send(m);
    }

    /// A layer's state: `{"status", "progressDetail": {}, "id"}`.
    pub fn layer(&self, id: &str, status: &str) {
        let mut m = JsonMessage::status(status);
        m.id = Some(id.to_string());
        m.progress_detail = Some(json!({}));
        self.send(m);
    }

    /// A layer's byte progress (`Downloading`, `Extracting`, `Pushing`).
    pub fn bytes(&self, id: &str, status: &str, current: u64, total: u64) {
        let mut m = JsonMessage::status(status);
        m.id = Some(id.to_string());
        m.progress_detail = Some(json!({"current": current, "total": total}));
        m.progress = Some(bar(current, total));
        self.send(m);
    }

    /// An `aux` payload (push's `{"Tag","Digest","Size"}`).
    pub fn aux(&self, value: serde_json::Value) {
        self.send(JsonMessage { aux: Some(value), progress_detail: Some(json!({})), ..Default::default() });
    }

    /// An in-stream error (both `error` and `errorDetail`).
    pub fn error(&self, message: &str) {
        self.send(JsonMessage::error(message, None));
    }
}

/// Byte progress of one layer, emitted at most every [`PROGRESS_EVERY`].
pub struct Throttle {
    progress: Progress,
    id: String,
    status: &'static str,
    total: u64,
    last: Option<Instant>,
}

impl Throttle {
    /// Progress of `id` under `status` towards `total` bytes.
    pub fn new(progress: Progress, id: &str, status: &'static str, total: u64) -> Self {
        Self { progress, id: id.to_string(), status, total, last: None }
    }

    /// Reports `current` bytes if enough time passed since the last report (or at the end).
    pub fn update(&mut self, current: u64) {
        let now = Instant::now();
        let due = self.last.is_none_or(|t| now.duration_since(t) >= PROGRESS_EVERY) || current >= self.total;
        if due {
            self.last = Some(now);
            self.progress.bytes(&self.id, self.status, current, self.total);
        }
    }
}

/// Go's `units.HumanSize`: decimal units, four significant digits (`48.61kB`, `3.642MB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    let int_digits = if v < 1.0 { 1 } else { (v.log10().floor() as usize) + 1 };
    let decimals = 4usize.saturating_sub(int_digits);
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{}", UNITS[unit])
}

/// dockerd's `JSONProgress.String()` at 200 columns: `[=====>      ]  1.5MB/3MB`.
pub fn bar(current: u64, total: u64) -> String {
    if current == 0 && total == 0 {
        return String::new();
    }
    if total == 0 {
        return format!("{:>8}", human_size(current));
    }
    let pct = ((current as f64 / total as f64 * 100.0) as usize / 2).min(50);
    let bar = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    let numbers = if current > total { format!("{:>8}", human_size(current)) } else { format!("{:>8}/{}", human_size(current), human_size(total)) };
    bar + &numbers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(5), "5B");
        assert_eq!(human_size(48606), "48.61kB");
        assert_eq!(human_size(3642247), "3.642MB");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(200_000_000), "200MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }

    #[test]
    fn bars_like_dockerd() {
        assert_eq!(bar(0, 0), "");
        let b = bar(48606, 3642247);
        assert_eq!(b, format!("[>{}]  48.61kB/3.642MB", " ".repeat(50)));
        let full = bar(10, 10);
        assert_eq!(full, format!("[{}>]      10B/10B", "=".repeat(50)));
        assert_eq!(bar(20, 10), format!("[{}>]      20B", "=".repeat(50)));
    }

    #[test]
    fn messages_have_dockerd_shapes() {
        let (p, mut rx) = Progress::channel();
        p.message(Some("latest"), "Pulling from library/busybox");
        p.layer("abc", "Pull complete");
        p.bytes("abc", "Downloading", 1, 2);
        p.aux(json!({"Tag": "v1"}));
        let line = |m: JsonMessage| serde_json::to_string(&m).unwrap_or_default();
        let got: Vec<String> = std::iter::from_fn(|| rx.try_recv().ok()).map(line).collect();
        assert_eq!(got[0], r#"{"status":"Pulling from library/busybox","id":"latest"}"#);
        assert_eq!(got[1], r#"{"status":"Pull complete","id":"abc","progressDetail":{}}"#);
        assert!(got[2].contains(r#""progressDetail":{"current":1,"total":2}"#));
        assert!(got[3].contains(r#""aux":{"Tag":"v1"}"#));
        let mut t = Throttle::new(p.clone(), "x", "Downloading", 100);
        t.update(1);
        t.update(2);
        t.update(100);
        assert_eq!(std::iter::from_fn(|| rx.try_recv().ok()).count(), 2, "the second update is throttled, the last is not");
        drop(rx);
        assert!(p.closed());
    }
}
