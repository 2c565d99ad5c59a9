//! `stats`: CPU, memory, network, block I/O and pids per container, computed from two
//! samples the way docker's `stats_helpers.go` does; live redraw unless `--no-stream`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};

use berth_api::client::{empty, query};
use berth_api::types::ContainerSummary;
use clap::Args;
use hyper::Method;
use serde_json::{json, Value};

use super::error::{CliError, Result};
use super::format::{bytes_size, human_size_prec, trunc_id};
use super::progress::{next_chunk, JsonSplitter};
use super::{listing, Ctx};

/// `berth stats`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth stats [OPTIONS] [CONTAINER...]")]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string", default_value = "")]
    pub format: String,
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Containers
    #[arg(value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// The numbers docker shows for one sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// CPU percentage.
    pub cpu: f64,
    /// Memory used without the inactive file cache.
    pub mem: f64,
    /// Memory limit.
    pub limit: f64,
    /// Memory percentage.
    pub mem_pct: f64,
    /// Network bytes received and sent.
    pub net: (f64, f64),
    /// Block bytes read and written.
    pub blk: (f64, f64),
    /// Current pids.
    pub pids: u64,
}

fn u(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

/// Computes docker's figures from a stats answer (`precpu_stats` is the previous sample).
pub fn usage(s: &Value) -> Usage {
    let cpu_delta = u(&s["cpu_stats"]["cpu_usage"]["total_usage"]) - u(&s["precpu_stats"]["cpu_usage"]["total_usage"]);
    let sys_delta = u(&s["cpu_stats"]["system_cpu_usage"]) - u(&s["precpu_stats"]["system_cpu_usage"]);
    let mut online = u(&s["cpu_stats"]["online_cpus"]);
    if online == 0.0 {
        online = s["cpu_stats"]["cpu_usage"]["percpu_usage"].as_array().map_or(0, Vec::len) as f64;
    }
    let cpu = if sys_delta > 0.0 && cpu_delta > 0.0 { cpu_delta / sys_delta * online * 100.0 } else { 0.0 };
    let mem_usage = u(&s["memory_stats"]["usage"]);
    let stats = &s["memory_stats"]["stats"];
    let mem = match (stats.get("total_inactive_file"), stats.get("inactive_file")) {
        (Some(v1), _) if u(v1) < mem_usage => mem_usage - u(v1),
        (_, Some(v2)) if u(v2) < mem_usage => mem_usage - u(v2),
        _ => mem_usage,
    };
    let limit = u(&s["memory_stats"]["limit"]);
    let mut net = (0.0, 0.0);
    if let Some(nets) = s["networks"].as_object() {
        for n in nets.values() {
            net.0 += u(&n["rx_bytes"]);
            net.1 += u(&n["tx_bytes"]);
        }
    }
    let mut blk = (0.0, 0.0);
    for e in s["blkio_stats"]["io_service_bytes_recursive"].as_array().into_iter().flatten() {
        match e["op"].as_str().and_then(|o| o.chars().next()) {
            Some('r' | 'R') => blk.0 += u(&e["value"]),
            Some('w' | 'W') => blk.1 += u(&e["value"]),
            _ => {}
        }
    }
    Usage { cpu, mem, limit, mem_pct: if limit != 0.0 { mem / limit * 100.0 } else { 0.0 }, net, blk, pids: s["pids_stats"]["current"].as_u64().unwrap_or(0) }
}

fn row(id: &str, name: &str, u: Option<&Usage>, trunc: bool) -> Value {
    let id = if trunc { trunc_id(id) } else { id.to_string() };
    let pair = |a: f64, b: f64| format!("{} / {}", human_size_prec(a, 3), human_size_prec(b, 3));
    match u {
        Some(u) => json!({
            "ID": id, "Container": id, "Name": name,
            "CPUPerc": format!("{:.2}%", u.cpu),
            "MemUsage": format!("{} / {}", bytes_size(u.mem), bytes_size(u.limit)),
            "MemPerc": format!("{:.2}%", u.mem_pct),
            "NetIO": pair(u.net.0, u.net.1),
            "BlockIO": pair(u.blk.0, u.blk.1),
            "PIDs": u.pids.to_string(),
        }),
        None => json!({
            "ID": id, "Container": id, "Name": name, "CPUPerc": "--", "MemUsage": "-- / --", "MemPerc": "--",
            "NetIO": "--", "BlockIO": "--", "PIDs": "--",
        }),
    }
}

const TABLE: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

fn header() -> Value {
    listing::header(&[
        ("ID", "CONTAINER ID"),
        ("Container", "CONTAINER"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ])
}

async fn targets(ctx: &Ctx, a: &StatsArgs) -> Result<Vec<(String, String)>> {
    if a.containers.is_empty() {
        let q = query(&[("all", if a.all { "1".into() } else { String::new() })]);
        let list: Vec<ContainerSummary> = ctx.get(&format!("/containers/json{q}")).await?;
        return Ok(list.into_iter().map(|c| (c.id, c.names.first().map(|n| n.trim_start_matches('/').to_string()).unwrap_or_default())).collect());
    }
    let mut out = Vec::new();
    for c in &a.containers {
        let i = super::container::inspect_container(ctx, c).await?;
        out.push((i.id, i.name.trim_start_matches('/').to_string()));
    }
    Ok(out)
}

/// One sample with `precpu_stats` filled (a second request if the daemon left it empty).
async fn sample(ctx: &Ctx, id: &str) -> Result<Value> {
    let first: Value = ctx.client.get(&format!("/containers/{id}/stats?stream=0")).await?;
    if u(&first["precpu_stats"]["cpu_usage"]["total_usage"]) > 0.0 || first["read"].is_null() {
        return Ok(first);
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut second: Value = ctx.client.get(&format!("/containers/{id}/stats?stream=0")).await?;
    second["precpu_stats"] = first["cpu_stats"].clone();
    Ok(second)
}

async fn no_stream(ctx: &Ctx, a: &StatsArgs, list: &[(String, String)]) -> Result<i32> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (id, name) in list {
        match sample(ctx, id).await {
            Ok(s) => {
                let running = s["read"].as_str().is_some_and(|r| !r.starts_with("0001"));
                rows.push(row(id, name, running.then(|| usage(&s)).as_ref(), !a.no_trunc));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    print!("{}", listing::render(&a.format, TABLE, &header(), &rows)?);
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(CliError::msg(errors.join("\n")))
    }
}

/// Streams one container's stats into `latest` until the stream ends.
async fn follow(client: berth_api::client::Client, id: String, latest: std::sync::Arc<std::sync::Mutex<BTreeMap<String, Usage>>>) {
    let Ok(resp) = client.call(Method::GET, &format!("/containers/{id}/stats?stream=1"), empty(), &[]).await else {
        return;
    };
    let mut body = resp.into_body();
    let mut split = JsonSplitter::default();
    while let Ok(Some(chunk)) = next_chunk(&mut body).await {
        for s in split.push::<Value>(&chunk).into_iter().flatten() {
            if let Ok(mut map) = latest.lock() {
                map.insert(id.clone(), usage(&s));
            }
        }
    }
}

/// `berth stats`.
pub async fn run(ctx: &Ctx, a: StatsArgs) -> Result<i32> {
    let list = targets(ctx, &a).await?;
    if a.no_stream {
        return no_stream(ctx, &a, &list).await;
    }
    let latest = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    for (id, _) in &list {
        tokio::spawn(follow(ctx.client.clone(), id.clone(), latest.clone()));
    }
    let tty = std::io::stdout().is_terminal();
    let draw = async {
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let snapshot = latest.lock().map(|m| m.clone()).unwrap_or_default();
            let rows: Vec<Value> = list.iter().map(|(id, name)| row(id, name, snapshot.get(id), !a.no_trunc)).collect();
            let text = listing::render(&a.format, TABLE, &header(), &rows)?;
            let mut out = std::io::stdout().lock();
            if tty {
                write!(out, "\x1b[2J\x1b[H")?;
            }
            write!(out, "{text}")?;
            out.flush()?;
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        #[allow(unreachable_code)]
        Ok::<_, CliError>(())
    };
    tokio::select! {
        r = draw => r.map(|_| 0),
        _ = tokio::signal::ctrl_c() => Ok(130),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_like_docker() {
        let s = json!({
            "read": "2024-01-01T00:00:01Z",
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64}, "system_cpu_usage": 10_000_000_000u64},
            "memory_stats": {"usage": 10_485_760, "limit": 104_857_600, "stats": {"total_inactive_file": 2_097_152}},
            "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 500}},
            "blkio_stats": {"io_service_bytes_recursive": [{"op": "Read", "value": 4096}, {"op": "Write", "value": 8192}]},
            "pids_stats": {"current": 3}
        });
        let us = usage(&s);
        assert!((us.cpu - 20.0).abs() < 1e-9);
        assert_eq!(us.mem, 8_388_608.0);
        let r = row("0123456789abcdef", "web", Some(&us), true);
        assert_eq!(r["CPUPerc"], "20.00%");
        assert_eq!(r["MemUsage"], "8MiB / 100MiB");
        assert_eq!(r["MemPerc"], "8.00%");
        assert_eq!(r["NetIO"], "1.5kB / 500B");
        assert_eq!(r["BlockIO"], "4.1kB / 8.19kB");
        assert_eq!(r["PIDs"], "3");
        assert_eq!(r["ID"], "0123456789ab");
    }
}
