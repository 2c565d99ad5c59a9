//! Prometheus metrics (`--metrics-addr`): per-container CPU, memory, block IO, pids,
//! restarts and health; engine-wide container and image counts; an API request latency
//! histogram. Written in the text exposition format (version 0.0.4) by hand: `# HELP` and
//! `# TYPE` lines, then `name{label="value"} number` samples, label values escaped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::health;
use super::record::Status;
use super::Engine;

/// Upper bounds of the latency histogram buckets, in seconds (Prometheus' defaults).
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Clone, Default)]
struct Histogram {
    /// Per-bucket counts (not cumulative).
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

/// API request latencies by method and route template.
#[derive(Default)]
pub struct ApiMetrics {
    series: Mutex<BTreeMap<(String, String), Histogram>>,
}

impl ApiMetrics {
    /// Records one request that took `secs` (until its response headers).
    pub fn observe(&self, method: &str, route: &str, secs: f64) {
        let mut series = self.series.lock().unwrap_or_else(|p| p.into_inner());
        let h = series.entry((method.to_string(), route.to_string())).or_default();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            h.counts[i] += 1;
        }
        h.sum += secs;
        h.count += 1;
    }

    fn write(&self, out: &mut Exposition) {
        let name = "berth_api_request_duration_seconds";
        out.family(name, "histogram", "Time to answer Engine API requests (until the response headers), by route.");
        let series = self.series.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for ((method, route), h) in series {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += h.counts[i];
                out.sample(&format!("{name}_bucket"), &[("method", &method), ("route", &route), ("le", &bound.to_string())], cumulative as f64);
            }
            out.sample(&format!("{name}_bucket"), &[("method", &method), ("route", &route), ("le", "+Inf")], h.count as f64);
            out.sample(&format!("{name}_sum"), &[("method", &method), ("route", &route)], h.sum);
            out.sample(&format!("{name}_count"), &[("method", &method), ("route", &route)], h.count as f64);
        }
    }
}

/// A text exposition being written.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

/// Escapes a label value: backslash, double quote and newline.
pub fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Exposition {
    /// Starts a metric family.
    pub fn family(&mut self, name: &str, typ: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {typ}");
    }

    /// Writes one sample.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
            let _ = write!(self.out, "{{{}}}", parts.join(","));
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Per-container figures of one scrape.
struct Row {
    id: String,
    name: String,
    sample: Option<super::stats::Snapshot>,
    restarts: i64,
    health: Option<String>,
}

impl Engine {
    /// The whole scrape.
    pub fn render_metrics(&self) -> String {
        let mut out = Exposition::default();
        out.family("berth_engine_info", "gauge", "The engine's version.");
        out.sample("berth_engine_info", &[("version", berth_api::ENGINE_VERSION)], 1.0);
        let recs: Vec<_> = self.containers.all().iter().map(|h| h.snapshot()).collect();
        out.family("berth_containers", "gauge", "Containers by state.");
        for st in [Status::Created, Status::Running, Status::Paused, Status::Restarting, Status::Removing, Status::Exited, Status::Dead] {
            let n = recs.iter().filter(|r| r.state.status == st).count();
            out.sample("berth_containers", &[("state", st.as_str())], n as f64);
        }
        out.family("berth_images", "gauge", "Images in the store.");
        out.sample("berth_images", &[], self.images.list().map(|l| l.len()).unwrap_or(0) as f64);
        let rows: Vec<Row> = recs
            .iter()
            .map(|r| Row {
                id: r.id.clone(),
                name: r.name.clone(),
                sample: matches!(r.state.status, Status::Running | Status::Paused).then(|| self.sample(&r.id)).flatten(),
                restarts: r.restart_count,
                health: health::HealthSpec::of(&r.config).and(r.health.as_ref()).map(|h| h.status.clone()),
            })
            .collect();
        write_containers(&mut out, &rows);
        self.ops.metrics.write(&mut out);
        out.finish()
    }
}

fn write_containers(out: &mut Exposition, rows: &[Row]) {
    type Figure = fn(&super::stats::Snapshot) -> f64;
    let figures: [(&str, &str, &str, Figure); 6] = [
        ("berth_container_cpu_seconds_total", "counter", "CPU time used by the container.", |s| s.sample.cpu.total as f64 / 1e9),
        ("berth_container_memory_usage_bytes", "gauge", "Memory used, inactive page cache excluded (what docker stats shows).", |s| {
            s.sample.memory.working_set() as f64
        }),
        ("berth_container_memory_limit_bytes", "gauge", "Memory limit (host memory when unlimited).", |s| {
            s.sample.memory.limit.unwrap_or_else(super::stats::host_memory) as f64
        }),
        ("berth_container_blkio_read_bytes_total", "counter", "Bytes read from block devices.", |s| io(s, 'r')),
        ("berth_container_blkio_write_bytes_total", "counter", "Bytes written to block devices.", |s| io(s, 'w')),
        ("berth_container_pids", "gauge", "Processes and threads in the container.", |s| s.sample.pids as f64),
    ];
    for (name, typ, help, figure) in figures {
        out.family(name, typ, help);
        for r in rows {
            if let Some(s) = &r.sample {
                out.sample(name, &[("id", &r.id), ("name", &r.name)], figure(s));
            }
        }
    }
    out.family("berth_container_restarts_total", "counter", "Restarts by the restart policy or --health-on-failure.");
    for r in rows {
        out.sample("berth_container_restarts_total", &[("id", &r.id), ("name", &r.name)], r.restarts as f64);
    }
    out.family("berth_container_health", "gauge", "1 for the container's current health status.");
    for r in rows {
        if let Some(current) = &r.health {
            for st in [health::STARTING, health::HEALTHY, health::UNHEALTHY] {
                let v = if current == st { 1.0 } else { 0.0 };
                out.sample("berth_container_health", &[("id", &r.id), ("name", &r.name), ("status", st)], v);
            }
        }
    }
}

fn io(s: &super::stats::Snapshot, op: char) -> f64 {
    s.sample.io_bytes.iter().filter(|e| e.op.to_ascii_lowercase().starts_with(op)).map(|e| e.value as f64).sum()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = ApiMetrics::default();
        m.observe("GET", "/containers/json", 0.003);
        m.observe("GET", "/containers/json", 0.2);
        m.observe("GET", "/containers/json", 30.0);
        let mut out = Exposition::default();
        m.write(&mut out);
        let text = out.finish();
        assert!(text.contains("# TYPE berth_api_request_duration_seconds histogram"));
        assert!(text.contains("berth_api_request_duration_seconds_bucket{method=\"GET\",route=\"/containers/json\",le=\"0.005\"} 1\n"));
        assert!(text.contains("le=\"0.25\"} 2\n"));
        assert!(text.contains("le=\"10\"} 2\n"));
        assert!(text.contains("le=\"+Inf\"} 3\n"));
        assert!(text.contains("berth_api_request_duration_seconds_count{method=\"GET\",route=\"/containers/json\"} 3\n"));
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("m", &[("name", "a\"b\\c\nd")], 1.5);
        assert_eq!(out.finish(), "m{name=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    }
}
