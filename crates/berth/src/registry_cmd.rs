//! `berth registry serve|gc`: the built-in OCI distribution registry.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// `berth registry` flags.
#[derive(Debug, Parser)]
#[command(name = "berth registry", about = "Run or maintain the built-in OCI registry")]
struct RegistryArgs {
    #[command(subcommand)]
    command: RegistryCommand,
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Serve the registry.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:5000")]
        addr: SocketAddr,
        /// Storage root.
        #[arg(long, default_value = "/var/lib/berth-registry")]
        root: PathBuf,
        /// TLS certificate (PEM).
        #[arg(long = "tls-cert", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// TLS key (PEM).
        #[arg(long = "tls-key", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// htpasswd file with bcrypt entries: require basic auth.
        #[arg(long)]
        htpasswd: Option<PathBuf>,
        /// With --htpasswd: anonymous reads, authenticated writes.
        #[arg(long = "auth-writes-only")]
        auth_writes_only: bool,
        /// With --htpasswd: bearer token mode; the URL of this registry's token endpoint
        /// (e.g. http://127.0.0.1:5000/token), announced in challenges.
        #[arg(long = "token-realm", requires = "htpasswd")]
        token_realm: Option<String>,
        /// The service name of token mode (default: the listen address).
        #[arg(long = "token-service", requires = "token_realm")]
        token_service: Option<String>,
    },
    /// Delete blobs no manifest references.
    Gc {
        /// Storage root.
        #[arg(long, default_value = "/var/lib/berth-registry")]
        root: PathBuf,
        /// Report what would be deleted without deleting.
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
}

/// Runs `berth registry ...`; returns the exit code.
pub fn main(argv: &[String]) -> i32 {
    let args = match RegistryArgs::try_parse_from(std::iter::once("berth registry".to_string()).chain(argv.iter().cloned())) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 1 } else { 0 };
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(std::env::var("BERTH_LOG").unwrap_or_else(|_| "info".into())))
        .with_writer(std::io::stderr)
        .try_init();
    match args.command {
        RegistryCommand::Serve { addr, root, tls_cert, tls_key, htpasswd, auth_writes_only, token_realm, token_service } => {
            let tls = match (tls_cert, tls_key) {
                (Some(cert), Some(key)) => Some(berth_registry::TlsFiles { cert, key }),
                _ => None,
            };
            let token = token_realm.map(|realm| berth_registry::token::TokenConfig { realm, service: token_service.unwrap_or_else(|| addr.to_string()) });
            let config = berth_registry::ServeConfig { addr, root, tls, htpasswd, auth_writes_only, token };
            let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("berth registry: {e}");
                    return 1;
                }
            };
            match rt.block_on(berth_registry::serve(config, berth_registry::shutdown_signal())) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("berth registry: {e}");
                    1
                }
            }
        }
        RegistryCommand::Gc { root, dry_run } => match berth_registry::gc(&root, dry_run) {
            Ok(report) => {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
                0
            }
            Err(e) => {
                eprintln!("berth registry gc: {e}");
                1
            }
        },
    }
}
