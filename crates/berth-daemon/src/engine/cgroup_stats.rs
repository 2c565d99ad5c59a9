//! Reading a container's resource usage from cgroupfs, v1 (one hierarchy per controller, as
//! on this hybrid host) or v2 (one unified hierarchy), into one [`Sample`]. The cgroup root is a
//! parameter ([`CgroupFs`]), so the parsers are tested on a temp dir standing in for
//! `/sys/fs/cgroup`.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// CPU counters in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cpu {
    pub total: u64,
    /// Per-CPU usage (v1 only).
    pub percpu: Vec<u64>,
    pub user: u64,
    pub system: u64,
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// Memory counters in bytes; `stats` holds `memory.stat` as is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    pub usage: u64,
    pub max_usage: Option<u64>,
    /// `None` when unlimited.
    pub limit: Option<u64>,
    pub failcnt: Option<u64>,
    pub stats: BTreeMap<String, u64>,
}

impl Memory {
    /// Usage without the inactive page cache, as the docker CLI computes it
    /// (`total_inactive_file` on v1, `inactive_file` on v2).
    pub fn working_set(&self) -> u64 {
        let inactive = self.stats.get("total_inactive_file").or_else(|| self.stats.get("inactive_file")).copied().unwrap_or(0);
        if inactive < self.usage {
            self.usage - inactive
        } else {
            self.usage
        }
    }
}

/// One blkio counter (`op` is `Read`/`Write`/... on v1, `read`/`write` on v2, as Docker).
#[derive(Debug, Clone, PartialEq)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

/// Everything read for one container at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub cpu: Cpu,
    pub memory: Memory,
    pub io_bytes: Vec<BlkioEntry>,
    pub io_ops: Vec<BlkioEntry>,
    pub pids: u64,
    pub pids_limit: Option<u64>,
}

/// Where the cgroup hierarchies are mounted.
#[derive(Debug, Clone)]
pub enum CgroupFs {
    /// Controller name to mount point.
    V1(HashMap<String, PathBuf>),
    /// The unified hierarchy's mount point.
    V2(PathBuf),
}

const V1_CONTROLLERS: &[&str] = &["cpu", "cpuacct", "memory", "blkio", "pids"];

impl CgroupFs {
    /// The host's layout, from `/proc/self/mountinfo` (v2 when `/sys/fs/cgroup` is unified).
    pub fn detect() -> CgroupFs {
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            return CgroupFs::V2(PathBuf::from("/sys/fs/cgroup"));
        }
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut mounts = parse_v1_mounts(&info);
        for c in V1_CONTROLLERS {
            mounts.entry(c.to_string()).or_insert_with(|| PathBuf::from("/sys/fs/cgroup").join(c));
        }
        CgroupFs::V1(mounts)
    }

    /// Whether this is the unified hierarchy.
    pub fn is_v2(&self) -> bool {
        matches!(self, CgroupFs::V2(_))
    }

    /// Reads the cgroup at `rel` (relative to each hierarchy's root, e.g. `berth/<id>`).
    pub fn sample(&self, rel: &str) -> std::io::Result<Sample> {
        let rel = rel.trim_start_matches('/');
        match self {
            CgroupFs::V2(root) => sample_v2(&root.join(rel)),
            CgroupFs::V1(mounts) => {
                let dir = |c: &str| mounts.get(c).map(|m| m.join(rel)).unwrap_or_default();
                sample_v1(&dir("cpuacct"), &dir("cpu"), &dir("memory"), &dir("blkio"), &dir("pids"))
            }
        }
    }
}

/// Removes the (empty) cgroup `rel` from every hierarchy, v1 and v2: what a shim that was
/// killed could not clean up. `rmdir` only, so a cgroup with processes stays.
pub fn remove_cgroup(rel: &str) {
    let rel = rel.trim_start_matches('/');
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in info.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        if !matches!(post.split_whitespace().next(), Some("cgroup" | "cgroup2")) {
            continue;
        }
        if let Some(mount_point) = pre.split_whitespace().nth(4) {
            let dir = Path::new(mount_point).join(rel);
            if dir.is_dir() {
                let _ = std::fs::remove_dir(&dir);
            }
        }
    }
}

/// Controller mount points of the v1 hierarchies in a mountinfo text.
fn parse_v1_mounts(mountinfo: &str) -> HashMap<String, PathBuf> {
    let mut out = HashMap::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else { continue };
        let mut post = post.split_whitespace();
        if post.next() != Some("cgroup") {
            continue;
        }
        let (Some(_source), Some(opts)) = (post.next(), post.next()) else { continue };
        let Some(mount_point) = pre.split_whitespace().nth(4) else { continue };
        for opt in opts.split(',') {
            if V1_CONTROLLERS.contains(&opt) {
                out.entry(opt.to_string()).or_insert_with(|| PathBuf::from(mount_point));
            }
        }
    }
    out
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn read_u64(path: &Path) -> Option<u64> {
    read(path)?.trim().parse().ok()
}

/// `key value` lines (memory.stat, cpu.stat, cpuacct.stat).
fn flat_keyed(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_string(), it.next()?.parse().ok()?))
        })
        .collect()
}

fn keyed(path: &Path) -> BTreeMap<String, u64> {
    read(path).map(|t| flat_keyed(&t)).unwrap_or_default()
}

/// `8:0 Read 4096` lines; the `Total` line is kept out (Docker lists per-device entries).
fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (dev, op, value) = (it.next()?, it.next()?, it.next()?);
            let (major, minor) = dev.split_once(':')?;
            Some(BlkioEntry { major: major.parse().ok()?, minor: minor.parse().ok()?, op: op.to_string(), value: value.parse().ok()? })
        })
        .collect()
}

/// The first non-empty blkio file of `names` (CFQ, then throttling, then BFQ counters).
fn first_blkio(dir: &Path, names: &[&str]) -> Vec<BlkioEntry> {
    names.iter().map(|n| read(&dir.join(n)).map(|t| blkio_v1(&t)).unwrap_or_default()).find(|v| !v.is_empty()).unwrap_or_default()
}

const NANOS_PER_TICK: u64 = 1_000_000_000 / 100;

fn sample_v1(cpuacct: &Path, cpu: &Path, memory: &Path, blkio: &Path, pids: &Path) -> std::io::Result<Sample> {
    let total = read_u64(&cpuacct.join("cpuacct.usage"))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no cgroup at {}", cpuacct.display())))?;
    let ticks = keyed(&cpuacct.join("cpuacct.stat"));
    let throttling = keyed(&cpu.join("cpu.stat"));
    let percpu = read(&cpuacct.join("cpuacct.usage_percpu")).unwrap_or_default().split_whitespace().filter_map(|v| v.parse().ok()).collect();
    let limit = read_u64(&memory.join("memory.limit_in_bytes")).filter(|l| *l < (1 << 62));
    Ok(Sample {
        cpu: Cpu {
            total,
            percpu,
            user: ticks.get("user").copied().unwrap_or(0) * NANOS_PER_TICK,
            system: ticks.get("system").copied().unwrap_or(0) * NANOS_PER_TICK,
            periods: throttling.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: throttling.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: throttling.get("throttled_time").copied().unwrap_or(0),
        },
        memory: Memory {
            usage: read_u64(&memory.join("memory.usage_in_bytes")).unwrap_or(0),
            max_usage: read_u64(&memory.join("memory.max_usage_in_bytes")),
            limit,
            failcnt: read_u64(&memory.join("memory.failcnt")),
            stats: keyed(&memory.join("memory.stat")),
        },
        io_bytes: first_blkio(
            blkio,
            &["blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive", "blkio.bfq.io_service_bytes_recursive"],
        ),
        io_ops: first_blkio(blkio, &["blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive", "blkio.bfq.io_serviced_recursive"]),
        pids: read_u64(&pids.join("pids.current")).unwrap_or(0),
        pids_limit: read_u64(&pids.join("pids.max")),
    })
}

/// `8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...` lines into byte and operation counters.
fn io_v2(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ops) = (Vec::new(), Vec::new());
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some((major, minor)) = it.next().and_then(|d| d.split_once(':')) else { continue };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else { continue };
        let kv: HashMap<&str, u64> = it.filter_map(|f| f.split_once('=')).filter_map(|(k, v)| Some((k, v.parse().ok()?))).collect();
        for (key, op, is_bytes) in [("rbytes", "read", true), ("wbytes", "write", true), ("rios", "read", false), ("wios", "write", false)] {
            if let Some(v) = kv.get(key) {
                let list = if is_bytes { &mut bytes } else { &mut ops };
                list.push(BlkioEntry { major, minor, op: op.into(), value: *v });
            }
        }
    }
    (bytes, ops)
}

fn sample_v2(dir: &Path) -> std::io::Result<Sample> {
    let cpu = read(&dir.join("cpu.stat"))
        .map(|t| flat_keyed(&t))
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, format!("no cgroup at {}", dir.display())))?;
    let us = |k: &str| cpu.get(k).copied().unwrap_or(0) * 1000;
    let (io_bytes, io_ops) = read(&dir.join("io.stat")).map(|t| io_v2(&t)).unwrap_or_default();
    Ok(Sample {
        cpu: Cpu {
            total: us("usage_usec"),
            percpu: Vec::new(),
            user: us("user_usec"),
            system: us("system_usec"),
            periods: cpu.get("nr_periods").copied().unwrap_or(0),
            throttled_periods: cpu.get("nr_throttled").copied().unwrap_or(0),
            throttled_time: us("throttled_usec"),
        },
        memory: Memory {
            usage: read_u64(&dir.join("memory.current")).unwrap_or(0),
            max_usage: None,
            limit: read_u64(&dir.join("memory.max")),
            failcnt: None,
            stats: keyed(&dir.join("memory.stat")),
        },
        io_bytes,
        io_ops,
        pids: read_u64(&dir.join("pids.current")).unwrap_or(0),
        pids_limit: read_u64(&dir.join("pids.max")),
    })
}

/// `(system CPU time in ns, online CPUs)` from `/proc/stat`, as Docker computes
/// `system_cpu_usage`: user through softirq of the `cpu` line, in clock ticks of 10 ms.
pub fn system_cpu(proc_stat: &str) -> (u64, u32) {
    let mut total = 0;
    let mut cpus = 0;
    for line in proc_stat.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("cpu") => total = it.take(7).filter_map(|v| v.parse::<u64>().ok()).sum::<u64>() * NANOS_PER_TICK,
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total, cpus)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), body).unwrap();
    }

    #[test]
    fn v1_hierarchies() {
        let t = tempfile::tempdir().unwrap();
        let mut mounts = HashMap::new();
        for c in V1_CONTROLLERS {
            mounts.insert(c.to_string(), t.path().join(c));
        }
        let at = |c: &str| t.path().join(c).join("berth/abc");
        write(&at("cpuacct"), "cpuacct.usage", "5000000000\n");
        write(&at("cpuacct"), "cpuacct.usage_percpu", "3000000000 2000000000 \n");
        write(&at("cpuacct"), "cpuacct.stat", "user 300\nsystem 100\n");
        write(&at("cpu"), "cpu.stat", "nr_periods 10\nnr_throttled 2\nthrottled_time 99\n");
        write(&at("memory"), "memory.usage_in_bytes", "10485760\n");
        write(&at("memory"), "memory.limit_in_bytes", "9223372036854771712\n");
        write(&at("memory"), "memory.stat", "cache 4096\ntotal_inactive_file 2097152\n");
        write(&at("blkio"), "blkio.throttle.io_service_bytes_recursive", "8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n");
        write(&at("pids"), "pids.current", "3\n");
        write(&at("pids"), "pids.max", "max\n");
        let s = CgroupFs::V1(mounts).sample("/berth/abc").unwrap();
        assert_eq!(s.cpu.total, 5_000_000_000);
        assert_eq!(s.cpu.percpu, vec![3_000_000_000, 2_000_000_000]);
        assert_eq!((s.cpu.user, s.cpu.system), (3_000_000_000, 1_000_000_000));
        assert_eq!((s.cpu.periods, s.cpu.throttled_periods, s.cpu.throttled_time), (10, 2, 99));
        assert_eq!(s.memory.limit, None, "the v1 'unlimited' value means no limit");
        assert_eq!(s.memory.working_set(), 8_388_608);
        assert_eq!(s.io_bytes.len(), 2);
        assert_eq!(s.io_bytes[1], BlkioEntry { major: 8, minor: 0, op: "Write".into(), value: 8192 });
        assert_eq!((s.pids, s.pids_limit), (3, None));
    }

    #[test]
    fn v2_unified() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("berth/abc");
        write(&d, "cpu.stat", "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 7\n");
        write(&d, "memory.current", "1000000\n");
        write(&d, "memory.max", "2000000\n");
        write(&d, "memory.stat", "anon 500000\ninactive_file 100000\n");
        write(&d, "io.stat", "8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n");
        write(&d, "pids.current", "5\n");
        write(&d, "pids.max", "100\n");
        let s = CgroupFs::V2(t.path().to_path_buf()).sample("berth/abc").unwrap();
        assert_eq!((s.cpu.total, s.cpu.user, s.cpu.throttled_time), (2_000_000, 1_500_000, 7000));
        assert_eq!(s.memory.working_set(), 900_000);
        assert_eq!(s.memory.limit, Some(2_000_000));
        assert_eq!(
            s.io_bytes,
            vec![BlkioEntry { major: 8, minor: 16, op: "read".into(), value: 10 }, BlkioEntry { major: 8, minor: 16, op: "write".into(), value: 20 },]
        );
        assert_eq!(s.io_ops.len(), 2);
        assert_eq!((s.pids, s.pids_limit), (5, Some(100)));
        assert!(CgroupFs::V2(t.path().to_path_buf()).sample("berth/gone").is_err());
    }

    #[test]
    fn mountinfo_and_proc_stat() {
        let info = "30 25 0:26 / /sys/fs/cgroup/memory rw,nosuid shared:12 - cgroup cgroup rw,memory\n\
                    31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw shared:13 - cgroup cgroup rw,cpu,cpuacct\n\
                    32 25 0:28 / /sys/fs/cgroup/unified rw shared:14 - cgroup2 cgroup2 rw\n";
        let m = parse_v1_mounts(info);
        assert_eq!(m.get("memory"), Some(&PathBuf::from("/sys/fs/cgroup/memory")));
        assert_eq!(m.get("cpuacct"), Some(&PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(m.get("cpu"), Some(&PathBuf::from("/sys/fs/cgroup/cpu,cpuacct")));
        let (total, cpus) = system_cpu("cpu  100 0 50 800 10 0 5 7 0 0\ncpu0 50 0 25 400 5 0 2 3 0 0\ncpu1 50 0 25 400 5 0 3 4 0 0\nintr 1\n");
        assert_eq!((total, cpus), (965 * 10_000_000, 2));
    }
}
