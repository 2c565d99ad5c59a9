//! `volume create|ls|inspect|rm|prune`.

use berth_api::client::query;
use berth_api::types::{Volume, VolumeCreateRequest, VolumeList};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::error::{CliError, Result};
use super::format::human_size_prec;
use super::{inspect, listing, opts, prune, ps, Ctx};

/// `berth volume ...`.
#[derive(Subcommand, Debug)]
pub enum VolumeCmd {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(inspect::TypedInspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(prune::VolumePruneArgs),
}

/// `volume create`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth volume create [OPTIONS] [VOLUME]")]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long = "driver", value_name = "string", default_value = "local")]
    pub driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Specify volume name
    #[arg(long = "name", value_name = "string", hide = true)]
    pub name_flag: Option<String>,
    /// The volume name
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

/// `volume ls`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth volume ls [OPTIONS]")]
pub struct LsArgs {
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string", default_value = "")]
    pub format: String,
    /// Only display volume names
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `volume rm`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth volume rm [OPTIONS] VOLUME [VOLUME...]")]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Volumes
    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

/// Runs a volume verb.
pub async fn run(ctx: &Ctx, cmd: VolumeCmd) -> Result<i32> {
    match cmd {
        VolumeCmd::Create(a) => create(ctx, a).await,
        VolumeCmd::Ls(a) => ls(ctx, a).await,
        VolumeCmd::Inspect(a) => inspect::run_typed(ctx, a, "volume").await,
        VolumeCmd::Rm(a) => rm(ctx, a).await,
        VolumeCmd::Prune(a) => prune::volumes(ctx, a).await,
    }
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<i32> {
    if a.name.is_some() && a.name_flag.is_some() {
        return Err(CliError::msg("conflicting options: cannot specify a volume-name through both --name and as a positional arg"));
    }
    let body = VolumeCreateRequest {
        name: a.name.or(a.name_flag).unwrap_or_default(),
        driver: a.driver,
        driver_opts: opts::kv_map(&a.opt),
        labels: opts::kv_map(&a.label),
    };
    let v: Volume = ctx.post("/volumes/create", Some(&body)).await?;
    println!("{}", v.name);
    Ok(0)
}

fn row(v: &Volume) -> Value {
    let size = v.usage_data.as_ref().map(|u| u.size).unwrap_or(-1);
    json!({
        "Name": v.name,
        "Driver": v.driver,
        "Scope": v.scope,
        "Mountpoint": v.mountpoint,
        "Labels": v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "Links": v.usage_data.as_ref().map(|u| u.ref_count.to_string()).unwrap_or_else(|| "N/A".into()),
        "Size": if size < 0 { "N/A".to_string() } else { human_size_prec(size as f64, 3) },
    })
}

async fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32> {
    let filters = ps::parse_filters(&a.filter)?;
    let q = query(&[("filters", if filters.0.is_empty() { String::new() } else { filters.to_json() })]);
    let mut list: VolumeList = ctx.get(&format!("/volumes{q}")).await?;
    list.volumes.sort_by(|a, b| a.name.cmp(&b.name));
    for w in &list.warnings {
        eprintln!("{w}");
    }
    let rows: Vec<Value> = list.volumes.iter().map(row).collect();
    let header = listing::header(&[
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
    ]);
    let format = if a.quiet { "{{.Name}}".to_string() } else { a.format };
    print!("{}", listing::render(&format, "table {{.Driver}}\t{{.Name}}", &header, &rows)?);
    Ok(0)
}

async fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    let q = query(&[("force", if a.force { "1".into() } else { String::new() })]);
    super::container::each(&a.volumes, |v| {
        let path = format!("/volumes/{v}{q}");
        async move {
            let _: Value = ctx.client.delete(&path).await?;
            Ok(())
        }
    })
    .await
}
