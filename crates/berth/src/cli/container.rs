//! Container verbs: the `container` group and docker's top-level shortcuts, plus the small
//! lifecycle verbs (start, stop, restart, kill, rm, pause, unpause, rename, wait, top,
//! port, diff).

use berth_api::client::query;
use berth_api::types::{ContainerChange, ContainerInspect, TopResponse, WaitResponse};
use clap::{Args, Subcommand};

use super::error::{CliError, Result};
use super::run::{self, Attached};
use super::{attach, cp, exec, finish, format, image_io, inspect, logs, prune, ps, stats, Ctx};

/// Container verbs available both at the top level and under `container`.
#[derive(Subcommand, Debug)]
pub enum ContainerCmd {
    /// Attach local standard input, output, and error streams to a running container
    Attach(attach::AttachArgs),
    /// Create a new image from a container's changes
    Commit(image_io::CommitArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(OneContainer),
    /// Execute a command in a running container
    Exec(exec::ExecArgs),
    /// Export a container's filesystem as a tar archive
    Export(image_io::ExportArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Fetch the logs of a container
    Logs(logs::LogsArgs),
    /// Pause all processes within one or more containers
    Pause(Containers),
    /// List port mappings or a specific mapping for the container
    Port(PortArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Unpause all processes within one or more containers
    Unpause(Containers),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Containers),
    /// List containers
    Ps(ps::PsArgs),
}

/// `berth container ...`.
#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum ContainerGroup {
    #[command(flatten)]
    Shared(ContainerCmd),
    /// List containers
    #[command(visible_aliases = ["list"])]
    Ls(ps::PsArgs),
    /// Display detailed information on one or more containers
    Inspect(inspect::TypedInspectArgs),
    /// Remove all stopped containers
    Prune(prune::PruneArgs),
}

/// One container.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth COMMAND CONTAINER")]
pub struct OneContainer {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// One or more containers.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth COMMAND CONTAINER [CONTAINER...]")]
pub struct Containers {
    /// The containers
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `start`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth start [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long = "attach")]
    pub attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    pub detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long = "interactive")]
    pub interactive: bool,
    /// The containers
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `stop` and `restart`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth stop [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(short = 't', long = "time", alias = "timeout", value_name = "int", allow_hyphen_values = true)]
    pub time: Option<i64>,
    /// The containers
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `kill`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth kill [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long = "signal", value_name = "string")]
    pub signal: Option<String>,
    /// The containers
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `rm`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth rm [OPTIONS] CONTAINER [CONTAINER...]")]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long = "link")]
    pub link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    /// The containers
    #[arg(value_name = "CONTAINER", required = true)]
    pub containers: Vec<String>,
}

/// `rename`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth rename CONTAINER NEW_NAME")]
pub struct RenameArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// The new name
    #[arg(value_name = "NEW_NAME")]
    pub new_name: String,
}

/// `top`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth top CONTAINER [ps OPTIONS]")]
pub struct TopArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// Options for ps
    #[arg(value_name = "ps OPTIONS", trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// `port`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth port CONTAINER [PRIVATE_PORT[/PROTO]]")]
pub struct PortArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
    /// PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    pub port: Option<String>,
}

/// Runs a shared container verb.
pub async fn dispatch(ctx: &Ctx, cmd: ContainerCmd) -> i32 {
    use ContainerCmd::*;
    match cmd {
        Run(a) => finish(run::run(ctx, a).await, 125),
        Create(a) => finish(run::create(ctx, a).await, 125),
        Attach(a) => finish(attach::run(ctx, a).await, 1),
        Commit(a) => finish(image_io::commit(ctx, a).await, 1),
        Cp(a) => finish(cp::run(ctx, a).await, 1),
        Diff(a) => finish(diff(ctx, a).await, 1),
        Exec(a) => finish(exec::run(ctx, a).await, 1),
        Export(a) => finish(image_io::export(ctx, a).await, 1),
        Kill(a) => finish(kill(ctx, a).await, 1),
        Logs(a) => finish(logs::run(ctx, a).await, 1),
        Pause(a) => finish(each(&a.containers, |c| simple(ctx, c, "pause")).await, 1),
        Unpause(a) => finish(each(&a.containers, |c| simple(ctx, c, "unpause")).await, 1),
        Port(a) => finish(port(ctx, a).await, 1),
        Rename(a) => finish(rename(ctx, a).await, 1),
        Restart(a) => finish(stop(ctx, a, "restart").await, 1),
        Rm(a) => finish(rm(ctx, a).await, 1),
        Start(a) => finish(start(ctx, a).await, 1),
        Stats(a) => finish(stats::run(ctx, a).await, 1),
        Stop(a) => finish(stop(ctx, a, "stop").await, 1),
        Top(a) => finish(top(ctx, a).await, 1),
        Wait(a) => finish(wait(ctx, a).await, 1),
        Ps(a) => finish(ps::run(ctx, a).await, 1),
    }
}

/// Runs a `container` subcommand.
pub async fn dispatch_group(ctx: &Ctx, g: ContainerGroup) -> i32 {
    match g {
        ContainerGroup::Shared(c) => dispatch(ctx, c).await,
        ContainerGroup::Ls(a) => finish(ps::run(ctx, a).await, 1),
        ContainerGroup::Inspect(a) => finish(inspect::run_typed(ctx, a, "container").await, 1),
        ContainerGroup::Prune(a) => finish(prune::containers(ctx, a).await, 1),
    }
}

/// How many requests of one multi-target verb (`rm`, `stop`, `kill`, ...) are in flight at
/// once; docker's CLI works on up to 50 targets in parallel, and so does ours.
const PARALLEL_TARGETS: usize = 50;

/// Runs `f` for every name, up to [`PARALLEL_TARGETS`] at once (`rm -f` of fifty containers
/// should not take fifty round trips back to back), printing the names in the order given as
/// they succeed and every error at the end.
pub async fn each<'a, F, Fut>(names: &'a [String], f: F) -> Result<i32>
where
    F: Fn(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    use futures_util::StreamExt;
    let mut errors = Vec::new();
    let mut results = futures_util::stream::iter(names.iter().map(|n| {
        let fut = f(n);
        async move { (n, fut.await) }
    }))
    .buffered(PARALLEL_TARGETS);
    while let Some((name, result)) = results.next().await {
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

async fn simple(ctx: &Ctx, name: &str, action: &str) -> Result<()> {
    ctx.client.post_status(&format!("/containers/{name}/{action}"), None::<&()>).await?;
    Ok(())
}

/// `GET /containers/{id}/json`.
pub async fn inspect_container(ctx: &Ctx, name: &str) -> Result<ContainerInspect> {
    ctx.get(&format!("/containers/{name}/json")).await
}

async fn stop(ctx: &Ctx, a: StopArgs, action: &str) -> Result<i32> {
    let q = query(&[("t", a.time.map(|t| t.to_string()).unwrap_or_default()), ("signal", a.signal.clone().unwrap_or_default())]);
    each(&a.containers, |c| {
        let path = format!("/containers/{c}/{action}{q}");
        async move {
            ctx.client.post_status(&path, None::<&()>).await?;
            Ok(())
        }
    })
    .await
}

async fn kill(ctx: &Ctx, a: KillArgs) -> Result<i32> {
    let q = query(&[("signal", a.signal.clone().unwrap_or_default())]);
    each(&a.containers, |c| {
        let path = format!("/containers/{c}/kill{q}");
        async move {
            ctx.client.post_status(&path, None::<&()>).await?;
            Ok(())
        }
    })
    .await
}

async fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    let b = |on: bool| if on { "1".to_string() } else { String::new() };
    let q = query(&[("force", b(a.force)), ("v", b(a.volumes)), ("link", b(a.link))]);
    each(&a.containers, |c| {
        let path = format!("/containers/{}{q}", c.trim_start_matches('/'));
        async move {
            let _: serde_json::Value = ctx.client.delete(&path).await?;
            Ok(())
        }
    })
    .await
}

async fn rename(ctx: &Ctx, a: RenameArgs) -> Result<i32> {
    let new = a.new_name.trim_start_matches('/');
    if new.is_empty() {
        return Err(CliError::msg("Error: neither old nor new names may be empty"));
    }
    let path = format!("/containers/{}/rename{}", a.container, query(&[("name", new.to_string())]));
    ctx.client.post_status(&path, None::<&()>).await?;
    Ok(0)
}

async fn wait(ctx: &Ctx, a: Containers) -> Result<i32> {
    let mut errors = Vec::new();
    for c in &a.containers {
        match ctx.post::<WaitResponse>(&format!("/containers/{c}/wait"), None::<&()>).await {
            Ok(w) => println!("{}", w.status_code),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

async fn start(ctx: &Ctx, a: StartArgs) -> Result<i32> {
    if !(a.attach || a.interactive) {
        let mut failed = Vec::new();
        for c in &a.containers {
            match simple(ctx, c, "start").await {
                Ok(()) => println!("{c}"),
                Err(e) => {
                    eprintln!("{e}");
                    failed.push(c.clone());
                }
            }
        }
        if failed.is_empty() {
            return Ok(0);
        }
        return Err(CliError::msg(format!("Error: failed to start containers: {}", failed.join(", "))));
    }
    if a.containers.len() > 1 {
        return Err(CliError::msg("you cannot start and attach multiple containers at once"));
    }
    let c = inspect_container(ctx, &a.containers[0]).await?;
    let attached = Attached {
        id: c.id.clone(),
        streams: (a.interactive && c.config.open_stdin, true, true),
        tty: c.config.tty,
        auto_remove: c.host_config.auto_remove,
        sig_proxy: true,
        detach_keys: a.detach_keys.clone(),
        verb: "start",
    };
    if attached.tty && attached.streams.0 && !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    run::attach_start_wait(ctx, &attached).await
}

async fn top(ctx: &Ctx, a: TopArgs) -> Result<i32> {
    let q = query(&[("ps_args", a.ps_args.join(" "))]);
    let top: TopResponse = ctx.get(&format!("/containers/{}/top{q}", a.container)).await?;
    let mut text = top.titles.join("\t") + "\n";
    for p in &top.processes {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    print!("{}", format::tabwrite_min(&text, 20));
    Ok(0)
}

async fn diff(ctx: &Ctx, a: OneContainer) -> Result<i32> {
    let changes: Option<Vec<ContainerChange>> = ctx.get(&format!("/containers/{}/changes", a.container)).await?;
    for ch in changes.unwrap_or_default() {
        let kind = match ch.kind {
            0 => "C",
            1 => "A",
            2 => "D",
            _ => "?",
        };
        println!("{kind} {}", ch.path);
    }
    Ok(0)
}

fn join_host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

async fn port(ctx: &Ctx, a: PortArgs) -> Result<i32> {
    let c = inspect_container(ctx, &a.container).await?;
    let mut ports: Vec<(&String, &Option<Vec<berth_api::types::PortBinding>>)> = c.network_settings.ports.iter().collect();
    ports.sort_by_key(|(k, _)| (k.split('/').next().and_then(|p| p.parse::<u32>().ok()).unwrap_or(0), k.to_string()));
    if let Some(want) = &a.port {
        let key = if want.contains('/') { want.clone() } else { format!("{want}/tcp") };
        let bindings: Vec<_> = ports.iter().filter(|(k, _)| **k == key).flat_map(|(_, b)| b.iter().flatten()).collect();
        if bindings.is_empty() {
            return Err(CliError::msg(format!("Error: No public port '{want}' published for {}", a.container)));
        }
        for b in bindings {
            println!("{}", join_host_port(&b.host_ip, &b.host_port));
        }
        return Ok(0);
    }
    for (k, bindings) in ports {
        for b in bindings.iter().flatten() {
            println!("{k} -> {}", join_host_port(&b.host_ip, &b.host_port));
        }
    }
    Ok(0)
}
