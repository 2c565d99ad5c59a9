//! The `berth` command line: docker's verbs, flags, output and exit codes over the Engine API.
//!
//! Every verb parses its flags with clap (docker's names), turns them into API requests and
//! talks to the daemon only through [`berth_api::client::Client`]. Verbs return their exit
//! code; errors become docker's messages: `Error response from daemon: ...` and exit 1, or
//! 125 for `run`/`create` (126/127 when the command cannot be invoked), and 125 for flag errors.

mod attach;
mod build;
mod container;
mod cp;
mod create_flags;
mod error;
mod events;
mod exec;
mod format;
mod hijack;
mod image_io;
mod images;
mod inspect;
mod listing;
mod logs;
mod network;
mod opts;
mod progress;
mod prune;
mod ps;
mod registry;
mod run;
mod stats;
mod system;
mod system_prune;
mod template;
mod usage;
mod volume;

use std::path::PathBuf;

use berth_api::client::Client;
use clap::{Parser, Subcommand};

pub use error::{CliError, Result};

/// The socket used when neither `-H`, `BERTH_HOST` nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Global options (before the verb, like docker's).
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    about = "A self-sufficient runtime for containers",
    override_usage = "berth [OPTIONS] COMMAND",
    disable_version_flag = true,
    disable_help_subcommand = true
)]
struct Cli {
    /// Daemon socket to connect to (unix:///path)
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    host: Option<String>,
    /// Location of client config files
    #[arg(long = "config", value_name = "DIR")]
    config: Option<PathBuf>,
    /// Enable debug mode
    #[arg(short = 'D', long = "debug")]
    debug: bool,
    /// Set the logging level
    #[arg(short = 'l', long = "log-level", value_name = "LEVEL")]
    log_level: Option<String>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    version: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

/// Top-level verbs, docker's shortcuts included.
#[derive(Subcommand, Debug)]
enum Cmd {
    #[command(flatten)]
    Container(container::ContainerCmd),
    #[command(flatten)]
    Image(images::ImageCmd),
    #[command(flatten)]
    ImageShortcut(images::ImageShortcut),
    /// Manage containers
    #[command(name = "container", subcommand)]
    ContainerGroup(container::ContainerGroup),
    /// Manage images
    #[command(name = "image", subcommand)]
    ImageGroup(images::ImageGroup),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCmd),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Manage berth
    #[command(subcommand)]
    System(system::SystemCmd),
    /// Show the berth version information
    Version(system::VersionArgs),
    /// Display system-wide information
    Info(system::InfoArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Return low-level information on berth objects
    Inspect(inspect::InspectArgs),
    /// Log in to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
}

/// What every verb gets: the API client and the client config directory.
pub struct Ctx {
    /// The daemon client.
    pub client: Client,
    /// Where `config.json` lives (`~/.docker` unless `--config` / `DOCKER_CONFIG`).
    pub config_dir: PathBuf,
}

fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// `-H`, then `BERTH_HOST`, then `DOCKER_HOST`, then the default socket.
pub fn resolve_host(flag: Option<String>) -> String {
    flag.or_else(|| env_nonempty("BERTH_HOST")).or_else(|| env_nonempty("DOCKER_HOST")).unwrap_or_else(|| DEFAULT_HOST.to_string())
}

fn config_dir(flag: Option<PathBuf>) -> PathBuf {
    flag.or_else(|| env_nonempty("DOCKER_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| "/root".into())).join(".docker"))
}

/// Runs the CLI and returns the process exit code.
pub fn main(args: Vec<String>) -> i32 {
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => return usage::report(e, &args),
    };
    if cli.version {
        println!("berth version {}, build {}", env!("CARGO_PKG_VERSION"), berth_api::ENGINE_VERSION);
        return 0;
    }
    let _ = (cli.debug, cli.log_level);
    let Some(command) = cli.command else {
        usage::print_help(&[]);
        return 0;
    };
    let host = resolve_host(cli.host);
    let client = match Client::from_host(&host) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let ctx = Ctx { client, config_dir: config_dir(cli.config) };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let code = rt.block_on(dispatch(&ctx, command));
    rt.shutdown_background();
    code
}

/// Prints a verb's error the way docker does and returns the exit code.
fn finish(result: Result<i32>, default_code: i32) -> i32 {
    match result {
        Ok(code) => code,
        Err(CliError::Code { msg, code }) => {
            if !msg.is_empty() {
                eprintln!("{msg}");
            }
            code
        }
        Err(e) => {
            eprintln!("{e}");
            default_code
        }
    }
}

async fn dispatch(ctx: &Ctx, cmd: Cmd) -> i32 {
    match cmd {
        Cmd::Container(c) => container::dispatch(ctx, c).await,
        Cmd::ContainerGroup(g) => container::dispatch_group(ctx, g).await,
        Cmd::Image(c) => images::dispatch(ctx, c).await,
        Cmd::ImageShortcut(c) => images::dispatch_shortcut(ctx, c).await,
        Cmd::ImageGroup(g) => images::dispatch_group(ctx, g).await,
        Cmd::Volume(v) => finish(volume::run(ctx, v).await, 1),
        Cmd::Network(n) => finish(network::run(ctx, n).await, 1),
        Cmd::System(s) => finish(system::run(ctx, s).await, 1),
        Cmd::Version(a) => finish(system::version(ctx, a).await, 1),
        Cmd::Info(a) => finish(system::info(ctx, a).await, 1),
        Cmd::Events(a) => finish(events::run(ctx, a).await, 1),
        Cmd::Inspect(a) => finish(inspect::run(ctx, a).await, 1),
        Cmd::Login(a) => finish(registry::login(ctx, a).await, 1),
        Cmd::Logout(a) => finish(registry::logout(ctx, a).await, 1),
    }
}

/// Drops `null` members so that `#[serde(default)]` fills them: daemons such as moby send
/// `"Labels": null` or `"RepoTags": null` where our types expect a map or a list.
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Decodes a daemon answer leniently (see [`drop_nulls`]).
pub fn lenient<T: serde::de::DeserializeOwned>(mut v: serde_json::Value) -> Result<T> {
    drop_nulls(&mut v);
    serde_json::from_value(v).map_err(|e| CliError::msg(format!("unexpected answer from daemon: {e}")))
}

impl Ctx {
    /// `GET` and decode leniently.
    pub async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        lenient(self.client.get::<serde_json::Value>(path).await?)
    }

    /// `POST` (JSON body or none) and decode the answer leniently.
    pub async fn post<T: serde::de::DeserializeOwned>(&self, path: &str, body: Option<&impl serde::Serialize>) -> Result<T> {
        lenient(self.client.post::<serde_json::Value>(path, body).await?)
    }
}
