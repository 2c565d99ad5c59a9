//! `system prune`: stopped containers, unused networks, dangling (or, with `-a`, unused)
//! images, build cache, and with `--volumes` anonymous volumes, in docker's order and with its
//! report. A daemon without networks or a build cache yet (404/501 there) has nothing to prune
//! of them.

use std::io::{BufRead, Write};

use berth_api::client::{query, ClientError};
use berth_api::types::{ContainerPruneResponse, ImagePruneResponse, VolumePruneResponse};
use clap::Args;
use serde_json::Value;

use super::error::{CliError, Result};
use super::format::human_size;
use super::{ps, Ctx};

/// `berth system prune`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth system prune [OPTIONS]")]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Prune anonymous volumes
    #[arg(long = "volumes")]
    pub volumes: bool,
}

fn warning(a: &SystemPruneArgs) -> String {
    let mut items = vec!["all stopped containers", "all networks not used by at least one container"];
    if a.volumes {
        items.push("all anonymous volumes not used by at least one container");
    }
    items.push(if a.all { "all images without at least one container associated to them" } else { "all dangling images" });
    items.push(if a.all { "all build cache" } else { "unused build cache" });
    let mut s = String::from("WARNING! This will remove:\n");
    for i in items {
        s.push_str(&format!("  - {i}\n"));
    }
    s
}

fn confirm(text: &str) -> bool {
    print!("{text}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && matches!(line.trim(), "y" | "Y")
}

fn filters(values: &[String], extra: Option<(&str, &str)>) -> Result<String> {
    let mut f = ps::parse_filters(values)?;
    if let Some((k, v)) = extra {
        f.add(k, v);
    }
    Ok(query(&[("filters", if f.0.is_empty() { String::new() } else { f.to_json() })]))
}

/// POSTs a prune; `None` when the daemon does not have that kind of object yet.
async fn prune(ctx: &Ctx, path: &str) -> Result<Option<Value>> {
    match ctx.post::<Value>(path, None::<&()>).await {
        Ok(v) => Ok(Some(v)),
        Err(CliError::Client(ClientError::Api { status: 404 | 501, .. })) => Ok(None),
        Err(e) => Err(e),
    }
}

fn section(title: &str, items: &[String]) {
    if !items.is_empty() {
        println!("{title}:");
        for i in items {
            println!("{i}");
        }
        println!();
    }
}

/// `berth system prune`.
pub async fn run(ctx: &Ctx, a: SystemPruneArgs) -> Result<i32> {
    if !a.force && !confirm(&warning(&a)) {
        return Ok(0);
    }
    let mut reclaimed = 0u64;
    let q = filters(&a.filter, None)?;
    if let Some(v) = prune(ctx, &format!("/containers/prune{q}")).await? {
        let r: ContainerPruneResponse = super::lenient(v)?;
        section("Deleted Containers", &r.containers_deleted);
        reclaimed += r.space_reclaimed;
    }
    if let Some(v) = prune(ctx, &format!("/networks/prune{q}")).await? {
        let names: Vec<String> = v["NetworksDeleted"].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(String::from)).collect();
        section("Deleted Networks", &names);
    }
    if a.volumes {
        if let Some(v) = prune(ctx, &format!("/volumes/prune{q}")).await? {
            let r: VolumePruneResponse = super::lenient(v)?;
            section("Deleted Volumes", &r.volumes_deleted);
            reclaimed += r.space_reclaimed;
        }
    }
    let qi = filters(&a.filter, Some(("dangling", if a.all { "false" } else { "true" })))?;
    if let Some(v) = prune(ctx, &format!("/images/prune{qi}")).await? {
        let r: ImagePruneResponse = super::lenient(v)?;
        let items: Vec<String> = r
            .images_deleted
            .iter()
            .flat_map(|i| [i.untagged.as_ref().map(|u| format!("untagged: {u}")), i.deleted.as_ref().map(|d| format!("deleted: {d}"))])
            .flatten()
            .collect();
        section("Deleted Images", &items);
        reclaimed += r.space_reclaimed;
    }
    let qb = query(&[("all", if a.all { "1".to_string() } else { String::new() })]);
    if let Some(v) = prune(ctx, &format!("/build/prune{qb}")).await? {
        let ids: Vec<String> = v["CachesDeleted"].as_array().into_iter().flatten().filter_map(|n| n.as_str().map(String::from)).collect();
        section("Deleted build cache objects", &ids);
        reclaimed += v["SpaceReclaimed"].as_u64().unwrap_or(0);
    }
    println!("Total reclaimed space: {}", human_size(reclaimed as f64));
    Ok(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn warning_lists_what_goes() {
        let a = SystemPruneArgs { all: false, filter: vec![], force: true, volumes: true };
        let w = warning(&a);
        assert!(w.contains("all stopped containers") && w.contains("anonymous volumes") && w.contains("dangling images"));
        let a = SystemPruneArgs { volumes: false, all: true, ..a };
        assert!(!warning(&a).contains("volumes") && warning(&a).contains("all build cache"));
    }
}
