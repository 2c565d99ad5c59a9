//! Stats (docker stats and the API) and the Prometheus endpoint.

use std::io::{Read, Write};
use std::time::Duration;

use berth_e2e::{wait_until, Client, Daemon};
use serde_json::Value;

use super::support::*;

const MIB: f64 = 1024.0 * 1024.0;
/// What the memory test container puts in its /dev/shm (tmpfs: charged to its cgroup).
const FILL_MIB: f64 = 40.0;

/// `40.2MiB` (docker's binary units) in bytes.
fn parse_size(s: &str) -> f64 {
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let mult = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => MIB,
        "GiB" => MIB * 1024.0,
        _ => panic!("unit {unit:?} in {s:?}"),
    };
    num.parse::<f64>().unwrap() * mult
}

/// Starts a busy container and one holding 40 MiB.
fn start_load(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["run", "-d", "--name", "busy", "busybox", "sh", "-c", "while :; do :; done"]);
    d.ok(c, &["run", "-d", "--name", "mem", "busybox", "sh", "-c", "head -c 41943040 /dev/zero > /dev/shm/fill && touch /tmp/done; exec sleep 1000"]);
    wait_until("fill written", Duration::from_secs(30), || d.run(c, &["exec", "mem", "test", "-f", "/tmp/done"]).status.success());
}

pub fn stats_cpu_and_memory(d: &mut Daemon, c: Client) {
    start_load(d, c);
    d.ok(c, &["run", "-d", "--name", "gone", "busybox", "true"]);
    wait_until("gone exited", Duration::from_secs(10), || inspect(d, c, "gone", "{{.State.Status}}") == "exited");
    let out = d.ok(c, &["stats", "--no-stream", "--format", "{{.Name}}|{{.CPUPerc}}|{{.MemUsage}}|{{.PIDs}}"]);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 2, "{out}");
    for r in &rows {
        let cpu: f64 = r[1].trim_end_matches('%').parse().unwrap();
        let mem = parse_size(r[2].split(" / ").next().unwrap());
        match r[0] {
            "busy" => assert!(cpu > 5.0, "busy at {cpu}%: {out}"),
            "mem" => {
                assert!((mem - FILL_MIB * MIB).abs() < 0.1 * FILL_MIB * MIB, "mem uses {} MiB: {out}", mem / MIB);
                assert!(cpu < 20.0, "{out}");
            }
            other => panic!("unexpected row {other}"),
        }
        assert!(r[3].parse::<u64>().unwrap() >= 1);
    }
    // The API: one sample with precpu filled, cgroup figures, an empty networks map.
    let r = d.api("GET", "/containers/busy/stats?stream=0", None);
    assert_eq!(r.status, 200);
    let s = r.json();
    assert_eq!(s["name"], "/busy");
    assert!(s["precpu_stats"]["system_cpu_usage"].as_u64().unwrap() < s["cpu_stats"]["system_cpu_usage"].as_u64().unwrap());
    assert!(s["cpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap() > s["precpu_stats"]["cpu_usage"]["total_usage"].as_u64().unwrap());
    assert!(s["cpu_stats"]["online_cpus"].as_u64().unwrap() >= 1);
    assert!(s["memory_stats"]["limit"].as_u64().unwrap() > 0);
    assert!(s["pids_stats"]["current"].as_u64().unwrap() >= 1);
    // The container is on the default bridge: its one interface is reported.
    assert!(s["networks"]["eth0"]["rx_bytes"].as_u64().is_some(), "{}", s["networks"]);
    let stats = &s["memory_stats"]["stats"];
    assert!(stats.get("total_inactive_file").is_some() || stats.get("inactive_file").is_some(), "{stats}");
    // A stopped container: Docker's zero sample.
    let s = d.api("GET", "/containers/gone/stats?stream=0", None).json();
    assert_eq!(s["read"], "0001-01-01T00:00:00Z");
    // A stream: a sample a second, ending when the container stops.
    d.ok(c, &["run", "-d", "--name", "brief", "busybox", "sleep", "2.5"]);
    let r = d.api("GET", "/containers/brief/stats", None);
    let samples: Vec<Value> = String::from_utf8_lossy(&r.body).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(samples.len() >= 2, "{} samples", samples.len());
    assert_eq!(samples[1]["preread"], samples[0]["read"]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"));
    raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// The value of the sample whose name and labels start with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

pub fn metrics_endpoint_reports_what_runs() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let d = Daemon::start_with(&["--metrics-addr", &addr]);
    let c = Client::Docker;
    start_load(&d, c);
    d.ok(c, &["run", "-d", "--name", "hc", "--health-cmd", "true", "--health-interval", "200ms", "busybox", "sleep", "1000"]);
    d.ok(c, &["run", "-d", "--name", "flaky", "--restart", "on-failure:1", "busybox", "sh", "-c", "exit 1"]);
    d.ok(c, &["create", "--name", "idle", "busybox", "true"]);
    wait_until("hc healthy", Duration::from_secs(20), || inspect(&d, c, "hc", "{{.State.Health.Status}}") == "healthy");
    wait_until("flaky done", Duration::from_secs(20), || inspect(&d, c, "flaky", "{{.State.Status}} {{.RestartCount}}") == "exited 1");
    let busy = inspect(&d, c, "busy", "{{.Id}}");
    let text = scrape(port);
    assert!(text.contains("# TYPE berth_container_cpu_seconds_total counter"), "{text}");
    let ps = d.ok(c, &["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(metric(&text, "berth_containers{state=\"running\"}"), Some(3.0), "{ps}\n{text}");
    assert_eq!(metric(&text, "berth_containers{state=\"exited\"}"), Some(1.0));
    assert_eq!(metric(&text, "berth_containers{state=\"created\"}"), Some(1.0));
    assert_eq!(metric(&text, "berth_images "), Some(1.0));
    let label = |n: &str| format!("{{id=\"{}\",name=\"{n}\"}}", inspect(&d, c, n, "{{.Id}}"));
    let cpu1 = metric(&text, &format!("berth_container_cpu_seconds_total{}", label("busy"))).unwrap();
    assert!(cpu1 > 0.0);
    let mem = metric(&text, &format!("berth_container_memory_usage_bytes{}", label("mem"))).unwrap();
    assert!((mem - FILL_MIB * MIB).abs() < 0.1 * FILL_MIB * MIB, "mem {}", mem / MIB);
    assert!(metric(&text, &format!("berth_container_pids{}", label("busy"))).unwrap() >= 1.0);
    assert_eq!(metric(&text, &format!("berth_container_restarts_total{}", label("flaky"))), Some(1.0));
    assert_eq!(metric(&text, &format!("berth_container_health{{id=\"{}\",name=\"hc\",status=\"healthy\"}}", inspect(&d, c, "hc", "{{.Id}}"))), Some(1.0));
    assert!(metric(&text, &format!("berth_container_memory_usage_bytes{}", label("idle"))).is_none(), "no figures for a stopped container");
    let count = metric(&text, "berth_api_request_duration_seconds_count{method=\"GET\",route=\"/containers/{id}/json\"}").unwrap();
    assert!(count >= 5.0, "{count}");
    assert!(metric(&text, "berth_api_request_duration_seconds_bucket{method=\"GET\",route=\"/containers/{id}/json\",le=\"+Inf\"}") == Some(count));
    // CPU keeps counting for the busy container.
    wait_until("cpu counter grows", Duration::from_secs(10), || {
        metric(&scrape(port), &format!("berth_container_cpu_seconds_total{{id=\"{busy}\",name=\"busy\"}}")).unwrap_or(0.0) > cpu1 + 0.1
    });
    d.assert_no_leaks_after_cleanup();
}
