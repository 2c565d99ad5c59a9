//! The event bus behind `GET /events`: a broadcast channel for followers plus a bounded
//! history for `since`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use berth_api::types::{Event, EventActor};
use tokio::sync::broadcast;

/// How many past events `since` can reach.
const HISTORY: usize = 1024;

/// Publishes engine events.
pub struct EventBus {
    tx: broadcast::Sender<Event>,
    history: Mutex<VecDeque<Event>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self { tx: broadcast::channel(1024).0, history: Mutex::new(VecDeque::new()) }
    }
}

impl EventBus {
    /// Publishes an event about `id` of kind `typ` (container, image, volume, network).
    pub fn publish(&self, typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let legacy = matches!(typ, "container" | "image");
        let ev = Event {
            typ: typ.to_string(),
            action: action.to_string(),
            actor: EventActor { id: id.to_string(), attributes: attributes.clone() },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: if typ == "container" { attributes.get("image").cloned() } else { None },
        };
        // Sending under the history lock keeps subscribe() free of gaps and duplicates.
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if h.len() >= HISTORY {
            h.pop_front();
        }
        h.push_back(ev.clone());
        let _ = self.tx.send(ev);
    }

    /// Subscribes to future events and returns the past ones.
    pub fn subscribe(&self) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        (h.iter().cloned().collect(), self.tx.subscribe())
    }
}
