//! `network create|ls|inspect|rm|connect|disconnect|prune`, with docker's flags and output.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use berth_api::client::query;
use berth_api::types::{
    EndpointSettings, Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse,
};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::error::{CliError, Result};
use super::{inspect, listing, opts, ps, Ctx};

/// `berth network ...`.
#[derive(Subcommand, Debug)]
pub enum NetworkCmd {
    /// Create a network
    Create(CreateArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more networks
    Inspect(inspect::TypedInspectArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
}

/// `network create`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth network create [OPTIONS] NETWORK")]
pub struct CreateArgs {
    /// Driver to manage the Network
    #[arg(short = 'd', long = "driver", value_name = "string", default_value = "bridge")]
    pub driver: String,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long = "subnet", value_name = "strings")]
    pub subnet: Vec<String>,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long = "gateway", value_name = "strings")]
    pub gateway: Vec<String>,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    pub ip_range: Vec<String>,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    pub aux_address: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    pub ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    pub ipam_opt: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    pub opt: Vec<String>,
    /// Set metadata on a network
    #[arg(long = "label", value_name = "list")]
    pub label: Vec<String>,
    /// Restrict external access to the network
    #[arg(long = "internal")]
    pub internal: bool,
    /// Enable manual container attachment
    #[arg(long = "attachable")]
    pub attachable: bool,
    /// Enable or disable IPv6 networking
    #[arg(long = "ipv6")]
    pub ipv6: bool,
    /// Control the network's scope
    #[arg(long = "scope", value_name = "string", default_value = "")]
    pub scope: String,
    /// Network name
    #[arg(value_name = "NETWORK")]
    pub name: String,
}

/// `network ls`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth network ls [OPTIONS]")]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string", default_value = "")]
    pub format: String,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `network rm`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth network rm NETWORK [NETWORK...]")]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Networks
    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

/// `network connect`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth network connect [OPTIONS] NETWORK CONTAINER")]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long = "alias", value_name = "strings")]
    pub alias: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long = "ip", value_name = "string")]
    pub ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long = "ip6", value_name = "string")]
    pub ip6: Option<String>,
    /// Add link to another container
    #[arg(long = "link", value_name = "list")]
    pub link: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings")]
    pub driver_opt: Vec<String>,
    /// Network
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// Container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `network disconnect`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth network disconnect [OPTIONS] NETWORK CONTAINER")]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Network
    #[arg(value_name = "NETWORK")]
    pub network: String,
    /// Container
    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

/// `network prune`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth network prune [OPTIONS]")]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// Runs a network verb.
pub async fn run(ctx: &Ctx, cmd: NetworkCmd) -> Result<i32> {
    match cmd {
        NetworkCmd::Create(a) => create(ctx, a).await,
        NetworkCmd::Ls(a) => ls(ctx, a).await,
        NetworkCmd::Inspect(a) => inspect::run_typed(ctx, a, "network").await,
        NetworkCmd::Rm(a) => rm(ctx, a).await,
        NetworkCmd::Connect(a) => connect(ctx, a).await,
        NetworkCmd::Disconnect(a) => disconnect(ctx, a).await,
        NetworkCmd::Prune(a) => prune(ctx, a).await,
    }
}

/// The IPAM section of `network create`, pairing `--gateway`/`--ip-range` with `--subnet`s
/// in order like docker does.
fn ipam(a: &CreateArgs) -> Result<Ipam> {
    if a.subnet.is_empty() && (!a.gateway.is_empty() || !a.ip_range.is_empty()) {
        return Err(CliError::msg("every ip-range or gateway must have a corresponding subnet"));
    }
    if a.gateway.len() > a.subnet.len() || a.ip_range.len() > a.subnet.len() {
        return Err(CliError::msg("cannot configure multiple gateways or ranges for one subnet"));
    }
    let aux = opts::kv_map(&a.aux_address);
    let config = a
        .subnet
        .iter()
        .enumerate()
        .map(|(i, s)| IpamConfig {
            subnet: s.clone(),
            ip_range: a.ip_range.get(i).cloned().unwrap_or_default(),
            gateway: a.gateway.get(i).cloned().unwrap_or_default(),
            auxiliary_addresses: if i == 0 { aux.clone() } else { BTreeMap::new() },
        })
        .collect();
    Ok(Ipam { driver: a.ipam_driver.clone(), options: opts::kv_map(&a.ipam_opt), config })
}

async fn create(ctx: &Ctx, a: CreateArgs) -> Result<i32> {
    let body = NetworkCreateRequest {
        name: a.name.clone(),
        check_duplicate: true,
        driver: a.driver.clone(),
        scope: a.scope.clone(),
        internal: a.internal,
        attachable: a.attachable,
        ipam: Some(ipam(&a)?),
        enable_ipv6: Some(a.ipv6),
        options: opts::kv_map(&a.opt),
        labels: opts::kv_map(&a.label),
        ..Default::default()
    };
    let r: NetworkCreateResponse = ctx.post("/networks/create", Some(&body)).await?;
    println!("{}", r.id);
    Ok(0)
}

fn row(n: &Network, trunc: bool) -> Value {
    let id = if trunc { n.id.chars().take(12).collect() } else { n.id.clone() };
    json!({
        "ID": id,
        "Name": n.name,
        "Driver": n.driver,
        "Scope": n.scope,
        "IPv4": n.enable_ipv4.to_string(),
        "IPv6": n.enable_ipv6.to_string(),
        "Internal": n.internal.to_string(),
        "Labels": n.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
        "CreatedAt": n.created,
    })
}

async fn ls(ctx: &Ctx, a: LsArgs) -> Result<i32> {
    let filters = ps::parse_filters(&a.filter)?;
    let q = query(&[("filters", if filters.0.is_empty() { String::new() } else { filters.to_json() })]);
    let list: Vec<Network> = ctx.get(&format!("/networks{q}")).await?;
    let rows: Vec<Value> = list.iter().map(|n| row(n, !a.no_trunc)).collect();
    let header = listing::header(&[
        ("ID", "NETWORK ID"),
        ("Name", "NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("IPv4", "IPV4"),
        ("IPv6", "IPV6"),
        ("Internal", "INTERNAL"),
        ("Labels", "LABELS"),
        ("CreatedAt", "CREATED AT"),
    ]);
    let format = if a.quiet { "{{.ID}}".to_string() } else { a.format };
    print!("{}", listing::render(&format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", &header, &rows)?);
    Ok(0)
}

async fn rm(ctx: &Ctx, a: RmArgs) -> Result<i32> {
    let mut errors = Vec::new();
    for n in &a.networks {
        match ctx.client.delete::<Value>(&format!("/networks/{n}")).await {
            Ok(_) => println!("{n}"),
            Err(e) if a.force && e.status() == Some(404) => {}
            Err(e) => errors.push(CliError::from(e).to_string()),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

async fn connect(ctx: &Ctx, a: ConnectArgs) -> Result<i32> {
    let mut ipam = serde_json::Map::new();
    if let Some(ip) = &a.ip {
        ipam.insert("IPv4Address".into(), json!(ip));
    }
    if let Some(ip) = &a.ip6 {
        ipam.insert("IPv6Address".into(), json!(ip));
    }
    let endpoint = EndpointSettings {
        ipam_config: (!ipam.is_empty()).then_some(Value::Object(ipam)),
        links: a.link.clone(),
        aliases: a.alias.clone(),
        ..Default::default()
    };
    let body = NetworkConnectRequest { container: a.container.clone(), endpoint_config: Some(endpoint) };
    ctx.client.post_status(&format!("/networks/{}/connect", a.network), Some(&body)).await?;
    Ok(0)
}

async fn disconnect(ctx: &Ctx, a: DisconnectArgs) -> Result<i32> {
    let body = NetworkDisconnectRequest { container: a.container.clone(), force: a.force };
    ctx.client.post_status(&format!("/networks/{}/disconnect", a.network), Some(&body)).await?;
    Ok(0)
}

async fn prune(ctx: &Ctx, a: PruneArgs) -> Result<i32> {
    if !a.force {
        print!("WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() || !matches!(line.trim(), "y" | "Y") {
            return Ok(0);
        }
    }
    let filters = ps::parse_filters(&a.filter)?;
    let q = query(&[("filters", if filters.0.is_empty() { String::new() } else { filters.to_json() })]);
    let r: NetworkPruneResponse = ctx.post(&format!("/networks/prune{q}"), None::<&()>).await?;
    if !r.networks_deleted.is_empty() {
        println!("Deleted Networks:");
        for n in &r.networks_deleted {
            println!("{n}");
        }
    }
    Ok(0)
}
