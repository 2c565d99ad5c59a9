//! `GET /containers/{id}/stats`: samples of a container's cgroup turned into Docker's
//! `StatsJSON`, one-shot or streamed every second.
//!
//! `precpu_stats` must hold an earlier sample for clients to compute a CPU percentage. Docker
//! waits for its collector's next tick (a second or more per container, moby#29545); berth
//! keeps each container's previous sample as a baseline instead: a request uses the baseline
//! if it is recent, waits only until it is [`MIN_WINDOW`] old if it is too recent, and takes
//! two samples [`MIN_WINDOW`] apart when there is none. So `docker stats --no-stream` for many
//! containers costs one short window in total, not a second per container.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use berth_api::types::{BlkioStatEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats, StatsResponse, ThrottlingData};
use berth_net::counters::{self, IfCounters};
use bytes::Bytes;
use tokio::sync::mpsc;

use super::cgroup_stats::{BlkioEntry, CgroupFs, Sample};
use super::record::{ContainerRecord, Status, ZERO_TIME};
use super::Engine;
use crate::error::EngineError;

/// The shortest CPU window a `precpu_stats` baseline may span (`/proc/stat` counts 10 ms
/// ticks, so shorter windows make percentages jumpy).
pub const MIN_WINDOW: Duration = Duration::from_millis(250);
/// Baselines older than this are not used.
const MAX_AGE: Duration = Duration::from_secs(30);
/// How often a stream sends a sample (Docker's collector interval).
const STREAM_INTERVAL: Duration = Duration::from_secs(1);

/// One sample of a container with the host figures that go with it.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub at: Instant,
    pub read: String,
    pub sample: Sample,
    pub system_cpu: u64,
    pub online_cpus: u32,
    /// Traffic counters by interface name inside the container (`eth0`, ...).
    pub networks: BTreeMap<String, NetworkStats>,
}

/// The cgroup layout and each container's last sample.
#[derive(Default)]
pub struct StatsCache {
    fs: OnceLock<CgroupFs>,
    baselines: Mutex<HashMap<String, Snapshot>>,
}

impl StatsCache {
    /// The host's cgroup layout, detected once.
    pub fn fs(&self) -> &CgroupFs {
        self.fs.get_or_init(CgroupFs::detect)
    }

    fn baseline(&self, id: &str) -> Option<Snapshot> {
        self.baselines.lock().unwrap_or_else(|p| p.into_inner()).get(id).filter(|b| b.at.elapsed() <= MAX_AGE).cloned()
    }

    fn set_baseline(&self, id: &str, s: &Snapshot) {
        self.baselines.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_string(), s.clone());
    }

    /// Drops a removed container's baseline.
    pub fn forget(&self, id: &str) {
        self.baselines.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
    }
}

/// Total host memory, Docker's memory limit of a container without one.
pub fn host_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

fn entries(list: &[BlkioEntry]) -> Option<Vec<BlkioStatEntry>> {
    (!list.is_empty()).then(|| list.iter().map(|e| BlkioStatEntry { major: e.major, minor: e.minor, op: e.op.clone(), value: e.value }).collect())
}

fn cpu_stats(s: &Snapshot) -> CpuStats {
    let c = &s.sample.cpu;
    CpuStats {
        cpu_usage: CpuUsage {
            total_usage: c.total,
            percpu_usage: (!c.percpu.is_empty()).then(|| c.percpu.clone()),
            usage_in_kernelmode: c.system,
            usage_in_usermode: c.user,
        },
        system_cpu_usage: Some(s.system_cpu),
        online_cpus: Some(s.online_cpus),
        throttling_data: ThrottlingData { periods: c.periods, throttled_periods: c.throttled_periods, throttled_time: c.throttled_time },
    }
}

/// Docker's `StatsJSON` for a running container.
pub fn render(rec: &ContainerRecord, cur: &Snapshot, pre: Option<&Snapshot>, host_mem: u64) -> StatsResponse {
    let m = &cur.sample.memory;
    let limit = m.limit.filter(|l| host_mem == 0 || *l <= host_mem).unwrap_or(host_mem);
    StatsResponse {
        name: format!("/{}", rec.name),
        id: rec.id.clone(),
        read: cur.read.clone(),
        preread: pre.map(|p| p.read.clone()).unwrap_or_else(|| ZERO_TIME.into()),
        pids_stats: PidsStats { current: Some(cur.sample.pids), limit: cur.sample.pids_limit },
        blkio_stats: BlkioStats {
            io_service_bytes_recursive: entries(&cur.sample.io_bytes),
            io_serviced_recursive: entries(&cur.sample.io_ops),
            ..Default::default()
        },
        cpu_stats: cpu_stats(cur),
        precpu_stats: pre.map(cpu_stats).unwrap_or_default(),
        memory_stats: MemoryStats { usage: Some(m.usage), max_usage: m.max_usage, stats: Some(m.stats.clone()), failcnt: m.failcnt, limit: Some(limit) },
        networks: cur.networks.clone(),
        ..Default::default()
    }
}

/// What Docker answers for a container that is not running.
pub fn render_stopped(rec: &ContainerRecord) -> StatsResponse {
    StatsResponse { name: format!("/{}", rec.name), id: rec.id.clone(), read: ZERO_TIME.into(), preread: ZERO_TIME.into(), ..Default::default() }
}

fn network_stats(c: IfCounters) -> NetworkStats {
    NetworkStats {
        rx_bytes: c.rx_bytes,
        rx_packets: c.rx_packets,
        rx_errors: c.rx_errors,
        rx_dropped: c.rx_dropped,
        tx_bytes: c.tx_bytes,
        tx_packets: c.tx_packets,
        tx_errors: c.tx_errors,
        tx_dropped: c.tx_dropped,
    }
}

fn live(rec: &ContainerRecord) -> bool {
    matches!(rec.state.status, Status::Running | Status::Paused)
}

impl Engine {
    /// The cgroup of a container, relative to the hierarchy roots.
    pub fn cgroup_rel(&self, id: &str) -> String {
        format!("{}/{}", self.config.cgroup_parent.trim_matches('/'), id)
    }

    /// Samples a running container's cgroup now (`None` when it is gone).
    pub fn sample(&self, id: &str) -> Option<Snapshot> {
        let sample = self.ops.stats.fs().sample(&self.cgroup_rel(id)).ok()?;
        let (system_cpu, online_cpus) = super::cgroup_stats::system_cpu(&std::fs::read_to_string("/proc/stat").unwrap_or_default());
        let read = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        Some(Snapshot { at: Instant::now(), read, sample, system_cpu, online_cpus, networks: self.network_counters(id) })
    }

    /// The counters of a container's interfaces (those of the container whose namespace it
    /// shares with `--network container:`); empty for `host` and `none`.
    fn network_counters(&self, id: &str) -> BTreeMap<String, NetworkStats> {
        let owner = self
            .containers
            .get(id)
            .ok()
            .and_then(|h| h.snapshot().host_config.network_mode.strip_prefix("container:").map(str::to_string))
            .and_then(|target| self.containers.get(&target).ok())
            .map(|h| h.id.clone())
            .unwrap_or_else(|| id.to_string());
        let ends: Vec<(String, String)> = self.net.lock().of_container(&owner).map(|e| (e.ifname.clone(), e.veth.clone())).collect();
        let sysfs = std::path::Path::new(counters::SYSFS_NET);
        ends.into_iter()
            .filter_map(|(ifname, veth)| match counters::container_side(sysfs, &veth) {
                Ok(c) => Some((ifname, network_stats(c))),
                Err(e) => {
                    tracing::debug!(container = %id, "counters of {veth}: {e}");
                    None
                }
            })
            .collect()
    }

    /// A sample and the baseline before it, at least [`MIN_WINDOW`] apart unless `one_shot`.
    async fn sample_pair(&self, id: &str, one_shot: bool) -> Option<(Snapshot, Option<Snapshot>)> {
        let base = self.ops.stats.baseline(id);
        let pre = match base {
            Some(b) if one_shot || b.at.elapsed() >= MIN_WINDOW => Some(b),
            Some(b) => {
                tokio::time::sleep(MIN_WINDOW.saturating_sub(b.at.elapsed())).await;
                Some(b)
            }
            None if one_shot => None,
            None => {
                let first = self.sample(id)?;
                tokio::time::sleep(MIN_WINDOW).await;
                Some(first)
            }
        };
        let cur = self.sample(id)?;
        self.ops.stats.set_baseline(id, &cur);
        Some((cur, pre))
    }

    /// `GET /containers/{id}/stats?stream=0`: one sample with `precpu_stats` filled, unless
    /// `one_shot` (then only if a baseline exists, and without waiting).
    pub async fn stats_once(&self, name: &str, one_shot: bool) -> Result<StatsResponse, EngineError> {
        let h = self.containers.get(name)?;
        let rec = h.snapshot();
        if !live(&rec) {
            return Ok(render_stopped(&rec));
        }
        Ok(match self.sample_pair(&rec.id, one_shot).await {
            Some((cur, pre)) => render(&rec, &cur, pre.as_ref(), host_memory()),
            None => render_stopped(&rec),
        })
    }

    /// `GET /containers/{id}/stats?stream=1`: a sample every second, each with the previous
    /// one as `precpu_stats`, until the container stops or the client goes.
    pub fn stats_stream(self: &Arc<Self>, name: &str) -> Result<mpsc::Receiver<Bytes>, EngineError> {
        let h = self.containers.get(name)?;
        let (tx, rx) = mpsc::channel(4);
        let engine = self.clone();
        tokio::spawn(async move {
            let line = |s: &StatsResponse| Bytes::from(format!("{}\n", serde_json::to_string(s).unwrap_or_default()));
            let rec = h.snapshot();
            let Some((mut prev, pre)) = (if live(&rec) { engine.sample_pair(&rec.id, false).await } else { None }) else {
                let _ = tx.send(line(&render_stopped(&rec))).await;
                return;
            };
            let host_mem = host_memory();
            if tx.send(line(&render(&rec, &prev, pre.as_ref(), host_mem))).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(STREAM_INTERVAL) => {}
                    _ = tx.closed() => return,
                }
                let rec = h.snapshot();
                let cur = if live(&rec) { engine.sample(&rec.id) } else { None };
                let Some(cur) = cur else { return };
                engine.ops.stats.set_baseline(&rec.id, &cur);
                if tx.send(line(&render(&rec, &cur, Some(&prev), host_mem))).await.is_err() {
                    return;
                }
                prev = cur;
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::cgroup_stats::{Cpu, Memory};

    fn rec() -> ContainerRecord {
        serde_json::from_value(serde_json::json!({
            "id": "abc", "name": "web", "created": "", "image": "", "image_id": "", "config": {}, "host_config": {},
            "path": "sh", "args": [], "state": {"status": "running", "pid": 1, "exit_code": 0, "error": "",
            "started_at": "", "finished_at": "", "oom_killed": false},
            "restart_count": 0, "mounts": [], "networking": {}
        }))
        .unwrap()
    }

    fn snap(total: u64, system: u64, limit: Option<u64>) -> Snapshot {
        let sample = Sample {
            cpu: Cpu { total, percpu: vec![total], ..Default::default() },
            memory: Memory { usage: 100, limit, ..Default::default() },
            pids: 2,
            ..Default::default()
        };
        let networks = BTreeMap::from([("eth0".to_string(), NetworkStats { rx_bytes: total, tx_packets: 3, ..Default::default() })]);
        Snapshot { at: Instant::now(), read: format!("t{total}"), sample, system_cpu: system, online_cpus: 2, networks }
    }

    #[test]
    fn samples_render_as_docker_stats_json() {
        let pre = snap(1_000, 10_000, None);
        let cur = snap(3_000, 20_000, None);
        let s = render(&rec(), &cur, Some(&pre), 4096);
        assert_eq!((s.name.as_str(), s.read.as_str(), s.preread.as_str()), ("/web", "t3000", "t1000"));
        assert_eq!(s.cpu_stats.cpu_usage.total_usage, 3_000);
        assert_eq!(s.precpu_stats.system_cpu_usage, Some(10_000));
        assert_eq!(s.cpu_stats.online_cpus, Some(2));
        assert_eq!(s.memory_stats.limit, Some(4096), "no limit reports the host's memory");
        assert_eq!(render(&rec(), &snap(1, 1, Some(1024)), None, 4096).memory_stats.limit, Some(1024));
        assert_eq!(s.pids_stats.current, Some(2));
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["networks"]["eth0"]["rx_bytes"], 3_000);
        assert_eq!(v["networks"]["eth0"]["tx_packets"], 3);
        assert!(v["blkio_stats"]["io_service_bytes_recursive"].is_null());
        let stopped = serde_json::to_value(render_stopped(&rec())).unwrap();
        assert_eq!(stopped["read"], ZERO_TIME);
        assert!(stopped["memory_stats"].as_object().unwrap().is_empty());
        assert!(stopped["precpu_stats"].get("system_cpu_usage").is_none());
    }
}
