//! The flags `run` and `create` share, and their translation into a create request.
//!
//! Phase one is clap ([`ContainerFlags`], raw strings and parsed scalars); phase two
//! ([`ContainerFlags::to_spec`]) validates everything and builds the
//! [`ContainerCreateRequest`] the docker CLI would send, before anything talks to the daemon.

use std::collections::BTreeMap;

use berth_api::types::{ContainerCreateRequest, EndpointSettings, HealthConfig, HostConfig, LogConfig, RestartPolicy};
use clap::Args;
use serde_json::{json, Value};

use super::opts::{self, VolumeSpec};

/// `--pull` policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum PullPolicy {
    /// Pull when the image is not present.
    #[default]
    Missing,
    /// Always pull before creating.
    Always,
    /// Never pull.
    Never,
}

/// Container options shared by `run` and `create` (docker's names and shorthands).
#[derive(Args, Debug, Clone, Default)]
pub struct ContainerFlags {
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    pub add_host: Vec<String>,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    pub cap_drop: Vec<String>,
    /// Optional parent cgroup for the container
    #[arg(long = "cgroup-parent", value_name = "string", default_value = "")]
    pub cgroup_parent: String,
    /// Cgroup namespace to use (host|private)
    #[arg(long = "cgroupns", value_name = "string")]
    pub cgroupns: Option<String>,
    /// Write the container ID to the file
    #[arg(long = "cidfile", value_name = "string")]
    pub cidfile: Option<String>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period", value_name = "int", default_value_t = 0)]
    pub cpu_period: i64,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota", value_name = "int", default_value_t = 0)]
    pub cpu_quota: i64,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares", value_name = "int", default_value_t = 0)]
    pub cpu_shares: i64,
    /// Number of CPUs
    #[arg(long = "cpus", value_name = "decimal", value_parser = opts::parse_cpus)]
    pub cpus: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus", value_name = "string", default_value = "")]
    pub cpuset_cpus: String,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems", value_name = "string")]
    pub cpuset_mems: Option<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Add a host device to the container
    #[arg(long = "device", value_name = "list")]
    pub device: Vec<String>,
    /// Set custom DNS servers
    #[arg(long = "dns", value_name = "list")]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    pub dns_search: Vec<String>,
    /// Container NIS domain name
    #[arg(long = "domainname", value_name = "string", default_value = "")]
    pub domainname: String,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long = "entrypoint", value_name = "string")]
    pub entrypoint: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<String>,
    /// Expose a port or a range of ports
    #[arg(long = "expose", value_name = "list")]
    pub expose: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    pub group_add: Vec<String>,
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub health_cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(long = "health-interval", value_name = "duration", value_parser = opts::parse_duration)]
    pub health_interval: Option<i64>,
    /// Consecutive failures needed to report unhealthy
    #[arg(long = "health-retries", value_name = "int")]
    pub health_retries: Option<i64>,
    /// Time between running the check during the start period (ms|s|m|h) (default 0s)
    #[arg(long = "health-start-interval", value_name = "duration", value_parser = opts::parse_duration)]
    pub health_start_interval: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown
    #[arg(long = "health-start-period", value_name = "duration", value_parser = opts::parse_duration)]
    pub health_start_period: Option<i64>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(long = "health-timeout", value_name = "duration", value_parser = opts::parse_duration)]
    pub health_timeout: Option<i64>,
    /// Action when the container turns unhealthy: none, restart, kill or stop (berth's own,
    /// Podman's name)
    #[arg(long = "health-on-failure", value_name = "string", value_parser = ["none", "restart", "kill", "stop"])]
    pub health_on_failure: Option<String>,
    /// Print usage
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// Container host name
    #[arg(short = 'h', long = "hostname", value_name = "string", default_value = "")]
    pub hostname: String,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long = "init")]
    pub init: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., 2001:db8::33)
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// IPC mode to use
    #[arg(long = "ipc", value_name = "string", default_value = "")]
    pub ipc: String,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    pub label_file: Vec<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string", default_value = "")]
    pub log_driver: String,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    pub log_opt: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    pub mac_address: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long = "memory", value_name = "bytes", value_parser = opts::parse_ram)]
    pub memory: Option<i64>,
    /// Memory soft limit
    #[arg(long = "memory-reservation", value_name = "bytes", value_parser = opts::parse_ram)]
    pub memory_reservation: Option<i64>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", value_name = "bytes", value_parser = opts::parse_swap, allow_hyphen_values = true)]
    pub memory_swap: Option<i64>,
    /// Tune container memory swappiness (0 to 100) (default -1)
    #[arg(long = "memory-swappiness", value_name = "int", allow_hyphen_values = true)]
    pub memory_swappiness: Option<i64>,
    /// Attach a filesystem mount to the container
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Assign a name to the container
    #[arg(long = "name", value_name = "string")]
    pub name: Option<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_name = "network")]
    pub network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    pub network_alias: Vec<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Tune host's OOM preferences (-1000 to 1000)
    #[arg(long = "oom-score-adj", value_name = "int", default_value_t = 0, allow_hyphen_values = true)]
    pub oom_score_adj: i64,
    /// PID namespace to use
    #[arg(long = "pid", value_name = "string", default_value = "")]
    pub pid: String,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", value_name = "int", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", value_name = "string")]
    pub platform: Option<String>,
    /// Give extended privileges to this container
    #[arg(long = "privileged")]
    pub privileged: bool,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Pull image before running ("always", "missing", "never")
    #[arg(long = "pull", value_name = "string", value_enum, default_value = "missing")]
    pub pull: PullPolicy,
    /// Suppress the pull output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Restart policy to apply when a container exits
    #[arg(long = "restart", value_name = "string", default_value = "no")]
    pub restart: String,
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long = "rm")]
    pub rm: bool,
    /// Runtime to use for this container
    #[arg(long = "runtime", value_name = "string")]
    pub runtime: Option<String>,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    pub security_opt: Vec<String>,
    /// Size of /dev/shm
    #[arg(long = "shm-size", value_name = "bytes", value_parser = opts::parse_ram)]
    pub shm_size: Option<i64>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string", default_value = "")]
    pub stop_signal: String,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout", value_name = "int", allow_hyphen_values = true)]
    pub stop_timeout: Option<i64>,
    /// Sysctl options
    #[arg(long = "sysctl", value_name = "map")]
    pub sysctl: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long = "tmpfs", value_name = "list")]
    pub tmpfs: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long = "tty")]
    pub tty: bool,
    /// Ulimit options
    #[arg(long = "ulimit", value_name = "ulimit")]
    pub ulimit: Vec<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long = "user", value_name = "string", default_value = "")]
    pub user: String,
    /// User namespace to use
    #[arg(long = "userns", value_name = "string")]
    pub userns: Option<String>,
    /// UTS namespace to use
    #[arg(long = "uts", value_name = "string", default_value = "")]
    pub uts: String,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume", value_name = "list")]
    pub volume: Vec<String>,
    /// Optional volume driver for the container
    #[arg(long = "volume-driver", value_name = "string")]
    pub volume_driver: Option<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string", default_value = "")]
    pub workdir: String,
}

/// A validated create: the request body and the query parameters around it.
#[derive(Debug, Clone)]
pub struct CreateSpec {
    /// The body of `POST /containers/create`.
    pub body: ContainerCreateRequest,
    /// `?name=`.
    pub name: Option<String>,
    /// `?platform=`.
    pub platform: Option<String>,
    /// When to pull the image.
    pub pull: PullPolicy,
    /// Where to write the new id.
    pub cidfile: Option<String>,
}

/// What the environment of the CLI provides to the translation.
pub struct Env<'a> {
    /// Looks up a variable of our own environment (`-e K`).
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The terminal size `(height, width)` when stdout is a terminal.
    pub console: Option<(u16, u16)>,
}

fn hc_dur(name: &str, v: Option<i64>) -> Result<i64, String> {
    match v.unwrap_or(0) {
        d if d < 0 => Err(format!("--{name} cannot be negative")),
        d if d != 0 && d < 1_000_000 => Err(format!("--{name} cannot be less than 1ms")),
        d => Ok(d),
    }
}

impl ContainerFlags {
    fn healthcheck(&self) -> Result<Option<HealthConfig>, String> {
        let interval = hc_dur("health-interval", self.health_interval)?;
        let timeout = hc_dur("health-timeout", self.health_timeout)?;
        let start_period = hc_dur("health-start-period", self.health_start_period)?;
        let start_interval = hc_dur("health-start-interval", self.health_start_interval)?;
        let retries = self.health_retries.unwrap_or(0);
        if retries < 0 {
            return Err("--health-retries cannot be negative".into());
        }
        let cmd = self.health_cmd.clone().unwrap_or_default();
        let any = !cmd.is_empty() || interval != 0 || timeout != 0 || start_period != 0 || start_interval != 0 || retries != 0;
        if self.no_healthcheck {
            if any {
                return Err("--no-healthcheck conflicts with --health-* options".into());
            }
            return Ok(Some(HealthConfig { test: Some(vec!["NONE".into()]), ..Default::default() }));
        }
        if !any {
            return Ok(None);
        }
        let test = (!cmd.is_empty()).then(|| vec!["CMD-SHELL".to_string(), cmd]);
        Ok(Some(HealthConfig { test, interval, timeout, start_period, start_interval, retries }))
    }

    /// `(stdin, stdout, stderr)` to attach, from `-a` and `-i` (before `-d` clears them).
    pub fn attach_streams(&self) -> Result<(bool, bool, bool), String> {
        let mut streams = (false, false, false);
        for a in &self.attach {
            match a.to_ascii_lowercase().as_str() {
                "stdin" => streams.0 = true,
                "stdout" => streams.1 = true,
                "stderr" => streams.2 = true,
                _ => return Err(format!("invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR")),
            }
        }
        if self.attach.is_empty() {
            streams = (self.interactive, true, true);
        }
        Ok(streams)
    }

    fn volumes(&self) -> Result<(Vec<String>, BTreeMap<String, Value>), String> {
        let mut binds = Vec::new();
        let mut anonymous = BTreeMap::new();
        for v in &self.volume {
            match opts::parse_volume(v)? {
                VolumeSpec::Bind(b) => binds.push(b),
                VolumeSpec::Anonymous(d) => {
                    anonymous.insert(d, json!({}));
                }
            }
        }
        Ok((binds, anonymous))
    }

    fn security_opts(&self) -> Result<Vec<String>, String> {
        self.security_opt
            .iter()
            .map(|o| {
                let Some((k, v)) = o.split_once(['=', ':']) else {
                    return Ok(o.clone());
                };
                if k == "seccomp" && v != "unconfined" && v != "builtin" {
                    let profile = std::fs::read_to_string(v).map_err(|e| format!("opening seccomp profile ({v}) failed: {}", opts::io_text(&e)))?;
                    let compact: Value = serde_json::from_str(&profile).map_err(|e| format!("compacting json for seccomp profile ({v}) failed: {e}"))?;
                    return Ok(format!("seccomp={compact}"));
                }
                Ok(o.clone())
            })
            .collect()
    }

    fn extra_host_config(&self) -> Result<serde_json::Map<String, Value>, String> {
        let mut extra = serde_json::Map::new();
        let mut put = |k: &str, v: Value| {
            extra.insert(k.to_string(), v);
        };
        if !self.ulimit.is_empty() {
            put("Ulimits", Value::Array(self.ulimit.iter().map(|u| parse_ulimit(u)).collect::<Result<_, _>>()?));
        }
        if !self.device.is_empty() {
            put("Devices", Value::Array(self.device.iter().map(|d| parse_device(d)).collect::<Result<_, _>>()?));
        }
        if let Some(u) = &self.userns {
            put("UsernsMode", json!(u));
        }
        if let Some(c) = &self.cgroupns {
            put("CgroupnsMode", json!(c));
        }
        if let Some(a) = &self.health_on_failure {
            put("HealthOnFailure", json!(a));
        }
        if self.oom_kill_disable {
            put("OomKillDisable", json!(true));
        }
        if let Some(s) = self.memory_swappiness {
            put("MemorySwappiness", json!(s));
        }
        if let Some(m) = &self.cpuset_mems {
            put("CpusetMems", json!(m));
        }
        if let Some(d) = &self.volume_driver {
            put("VolumeDriver", json!(d));
        }
        if let Some(r) = &self.runtime {
            put("Runtime", json!(r));
        }
        Ok(extra)
    }

    fn networking(&self) -> (String, BTreeMap<String, EndpointSettings>) {
        let mode = self.network.first().cloned().unwrap_or_else(|| "default".into());
        let mut endpoints = BTreeMap::new();
        let user_defined = !matches!(mode.as_str(), "default" | "bridge" | "host" | "none") && !mode.starts_with("container:");
        let has_settings = !self.network_alias.is_empty() || self.ip.is_some() || self.ip6.is_some() || self.mac_address.is_some();
        if has_settings || self.network.len() > 1 || (user_defined && !self.link.is_empty()) {
            let mut first = EndpointSettings { aliases: self.network_alias.clone(), ..Default::default() };
            if self.ip.is_some() || self.ip6.is_some() {
                let mut ipam = serde_json::Map::new();
                if let Some(ip) = &self.ip {
                    ipam.insert("IPv4Address".into(), json!(ip));
                }
                if let Some(ip) = &self.ip6 {
                    ipam.insert("IPv6Address".into(), json!(ip));
                }
                first.ipam_config = Some(Value::Object(ipam));
            }
            first.mac_address = self.mac_address.clone().unwrap_or_default();
            if user_defined {
                first.links = self.link.clone();
            }
            endpoints.insert(mode.clone(), first);
            for other in self.network.iter().skip(1) {
                endpoints.insert(other.clone(), EndpointSettings::default());
            }
        }
        if self.network.is_empty() {
            // docker CLI 28 sends an empty endpoint for the implicit "default" network.
            endpoints.entry(mode.clone()).or_insert_with(EndpointSettings::default);
        }
        (mode, endpoints)
    }

    /// The host settings that come straight from flags.
    fn fill_host_config(&self, h: &mut HostConfig) -> Result<(), String> {
        h.container_id_file = self.cidfile.clone().unwrap_or_default();
        h.auto_remove = self.rm;
        h.volumes_from = self.volumes_from.clone();
        h.cap_add = opts::normalize_caps(&self.cap_add);
        h.cap_drop = opts::normalize_caps(&self.cap_drop);
        h.dns = self.dns.clone();
        h.dns_options = self.dns_option.clone();
        h.dns_search = self.dns_search.clone();
        h.extra_hosts = self.add_host.iter().map(|h| h.replacen('=', ":", 1)).collect();
        h.group_add = self.group_add.clone();
        h.ipc_mode = self.ipc.clone();
        h.links = self.link.clone();
        h.oom_score_adj = self.oom_score_adj;
        h.pid_mode = self.pid.clone();
        h.privileged = self.privileged;
        h.publish_all_ports = self.publish_all;
        h.readonly_rootfs = self.read_only;
        h.security_opt = self.security_opts()?;
        h.tmpfs = self.tmpfs.iter().map(|t| t.split_once(':').map_or((t.clone(), String::new()), |(a, b)| (a.into(), b.into()))).collect();
        h.uts_mode = self.uts.clone();
        h.shm_size = self.shm_size.unwrap_or(0);
        h.sysctls = opts::kv_map(&self.sysctl);
        h.cpu_shares = self.cpu_shares;
        h.memory = self.memory.unwrap_or(0);
        h.memory_swap = self.memory_swap.unwrap_or(0);
        h.memory_reservation = self.memory_reservation.unwrap_or(0);
        h.nano_cpus = self.cpus.unwrap_or(0);
        h.cpu_period = self.cpu_period;
        h.cpu_quota = self.cpu_quota;
        h.cpuset_cpus = self.cpuset_cpus.clone();
        h.pids_limit = self.pids_limit;
        h.cgroup_parent = self.cgroup_parent.clone();
        h.init = self.init.then_some(true);
        h.extra = self.extra_host_config()?;
        Ok(())
    }

    /// Validates the flags and builds the create request for `image` and `cmd`.
    pub fn to_spec(&self, image: &str, cmd: &[String], detach: bool, env: &Env<'_>) -> Result<CreateSpec, String> {
        let (mut a_in, mut a_out, mut a_err) = self.attach_streams()?;
        let restart = opts::parse_restart(&self.restart)?;
        if self.rm && restart.0 != "no" {
            return Err("conflicting options: cannot specify both --restart and --rm".into());
        }
        let mut stdin_once = self.interactive && a_in;
        if detach {
            (a_in, a_out, a_err, stdin_once) = (false, false, false, false);
        }
        let (exposed_ports, port_bindings) = opts::parse_ports(&self.publish, &self.expose)?;
        let (binds, volumes) = self.volumes()?;
        let mounts = self.mount.iter().map(|m| opts::parse_mount(m)).collect::<Result<Vec<_>, _>>()?;
        let envs = opts::read_env(&self.env_file, &self.env, env.lookup)?;
        let labels = opts::read_labels(&self.label_file, &self.label)?;
        let (network_mode, endpoints_config) = self.networking();
        let console = match (self.tty, env.console) {
            (true, Some((h, w))) => vec![h as u32, w as u32],
            _ => vec![0, 0],
        };
        let mut body = ContainerCreateRequest::default();
        let c = &mut body.config;
        c.hostname = self.hostname.clone();
        c.domainname = self.domainname.clone();
        c.user = self.user.clone();
        (c.attach_stdin, c.attach_stdout, c.attach_stderr) = (a_in, a_out, a_err);
        c.exposed_ports = exposed_ports;
        (c.tty, c.open_stdin, c.stdin_once) = (self.tty, self.interactive, stdin_once);
        c.env = envs;
        c.cmd = (!cmd.is_empty()).then(|| cmd.to_vec());
        c.healthcheck = self.healthcheck()?;
        c.image = image.to_string();
        c.volumes = volumes;
        c.working_dir = self.workdir.clone();
        c.entrypoint = self.entrypoint.clone().map(|e| vec![e]);
        c.labels = labels;
        c.stop_signal = self.stop_signal.clone();
        c.stop_timeout = self.stop_timeout;
        let h = &mut body.host_config;
        h.binds = binds;
        h.log_config = LogConfig { typ: self.log_driver.clone(), config: opts::kv_map(&self.log_opt) };
        h.network_mode = network_mode;
        h.port_bindings = port_bindings;
        h.restart_policy = RestartPolicy { name: restart.0, maximum_retry_count: restart.1 };
        h.mounts = mounts;
        h.console_size = console;
        self.fill_host_config(h)?;
        body.networking_config.endpoints_config = endpoints_config;
        Ok(CreateSpec { body, name: self.name.clone(), platform: self.platform.clone(), pull: self.pull, cidfile: self.cidfile.clone() })
    }
}

/// `--ulimit nofile=1024:2048` into `{"Name","Soft","Hard"}`.
fn parse_ulimit(u: &str) -> Result<Value, String> {
    let (name, limits) = u.split_once('=').ok_or_else(|| format!("invalid ulimit argument: {u}"))?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft.parse().map_err(|_| format!("invalid ulimit soft value: {soft}"))?;
    let hard: i64 = hard.parse().map_err(|_| format!("invalid ulimit hard value: {hard}"))?;
    if soft > hard {
        return Err(format!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"));
    }
    Ok(json!({"Name": name, "Soft": soft, "Hard": hard}))
}

/// `--device /dev/a[:/dev/b][:rwm]` into a device mapping.
fn parse_device(d: &str) -> Result<Value, String> {
    let parts: Vec<&str> = d.split(':').collect();
    let (host, container, perms) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, p] if p.chars().all(|c| "rwm".contains(c)) => (*h, *h, *p),
        [h, c] => (*h, *c, "rwm"),
        [h, c, p] => (*h, *c, *p),
        _ => return Err(format!("invalid device specification: {d}")),
    };
    Ok(json!({"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": perms}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    #[command(disable_help_flag = true)]
    struct T {
        #[command(flatten)]
        f: ContainerFlags,
        #[arg(short = 'd')]
        d: bool,
        #[arg(required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
        image_cmd: Vec<String>,
    }

    fn spec(args: &[&str]) -> Result<Value, String> {
        let t = T::try_parse_from(std::iter::once("run").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        let lookup = |k: &str| (k == "FROM_ENV").then(|| "yes".to_string());
        let env = Env { lookup: &lookup, console: None };
        let s = t.f.to_spec(&t.image_cmd[0], &t.image_cmd[1..], t.d, &env)?;
        serde_json::to_value(&s.body).map_err(|e| e.to_string())
    }

    #[test]
    fn docker_reference_run_detached() {
        // What docker CLI 28 sends for `run -d --rm -p 8080:80 -v /tmp:/data -v vol1:/v -e K=V --network mynet busybox`.
        let docker: Value = json!({
            "Hostname": "", "User": "", "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
            "ExposedPorts": {"80/tcp": {}}, "Tty": false, "OpenStdin": false, "StdinOnce": false, "Env": ["K=V"],
            "Cmd": null, "Image": "busybox", "Volumes": {}, "WorkingDir": "", "Entrypoint": null, "Labels": {},
            "HostConfig": {"Binds": ["/tmp:/data", "vol1:/v"], "LogConfig": {"Type": "", "Config": {}}, "NetworkMode": "mynet",
                "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                "AutoRemove": true, "ConsoleSize": [0, 0], "Privileged": false, "ReadonlyRootfs": false, "Memory": 0, "NanoCpus": 0},
            "NetworkingConfig": {"EndpointsConfig": {}}
        });
        let ours = spec(&["-d", "--rm", "-p", "8080:80", "-v", "/tmp:/data", "-v", "vol1:/v", "-e", "K=V", "--network", "mynet", "busybox"]);
        let ours = ours.unwrap_or_default();
        assert_subset(&docker, &ours, "");
    }

    fn assert_subset(want: &Value, got: &Value, path: &str) {
        match want {
            Value::Object(m) => {
                for (k, v) in m {
                    assert_subset(v, &got[k.as_str()], &format!("{path}.{k}"));
                }
            }
            Value::Array(items) => {
                assert_eq!(Some(items.len()), got.as_array().map(Vec::len), "at {path}");
                for (i, v) in items.iter().enumerate() {
                    assert_subset(v, &got[i], &format!("{path}[{i}]"));
                }
            }
            other => assert_eq!(other, got, "at {path}"),
        }
    }

    #[test]
    fn docker_reference_create_many_flags() {
        // Captured from docker CLI 28 (`create ... -it busybox sh -c 'echo hi'`), relevant parts.
        let mut docker = json!({
            "Hostname": "hh", "User": "1000:1000", "AttachStdin": true, "AttachStdout": true, "AttachStderr": true,
            "ExposedPorts": {"7000/tcp": {}, "80/udp": {}, "81/udp": {}, "90/tcp": {}},
            "Tty": true, "OpenStdin": true, "StdinOnce": true, "Env": ["X", "Y=2", "FROM_ENV=yes"],
            "Cmd": ["sh", "-c", "echo hi"],
            "Volumes": {"/anon": {}}, "WorkingDir": "/w", "Entrypoint": [""], "Labels": {"a": "b", "c": ""},
            "StopSignal": "SIGINT", "StopTimeout": 5
        });
        docker["Healthcheck"] =
            json!({"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000i64, "Timeout": 2_000_000_000i64, "StartPeriod": 1_000_000_000i64, "Retries": 4});
        let mut host = json!({
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m"}}, "NetworkMode": "default",
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "CapAdd": ["CAP_NET_ADMIN"], "CapDrop": ["ALL"],
            "Dns": ["1.1.1.1"], "DnsSearch": ["ex.com"], "ExtraHosts": ["h:1.2.3.4"], "Privileged": true, "PublishAllPorts": true,
            "ReadonlyRootfs": true, "SecurityOpt": ["no-new-privileges"], "Tmpfs": {"/run": "size=1m"}, "CpuShares": 100
        });
        host["PortBindings"] = json!({"80/udp": [{"HostIp": "127.0.0.1", "HostPort": "8000"}], "81/udp": [{"HostIp": "127.0.0.1", "HostPort": "8001"}], "90/tcp": [{"HostIp": "", "HostPort": ""}]});
        host["Memory"] = json!(536_870_912);
        host["NanoCpus"] = json!(1_500_000_000i64);
        host["CpusetCpus"] = json!("0-1");
        host["MemorySwap"] = json!(1_073_741_824i64);
        host["PidsLimit"] = json!(50);
        host["Mounts"] = json!([{"Type": "volume", "Source": "v", "Target": "/m"}]);
        host["Init"] = json!(true);
        docker["HostConfig"] = host;
        let ours = spec(&[
            "--name",
            "n1",
            "-e",
            "X",
            "-e",
            "Y=2",
            "-e",
            "FROM_ENV",
            "-l",
            "a=b",
            "--label",
            "c",
            "-w",
            "/w",
            "-u",
            "1000:1000",
            "-h",
            "hh",
            "--entrypoint",
            "",
            "--read-only",
            "-m",
            "512m",
            "--memory-swap",
            "1g",
            "--cpus",
            "1.5",
            "--cpu-shares",
            "100",
            "--cpuset-cpus",
            "0-1",
            "--pids-limit",
            "50",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--privileged",
            "--security-opt",
            "no-new-privileges",
            "--restart",
            "on-failure:3",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "5",
            "--health-cmd",
            "true",
            "--health-interval",
            "5s",
            "--health-timeout",
            "2s",
            "--health-retries",
            "4",
            "--health-start-period",
            "1s",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=1m",
            "--dns",
            "1.1.1.1",
            "--dns-search",
            "ex.com",
            "--add-host",
            "h:1.2.3.4",
            "--tmpfs",
            "/run:size=1m",
            "--mount",
            "type=volume,src=v,dst=/m",
            "--init",
            "-p",
            "127.0.0.1:8000-8001:80-81/udp",
            "-p",
            "90",
            "-P",
            "-v",
            "/anon",
            "--expose",
            "7000",
            "-it",
            "busybox",
            "sh",
            "-c",
            "echo hi",
        ]);
        assert_subset(&docker, &ours.unwrap_or_default(), "");
    }

    #[test]
    fn command_after_image_keeps_its_flags() {
        let v = spec(&["-i", "busybox", "ls", "-la", "--rm"]).unwrap_or_default();
        assert_eq!(v["Cmd"], json!(["ls", "-la", "--rm"]));
        assert_eq!(v["HostConfig"]["AutoRemove"], json!(false));
        assert_eq!(v["AttachStdin"], json!(true));
        assert_eq!(v["StdinOnce"], json!(true));
    }

    #[test]
    fn validation_errors() {
        assert_eq!(spec(&["--rm", "--restart", "always", "b"]).err().as_deref(), Some("conflicting options: cannot specify both --restart and --rm"));
        assert_eq!(spec(&["--no-healthcheck", "--health-retries", "2", "b"]).err().as_deref(), Some("--no-healthcheck conflicts with --health-* options"));
        assert!(spec(&["-a", "stdfoo", "b"]).err().unwrap_or_default().contains("valid streams are STDIN, STDOUT and STDERR"));
        assert!(spec(&["-p", "x:80", "b"]).err().unwrap_or_default().contains("invalid hostPort"));
        assert!(spec(&["-m", "12q", "b"]).is_err());
        let v = spec(&["--no-healthcheck", "b"]).unwrap_or_default();
        assert_eq!(v["Healthcheck"]["Test"], json!(["NONE"]));
        let v = spec(&["--network", "n1", "--network-alias", "web", "--ip", "10.0.0.5", "b"]).unwrap_or_default();
        assert_eq!(v["NetworkingConfig"]["EndpointsConfig"]["n1"]["Aliases"], json!(["web"]));
        assert_eq!(v["NetworkingConfig"]["EndpointsConfig"]["n1"]["IPAMConfig"], json!({"IPv4Address": "10.0.0.5"}));
        let v = spec(&["--ulimit", "nofile=10:20", "--device", "/dev/fuse", "b"]).unwrap_or_default();
        assert_eq!(v["HostConfig"]["Ulimits"], json!([{"Name": "nofile", "Soft": 10, "Hard": 20}]));
        assert_eq!(v["HostConfig"]["Devices"][0]["PathInContainer"], json!("/dev/fuse"));
    }
}
