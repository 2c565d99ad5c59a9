//! Helpers shared by the ops scenarios.

use berth_e2e::{Client, Daemon};
use serde_json::Value;

/// `inspect -f FORMAT NAME`, trimmed.
pub fn inspect(d: &Daemon, c: Client, name: &str, format: &str) -> String {
    d.ok(c, &["inspect", "-f", format, name]).trim().to_string()
}

/// The container's JSON through the API.
pub fn inspect_json(d: &Daemon, name: &str) -> Value {
    let r = d.api("GET", &format!("/containers/{name}/json"), None);
    assert_eq!(r.status, 200, "inspect {name}: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// Seconds since the epoch, with a fraction, as `since`/`until` take them.
pub fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The events between `since` and now matching `filters` (a JSON object), from the API.
pub fn events(d: &Daemon, since: f64, filters: &str) -> Vec<Value> {
    let q = format!("/events?since={since:.3}&until={:.3}&filters={}", now(), percent(filters));
    let r = d.api("GET", &q, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    String::from_utf8_lossy(&r.body).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Percent-encodes a query value.
pub fn percent(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The actions of `events`, in order.
pub fn actions(events: &[Value]) -> Vec<String> {
    events.iter().map(|e| e["Action"].as_str().unwrap_or_default().to_string()).collect()
}
