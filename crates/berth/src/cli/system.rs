//! `version`, `info` and `system df|events|info`.

use berth_api::types::{Info, Version};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::error::{CliError, Result};
use super::format::{bytes_size, human_size};
use super::template::Template;
use super::{events, listing, Ctx};

/// `berth system ...`.
#[derive(Subcommand, Debug)]
pub enum SystemCmd {
    /// Show docker disk usage
    Df(DfArgs),
    /// Get real time events from the server
    Events(events::EventsArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Remove unused data
    Prune(super::system_prune::SystemPruneArgs),
}

/// `version`.
#[derive(Args, Debug, Clone)]
pub struct VersionArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
}

/// `info`.
#[derive(Args, Debug, Clone)]
pub struct InfoArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long = "format", value_name = "string")]
    pub format: Option<String>,
}

/// `system df`.
#[derive(Args, Debug, Clone)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string", default_value = "")]
    pub format: String,
    /// Show detailed information on space usage
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

/// Runs a `system` verb.
pub async fn run(ctx: &Ctx, cmd: SystemCmd) -> Result<i32> {
    match cmd {
        SystemCmd::Df(a) => df(ctx, a).await,
        SystemCmd::Events(a) => events::run(ctx, a).await,
        SystemCmd::Info(a) => info(ctx, a).await,
        SystemCmd::Prune(a) => super::system_prune::run(ctx, a).await,
    }
}

fn client_version() -> Value {
    json!({
        "Platform": {"Name": "berth"},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": berth_api::API_VERSION,
        "DefaultAPIVersion": berth_api::API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn render(format: &str, v: &Value) -> Result<()> {
    let f = if format == "json" { "{{json .}}" } else { format };
    let tpl = Template::parse(f).map_err(|e| CliError::msg(format!("template parsing error: {e}")))?;
    println!("{}", tpl.render(v).map_err(|e| CliError::msg(e.to_string()))?);
    Ok(())
}

/// `berth version`.
pub async fn version(ctx: &Ctx, a: VersionArgs) -> Result<i32> {
    let client = client_version();
    let server: Result<Version> = ctx.get("/version").await;
    if let Some(f) = &a.format {
        let server_value = server.as_ref().ok().and_then(|s| serde_json::to_value(s).ok()).unwrap_or(Value::Null);
        render(f, &json!({"Client": client, "Server": server_value}))?;
        return server.map(|_| 0);
    }
    println!("Client:");
    println!(" Version:           {}", client["Version"].as_str().unwrap_or(""));
    println!(" API version:       {}", berth_api::API_VERSION);
    println!(" OS/Arch:           {}/{}", std::env::consts::OS, go_arch());
    println!(" Context:           default");
    let s = server?;
    println!();
    println!("Server: {}", if s.platform.name.is_empty() { "berth" } else { &s.platform.name });
    for c in &s.components {
        println!(" {}:", c.name);
        println!("  Version:          {}", c.version);
        if c.name == "Engine" {
            println!("  API version:      {} (minimum version {})", s.api_version, s.min_api_version);
            if !s.git_commit.is_empty() {
                println!("  Git commit:       {}", s.git_commit);
            }
            if !s.build_time.is_empty() {
                println!("  Built:            {}", s.build_time);
            }
            println!("  OS/Arch:          {}/{}", s.os, s.arch);
            println!("  Experimental:     false");
        }
    }
    if s.components.is_empty() {
        println!(" Engine:");
        println!("  Version:          {}", s.version);
        println!("  API version:      {} (minimum version {})", s.api_version, s.min_api_version);
        println!("  OS/Arch:          {}/{}", s.os, s.arch);
    }
    Ok(0)
}

/// `berth info`.
pub async fn info(ctx: &Ctx, a: InfoArgs) -> Result<i32> {
    let raw: Value = ctx.client.get("/info").await?;
    if let Some(f) = &a.format {
        let mut v = raw.clone();
        v["ClientInfo"] = json!({"Debug": false, "Context": "default", "Version": env!("CARGO_PKG_VERSION")});
        render(f, &v)?;
        return Ok(0);
    }
    let i: Info = super::lenient(raw)?;
    println!("Client:\n Version:    {}\n Context:    default\n Debug Mode: false\n", env!("CARGO_PKG_VERSION"));
    println!("Server:");
    println!(" Containers: {}", i.containers);
    println!("  Running: {}", i.containers_running);
    println!("  Paused: {}", i.containers_paused);
    println!("  Stopped: {}", i.containers_stopped);
    println!(" Images: {}", i.images);
    println!(" Server Version: {}", i.server_version);
    println!(" Storage Driver: {}", i.driver);
    for pair in &i.driver_status {
        if let [k, v] = pair.as_slice() {
            println!("  {k}: {v}");
        }
    }
    println!(" Logging Driver: {}", i.logging_driver);
    println!(" Cgroup Driver: {}", i.cgroup_driver);
    println!(" Cgroup Version: {}", i.cgroup_version);
    println!(" Kernel Version: {}", i.kernel_version);
    println!(" Operating System: {}", i.operating_system);
    println!(" OSType: {}", i.os_type);
    println!(" Architecture: {}", i.architecture);
    println!(" CPUs: {}", i.ncpu);
    println!(" Total Memory: {}", bytes_size(i.mem_total as f64));
    println!(" Name: {}", i.name);
    println!(" ID: {}", i.id);
    println!(" Docker Root Dir: {}", i.docker_root_dir);
    println!(" Debug Mode: {}", i.debug);
    println!(" Experimental: {}", i.experimental_build);
    println!(" Live Restore Enabled: {}", i.live_restore_enabled);
    for w in &i.warnings {
        eprintln!("{w}");
    }
    Ok(0)
}

fn reclaim(reclaimable: i64, total: i64) -> String {
    if total > 0 {
        format!("{} ({}%)", human_size(reclaimable as f64), reclaimable * 100 / total)
    } else {
        human_size(reclaimable as f64)
    }
}

/// The four summary rows of `system df`, computed like docker's formatter.
pub fn df_rows(du: &Value) -> Vec<Value> {
    let arr = |k: &str| du[k].as_array().cloned().unwrap_or_default();
    let num = |v: &Value, k: &str| v[k].as_i64().unwrap_or(0);
    let images = arr("Images");
    let layers = du["LayersSize"].as_i64().unwrap_or(0);
    let used: i64 = images
        .iter()
        .filter(|i| num(i, "Containers") != 0 && num(i, "Size") >= 0 && num(i, "SharedSize") >= 0)
        .map(|i| num(i, "Size") - num(i, "SharedSize"))
        .sum();
    let containers = arr("Containers");
    let running = |c: &Value| c["State"].as_str() == Some("running");
    let csize: i64 = containers.iter().map(|c| num(c, "SizeRw")).sum();
    let creclaim: i64 = containers.iter().filter(|c| !running(c)).map(|c| num(c, "SizeRw")).sum();
    let volumes = arr("Volumes");
    let vsize = |v: &Value| v["UsageData"]["Size"].as_i64().filter(|s| *s >= 0).unwrap_or(0);
    let in_use = |v: &Value| v["UsageData"]["RefCount"].as_i64().unwrap_or(0) > 0;
    let vtotal: i64 = volumes.iter().map(vsize).sum();
    let vreclaim: i64 = volumes.iter().filter(|v| !in_use(v)).map(vsize).sum();
    let row = |t: &str, total: usize, active: usize, size: i64, reclaimable: String| json!({"Type": t, "TotalCount": total.to_string(), "Active": active.to_string(), "Size": human_size(size as f64), "Reclaimable": reclaimable});
    vec![
        row("Images", images.len(), images.iter().filter(|i| num(i, "Containers") > 0).count(), layers, reclaim(layers - used, layers)),
        row("Containers", containers.len(), containers.iter().filter(|c| running(c)).count(), csize, reclaim(creclaim, csize)),
        row("Local Volumes", volumes.len(), volumes.iter().filter(|v| in_use(v)).count(), vtotal, reclaim(vreclaim, vtotal)),
        row("Build Cache", 0, 0, 0, human_size(0.0)),
    ]
}

async fn df(ctx: &Ctx, a: DfArgs) -> Result<i32> {
    let du: Value = ctx.client.get("/system/df").await?;
    if a.verbose {
        println!("{}", super::format::indent_json(du.to_string().as_bytes()));
        return Ok(0);
    }
    let header = listing::header(&[("Type", "TYPE"), ("TotalCount", "TOTAL"), ("Active", "ACTIVE"), ("Size", "SIZE"), ("Reclaimable", "RECLAIMABLE")]);
    let table = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}";
    print!("{}", listing::render(&a.format, table, &header, &df_rows(&du))?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn df_like_docker() {
        let du = json!({
            "LayersSize": 4_264_000,
            "Images": [{"Containers": 1, "Size": 4_264_000, "SharedSize": 0}],
            "Containers": [{"State": "exited", "SizeRw": 100}, {"State": "running", "SizeRw": 50}],
            "Volumes": [{"UsageData": {"Size": 10, "RefCount": 0}}]
        });
        let rows = df_rows(&du);
        assert_eq!(rows[0]["Reclaimable"], "0B (0%)");
        assert_eq!(rows[0]["Active"], "1");
        assert_eq!(rows[1]["Size"], "150B");
        assert_eq!(rows[1]["Reclaimable"], "100B (66%)");
        assert_eq!(rows[2]["Reclaimable"], "10B (100%)");
    }
}
