//! `container prune`, `image prune` and `volume prune`, with docker's confirmation prompt.

use std::io::{BufRead, Write};

use berth_api::client::query;
use berth_api::types::{ContainerPruneResponse, ImagePruneResponse, VolumePruneResponse};
use clap::Args;

use super::error::Result;
use super::format::human_size;
use super::{ps, Ctx};

/// `container prune`.
#[derive(Args, Debug, Clone)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// `image prune`.
#[derive(Args, Debug, Clone)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// `volume prune`.
#[derive(Args, Debug, Clone)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

/// Asks docker's "Are you sure" question; true on `y`/`Y`.
fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y")
}

fn filters_query(values: &[String], extra: Option<(&str, &str)>) -> Result<String> {
    let mut f = ps::parse_filters(values)?;
    if let Some((k, v)) = extra {
        f.add(k, v);
    }
    Ok(query(&[("filters", if f.0.is_empty() { String::new() } else { f.to_json() })]))
}

/// `berth container prune`.
pub async fn containers(ctx: &Ctx, a: PruneArgs) -> Result<i32> {
    if !a.force && !confirm("WARNING! This will remove all stopped containers.") {
        return Ok(0);
    }
    let q = filters_query(&a.filter, None)?;
    let r: ContainerPruneResponse = ctx.post(&format!("/containers/prune{q}"), None::<&()>).await?;
    if !r.containers_deleted.is_empty() {
        println!("Deleted Containers:");
        for id in &r.containers_deleted {
            println!("{id}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(r.space_reclaimed as f64));
    Ok(0)
}

/// `berth image prune`.
pub async fn images(ctx: &Ctx, a: ImagePruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let q = filters_query(&a.filter, Some(("dangling", if a.all { "false" } else { "true" })))?;
    let r: ImagePruneResponse = ctx.post(&format!("/images/prune{q}"), None::<&()>).await?;
    if !r.images_deleted.is_empty() {
        println!("Deleted Images:");
        for item in &r.images_deleted {
            if let Some(u) = &item.untagged {
                println!("untagged: {u}");
            }
            if let Some(d) = &item.deleted {
                println!("deleted: {d}");
            }
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(r.space_reclaimed as f64));
    Ok(0)
}

/// `berth volume prune`.
pub async fn volumes(ctx: &Ctx, a: VolumePruneArgs) -> Result<i32> {
    let warning = if a.all {
        "WARNING! This will remove all local volumes not used by at least one container."
    } else {
        "WARNING! This will remove anonymous local volumes not used by at least one container."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let q = filters_query(&a.filter, a.all.then_some(("all", "true")))?;
    let r: VolumePruneResponse = ctx.post(&format!("/volumes/prune{q}"), None::<&()>).await?;
    if !r.volumes_deleted.is_empty() {
        println!("Deleted Volumes:");
        for v in &r.volumes_deleted {
            println!("{v}");
        }
        println!();
    }
    println!("Total reclaimed space: {}", human_size(r.space_reclaimed as f64));
    Ok(0)
}
