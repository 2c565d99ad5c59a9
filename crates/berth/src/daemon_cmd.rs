//! `berth daemon`: flags, logging, runtime, then the daemon library.

use std::path::PathBuf;

use clap::Parser;

/// `berth daemon` flags (dockerd's names where they exist).
#[derive(Debug, Parser)]
#[command(name = "berth daemon", about = "Run the berth daemon (Docker Engine API server)")]
pub struct DaemonArgs {
    /// Socket to listen on (unix:///path).
    #[arg(short = 'H', long = "host", default_value = "unix:///run/berth/berth.sock")]
    host: String,
    /// Root of persistent state.
    #[arg(long = "data-root", default_value = "/var/lib/berth")]
    data_root: PathBuf,
    /// Root of runtime state.
    #[arg(long = "exec-root", default_value = "/run/berth")]
    exec_root: PathBuf,
    /// Name of the default bridge.
    #[arg(short = 'b', long = "bridge", default_value = "berth0")]
    bridge: String,
    /// Subnet of the default bridge (CIDR).
    #[arg(long = "bip")]
    bip: Option<String>,
    /// File to write the daemon's pid to.
    #[arg(short = 'p', long = "pidfile")]
    pidfile: Option<PathBuf>,
    /// Parent cgroup of containers.
    #[arg(long = "cgroup-parent", default_value = "/berth")]
    cgroup_parent: String,
    /// Registry reached over plain HTTP or unverified TLS (host[:port] or CIDR; repeatable).
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    insecure_registries: Vec<String>,
    /// Docker Hub mirror tried first on pulls (http(s) URL; repeatable).
    #[arg(long = "registry-mirror", value_name = "URL")]
    registry_mirrors: Vec<String>,
    /// Log level (error, warn, info, debug, trace).
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    log_level: String,
    /// Default log driver of containers (json-file, local, none).
    #[arg(long = "log-driver", default_value = "json-file")]
    log_driver: String,
    /// Default log driver options (max-size=10m, max-file=5, ...).
    #[arg(long = "log-opt", value_name = "KEY=VALUE")]
    log_opt: Vec<String>,
    /// Root of per-service log directories: a container with log opt service=NAME (or the
    /// compose service label) also appends its log to ROOT/NAME/NAME.log.
    #[arg(long = "log-service-root", value_name = "DIR")]
    log_service_root: Option<PathBuf>,
    /// Serve Prometheus metrics on this address (e.g. 127.0.0.1:9323).
    #[arg(long = "metrics-addr", value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

/// Runs the daemon; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let args = match DaemonArgs::try_parse_from(std::iter::once("berth daemon".to_string()).chain(argv.iter().cloned())) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 125 } else { 0 };
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!("{},libcgroups=error,libcontainer=error", args.log_level)))
        .with_writer(std::io::stderr)
        .try_init();
    let Some(socket) = args.host.strip_prefix("unix://") else {
        eprintln!("berth daemon: only unix:// hosts are supported, got {:?}", args.host);
        return 125;
    };
    if !args.data_root.is_absolute() || !args.exec_root.is_absolute() {
        eprintln!("berth daemon: --data-root and --exec-root must be absolute paths");
        return 125;
    }
    let mut log_opts = std::collections::BTreeMap::new();
    for kv in &args.log_opt {
        let Some((k, v)) = kv.split_once('=') else {
            eprintln!("berth daemon: --log-opt {kv:?}: expected KEY=VALUE");
            return 125;
        };
        log_opts.insert(k.to_string(), v.to_string());
    }
    if args.log_service_root.as_ref().is_some_and(|p| !p.is_absolute()) {
        eprintln!("berth daemon: --log-service-root must be an absolute path");
        return 125;
    }
    let config = berth_daemon::DaemonConfig {
        socket: PathBuf::from(socket),
        data_root: args.data_root,
        exec_root: args.exec_root,
        bridge: args.bridge,
        bip: args.bip,
        pidfile: args.pidfile,
        cgroup_parent: args.cgroup_parent,
        log_driver: args.log_driver,
        log_opts,
        log_service_root: args.log_service_root,
        metrics_addr: args.metrics_addr,
        insecure_registries: args.insecure_registries,
        registry_mirrors: args.registry_mirrors,
    };
    if let Err(e) = berth_daemon::engine::distribution::RegistryPolicy::from_config(&config) {
        eprintln!("berth daemon: {e}");
        return 125;
    }
    berth_daemon::memory::limit_arenas();
    // Blocking-pool threads (file system and netlink work) go 2 s after their last task
    // instead of tokio's 10: a burst (fifty parallel removals) leaves fewer idle threads, and
    // their stacks, behind; a new one costs ~50 us.
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_keep_alive(std::time::Duration::from_secs(2)).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth daemon: start runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(berth_daemon::run(config)) {
        Ok(()) => {
            // Streams (events, logs -f, attach) must not keep a stopping daemon alive.
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
            0
        }
        Err(e) => {
            eprintln!("berth daemon: {e}");
            1
        }
    }
}
