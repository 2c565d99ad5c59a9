//! Test support: a real berth daemon per test, with its own data root, exec root, socket,
//! cgroup parent and bridge name, driven by the real `docker` CLI and by `berth`. Everything
//! it starts is torn down on drop, whether the test passed or not: daemon, shims, container
//! processes, cgroups, mounts, files.

#![allow(clippy::unwrap_used)]

pub mod http;
pub mod image;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The berth binary under test: `$BERTH_BIN`, else `target/debug/berth` of this workspace.
pub fn berth_bin() -> PathBuf {
    if let Ok(p) = std::env::var("BERTH_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| root.join("target"));
    let p = target.join("debug").join("berth");
    assert!(p.exists(), "berth binary not found at {} (build it first: cargo build -p berth)", p.display());
    p
}

/// Polls `cond` until it holds, failing the test after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

fn random_suffix() -> String {
    let mut b = [0u8; 4];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut b).unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A daemon under test.
pub struct Daemon {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub cgroup_parent: String,
    pub bridge: String,
    /// Extra `berth daemon` arguments (see [`Daemon::start_with`]).
    extra_args: Vec<String>,
    /// The host's DNS files as the daemon sees them (see [`Daemon::start_with_host_dns`]).
    host_dns: Option<HostDns>,
    child: Option<Child>,
}

impl Daemon {
    /// Starts a daemon in a fresh temp dir and waits until it answers `/_ping`.
    pub fn start() -> Daemon {
        Self::start_with(&[])
    }

    /// Like [`Daemon::start`], with extra `berth daemon` arguments (`--bip`, ...).
    pub fn start_with(args: &[&str]) -> Daemon {
        Self::start_inner(args, None)
    }

    /// Like [`Daemon::start_with`], with the daemon (and so its shims) in a mount namespace of
    /// its own where the host's DNS files are `dns`: the host's resolvers as the daemon sees
    /// them, without touching the host's files or inventing a flag.
    pub fn start_with_host_dns(dns: HostDns, args: &[&str]) -> Daemon {
        Self::start_inner(args, Some(dns))
    }

    fn start_inner(args: &[&str], host_dns: Option<HostDns>) -> Daemon {
        // Shims orphaned by a killed daemon are reparented to us and reaped on drop.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let id = random_suffix();
        let dir = PathBuf::from(format!("/tmp/be-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut d = Daemon {
            socket: dir.join("s.sock"),
            cgroup_parent: format!("/berth-e2e-{id}"),
            bridge: format!("be{id}"),
            extra_args: args.iter().map(|a| a.to_string()).collect(),
            host_dns,
            dir,
            child: None,
        };
        std::fs::create_dir_all(d.dir.join("docker-config")).unwrap();
        d.spawn();
        d
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("daemon.log")).unwrap();
        let mut cmd = match &self.host_dns {
            Some(dns) => with_host_dns(dns),
            None => Command::new(berth_bin()),
        };
        cmd.arg("daemon")
            .arg("--host")
            .arg(format!("unix://{}", self.socket.display()))
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--cgroup-parent")
            .arg(&self.cgroup_parent)
            .arg("--bridge")
            .arg(&self.bridge)
            .arg("--log-level")
            .arg("debug")
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        self.child = Some(cmd.spawn().unwrap());
        let sock = self.socket.clone();
        wait_until("daemon to answer /_ping", Duration::from_secs(30), || http::request(&sock, "GET", "/_ping", None, &[]).is_ok_and(|r| r.status == 200));
    }

    /// Kills the daemon with SIGKILL (containers keep running) and starts it again.
    pub fn kill9_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    /// Kills the daemon with SIGKILL and leaves it dead (containers keep running) until
    /// [`Daemon::respawn`].
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the daemon again on the same roots after [`Daemon::kill9`].
    pub fn respawn(&mut self) {
        self.spawn();
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("DOCKER_HOST", format!("unix://{}", self.socket.display()))
            .env("DOCKER_CONFIG", self.dir.join("docker-config"))
            .env("DOCKER_BUILDKIT", "0")
            .env("DOCKER_CLI_HINTS", "false")
            .env_remove("BERTH_HOST");
    }

    /// Runs the real docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("docker");
        self.env(&mut cmd);
        cmd.args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs docker with `stdin` fed in.
    pub fn docker_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = Command::new("docker");
        self.env(&mut cmd);
        run_with_stdin(cmd.args(args), stdin)
    }

    /// Runs the berth CLI against this daemon.
    pub fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(berth_bin());
        self.env(&mut cmd);
        cmd.arg("-H").arg(format!("unix://{}", self.socket.display())).args(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs berth with `stdin` fed in.
    pub fn berth_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut cmd = Command::new(berth_bin());
        self.env(&mut cmd);
        run_with_stdin(cmd.arg("-H").arg(format!("unix://{}", self.socket.display())).args(args), stdin)
    }

    /// Runs a client (`docker` or `berth`), asserting success; returns stdout.
    pub fn ok(&self, client: Client, args: &[&str]) -> String {
        let out = self.run(client, args);
        assert!(
            out.status.success(),
            "{client:?} {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs a client.
    pub fn run(&self, client: Client, args: &[&str]) -> Output {
        match client {
            Client::Docker => self.docker(args),
            Client::Berth => self.berth(args),
        }
    }

    /// Waits until `url` answers `wget` from a one-off container of image `busybox` on network
    /// `net` (a server that is still starting: name, address or port not up yet), and returns
    /// the body. `sh` stays pid 1 so the container exits like any shell.
    pub fn wget_until(&self, client: Client, net: &str, url: &str) -> String {
        let script = format!("wget -qO- {url}; exit $?");
        let mut body = String::new();
        wait_until(&format!("{url} to answer on network {net}"), Duration::from_secs(20), || {
            let out = self.run(client, &["run", "--rm", "--network", net, "busybox", "sh", "-c", &script]);
            body = String::from_utf8_lossy(&out.stdout).into_owned();
            out.status.success()
        });
        body
    }

    /// A raw API request.
    pub fn api(&self, method: &str, path: &str, body: Option<&[u8]>) -> http::Response {
        http::request(&self.socket, method, path, body, &[("Content-Type", "application/json")]).unwrap()
    }

    /// Imports the busybox test image as `name` with `client`.
    pub fn busybox(&self, client: Client, name: &str) -> String {
        let tar = self.dir.join("busybox.tar");
        if !tar.exists() {
            std::fs::write(&tar, image::busybox_rootfs_tar()).unwrap();
        }
        let out = self.ok(client, &["import", tar.to_str().unwrap(), name]);
        out.trim().to_string()
    }

    /// The exec root of this daemon.
    pub fn exec_root(&self) -> PathBuf {
        self.dir.join("exec")
    }

    /// Live shim processes that belong to this daemon.
    pub fn shim_pids(&self) -> Vec<i32> {
        let marker = self.dir.display().to_string();
        procs_matching(|cmd| cmd.contains("shim") && cmd.contains(&marker))
    }

    /// Overlay mounts under this daemon's dirs.
    pub fn mounts(&self) -> Vec<String> {
        let marker = self.dir.display().to_string();
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(String::from))
            .filter(|m| m.starts_with(&marker))
            .collect()
    }

    /// cgroup directories of this daemon's containers.
    pub fn cgroups(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for base in cgroup_bases() {
            let p = base.join(self.cgroup_parent.trim_start_matches('/'));
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    if e.path().is_dir() {
                        out.push(e.path());
                    }
                }
            }
        }
        out
    }

    /// Interfaces carrying this daemon's tag (`ifalias` `berth:<bridge>...`): its bridges and
    /// its containers' veths.
    pub fn tagged_links(&self) -> Vec<(String, String)> {
        tagged_links(&self.bridge)
    }

    /// Host-side veths of this daemon's containers.
    pub fn veths(&self) -> Vec<String> {
        self.tagged_links().into_iter().filter(|(_, alias)| alias.contains(" veth ")).map(|(n, _)| n).collect()
    }

    /// Host-side veths once there are `n` of them (or after 10 s): a stopped container's veth
    /// goes with its network namespace, which the kernel tears down just after the stop.
    pub fn wait_veths(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let veths = self.veths();
            if veths.len() == n || Instant::now() > deadline {
                return veths;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// This daemon's nftables table as `nft list` prints it (empty if there is none).
    pub fn nft_table(&self) -> String {
        let out = Command::new("nft").args(["list", "table", "ip", &format!("berth-{}", self.bridge)]).output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }

    /// Asserts nothing of this daemon's containers is left: shims, mounts, cgroups, veths,
    /// published-port rules.
    pub fn assert_no_leaks(&self) {
        let veths = self.wait_veths(0);
        assert!(veths.is_empty(), "veths left: {veths:?}");
        let table = self.nft_table();
        assert!(!table.contains("dnat to"), "published-port rules left:\n{table}");
        let shims = self.shim_pids();
        assert!(shims.is_empty(), "shims still running: {shims:?}");
        let mounts = self.mounts();
        assert!(mounts.is_empty(), "mounts left: {mounts:?}");
        let cgroups = self.cgroups();
        assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    }

    /// Removes every container through the API, then checks nothing leaked.
    pub fn assert_no_leaks_after_cleanup(&self) {
        let ids = self.docker(&["ps", "-aq"]);
        for id in stdout(&ids).split_whitespace() {
            let _ = self.docker(&["rm", "-f", "-v", id]);
        }
        let shims_gone = || self.shim_pids().is_empty();
        wait_until("shims to exit", Duration::from_secs(15), shims_gone);
        self.assert_no_leaks();
    }

    fn teardown(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.id() as i32), nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        // Container processes first (through their cgroups), then the shims.
        for cg in self.cgroups() {
            kill_cgroup(&cg);
        }
        let shims = self.shim_pids();
        for pid in &shims {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*pid), nix::sys::signal::Signal::SIGKILL);
        }
        for pid in shims {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        }
        for base in cgroup_bases() {
            let p = base.join(self.cgroup_parent.trim_start_matches('/'));
            if let Ok(rd) = std::fs::read_dir(&p) {
                for e in rd.flatten() {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
            let _ = std::fs::remove_dir(&p);
        }
        remove_network_state(&self.bridge);
        let mut mounts = self.mounts();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            let _ = nix::mount::umount2(Path::new(&m), nix::mount::MntFlags::MNT_DETACH);
        }
        if std::env::var("BERTH_KEEP_TEST_DIRS").is_err() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// The command that runs `berth` in a new mount namespace (private propagation, so nothing it
/// mounts reaches the host) with `dns.resolv_conf` bind-mounted over `/etc/resolv.conf` and,
/// if given, `dns.resolved_upstreams` as systemd-resolved's `/run/systemd/resolve/resolv.conf`
/// (on a tmpfs over `/run/systemd`, or `/run` where there is none): util-linux's `unshare` and
/// `mount`, then `exec`, so the daemon keeps the pid the test spawned.
fn with_host_dns(dns: &HostDns) -> Command {
    const SCRIPT: &str = r#"mount --bind "$0" /etc/resolv.conf || exit 1
if [ -n "$1" ]; then
  run=/run/systemd; [ -d $run ] || run=/run
  mount -t tmpfs tmpfs $run && mkdir -p /run/systemd/resolve && cp "$1" /run/systemd/resolve/resolv.conf || exit 1
fi
shift; exec "$@""#;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", SCRIPT])
        .arg(&dns.resolv_conf)
        .arg(dns.resolved_upstreams.as_deref().unwrap_or(Path::new("")))
        .arg(berth_bin());
    cmd
}

/// The host's DNS files as a daemon of [`Daemon::start_with_host_dns`] sees them.
#[derive(Debug, Clone)]
pub struct HostDns {
    /// Its `/etc/resolv.conf`.
    pub resolv_conf: PathBuf,
    /// Its `/run/systemd/resolve/resolv.conf` (systemd-resolved's real upstreams), if any.
    pub resolved_upstreams: Option<PathBuf>,
}

/// Which CLI drives a test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Client {
    Docker,
    Berth,
}

fn run_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    out
}

fn cgroup_bases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = ["pids", "memory", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "hugetlb", "systemd", "unified"]
        .iter()
        .map(|c| PathBuf::from("/sys/fs/cgroup").join(c))
        .filter(|p| p.exists())
        .collect();
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        v.push(PathBuf::from("/sys/fs/cgroup"));
    }
    v
}

fn kill_cgroup(cg: &Path) {
    let freezer_thaw = cg.join("freezer.state");
    let _ = std::fs::write(&freezer_thaw, "THAWED");
    for _ in 0..50 {
        let procs = std::fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default();
        let pids: Vec<i32> = procs.lines().filter_map(|l| l.trim().parse().ok()).collect();
        if pids.is_empty() {
            return;
        }
        for p in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Interfaces whose `ifalias` marks them as created by the daemon of default bridge `bridge`:
/// `(name, alias)`.
pub fn tagged_links(bridge: &str) -> Vec<(String, String)> {
    let tag = format!("berth:{bridge}");
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/class/net") else { return out };
    for e in rd.flatten() {
        let alias = std::fs::read_to_string(e.path().join("ifalias")).unwrap_or_default().trim().to_string();
        if alias == tag || alias.starts_with(&format!("{tag} ")) {
            out.push((e.file_name().to_string_lossy().into_owned(), alias));
        }
    }
    out
}

/// Deletes what a daemon of default bridge `bridge` made on the host: tagged interfaces
/// (veths first, then bridges) and its nftables tables (`ip`, and `bridge` for icc=false). Runs whether the test passed or not.
pub fn remove_network_state(bridge: &str) {
    let mut links = tagged_links(bridge);
    links.sort_by_key(|(_, alias)| !alias.contains(" veth "));
    for (name, _) in links {
        let _ = Command::new("ip").args(["link", "delete", &name]).stderr(Stdio::null()).status();
    }
    let table = format!("berth-{bridge}");
    for family in ["ip", "bridge"] {
        let _ = Command::new("nft").args(["delete", "table", family, &table]).stderr(Stdio::null()).status();
    }
}

/// Pids whose command line satisfies `pred`.
pub fn procs_matching(pred: impl Fn(&str) -> bool) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
        if pred(&cmd) {
            out.push(pid);
        }
    }
    out
}

/// stdout of an output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of an output as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Defines each named test twice, `docker_cli::NAME` and `berth_cli::NAME`: a test body
/// `fn NAME(d: &Daemon, c: Client)` run against a fresh daemon of its own with each client,
/// followed by the leak check.
#[macro_export]
macro_rules! both_clients {
    ($($name:ident),* $(,)?) => {
        mod docker_cli {
            $(#[test] fn $name() { let d = berth_e2e::Daemon::start(); super::$name(&d, berth_e2e::Client::Docker); d.assert_no_leaks_after_cleanup(); })*
        }
        mod berth_cli {
            $(#[test] fn $name() { let d = berth_e2e::Daemon::start(); super::$name(&d, berth_e2e::Client::Berth); d.assert_no_leaks_after_cleanup(); })*
        }
    };
}
