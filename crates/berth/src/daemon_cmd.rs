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
    /// Log level (error, warn, info, debug, trace).
    #[arg(short = 'l', long = "log-level", default_value = "info")]
    log_level: String,
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
    let config = berth_daemon::DaemonConfig {
        socket: PathBuf::from(socket),
        data_root: args.data_root,
        exec_root: args.exec_root,
        bridge: args.bridge,
        bip: args.bip,
        pidfile: args.pidfile,
        cgroup_parent: args.cgroup_parent,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
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
