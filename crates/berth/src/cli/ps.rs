//! `ps`: `GET /containers/json` rendered with docker's columns, truncation and formats.

use berth_api::client::query;
use berth_api::filters::Filters;
use berth_api::types::{ContainerSummary, Port};
use clap::Args;
use serde_json::{json, Value};

use super::error::Result;
use super::format::{ago, ellipsis, go_quote, go_time, human_size_prec, trunc_id};
use super::{listing, template, Ctx};

/// `berth ps`.
#[derive(Args, Debug, Clone)]
#[command(override_usage = "berth ps [OPTIONS]")]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", value_name = "string", default_value = "")]
    pub format: String,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long = "last", value_name = "int", default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long = "latest")]
    pub latest: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long = "size")]
    pub size: bool,
}

const DEFAULT_TABLE: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";

/// Parses repeated `--filter k=v` values.
pub fn parse_filters(values: &[String]) -> Result<Filters> {
    let mut f = Filters::default();
    for v in values {
        match v.split_once('=') {
            Some((k, val)) => f.add(k.trim().to_lowercase().as_str(), val),
            None => return Err(super::CliError::msg("bad format of filter (expected name=value)")),
        }
    }
    Ok(f)
}

/// Docker's `DisplayablePorts`: groups consecutive ports, lists host mappings last.
pub fn displayable_ports(ports: &[Port]) -> String {
    let mut ports = ports.to_vec();
    ports.sort_by(|a, b| (a.private_port, &a.ip, a.public_port, &a.typ).cmp(&(b.private_port, &b.ip, b.public_port, &b.typ)));
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut open: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut result = Vec::new();
    let mut mappings = Vec::new();
    for p in &ports {
        let current = p.private_port;
        let mut key = p.typ.clone();
        if !p.ip.is_empty() {
            let public = p.public_port.unwrap_or(0);
            if public != current {
                let host = if p.ip.contains(':') { format!("[{}]:{public}", p.ip) } else { format!("{}:{public}", p.ip) };
                mappings.push(format!("{host}->{current}/{}", p.typ));
                continue;
            }
            key = format!("{}/{}", p.ip, p.typ);
        }
        match open.get(&key) {
            Some(&i) if groups[i].2.checked_add(1) == Some(current) => groups[i].2 = current,
            Some(&i) => {
                result.push(form_group(&groups[i].0, groups[i].1, groups[i].2));
                groups[i] = (key.clone(), current, current);
            }
            None => {
                open.insert(key.clone(), groups.len());
                groups.push((key, current, current));
            }
        }
    }
    result.extend(groups.iter().map(|(k, a, b)| form_group(k, *a, *b)));
    result.extend(mappings);
    result.join(", ")
}

fn form_group(key: &str, start: u16, last: u16) -> String {
    let (ip, typ) = match key.rsplit_once('/') {
        Some((ip, typ)) => (ip, typ),
        None => ("", key),
    };
    let mut group = start.to_string();
    if start != last {
        group = format!("{group}-{last}");
    }
    if !ip.is_empty() {
        group = format!("{ip}:{group}->{group}");
    }
    format!("{group}/{typ}")
}

fn image_name(c: &ContainerSummary, trunc: bool) -> String {
    if c.image.is_empty() {
        return "<no image>".into();
    }
    if !trunc {
        return c.image.clone();
    }
    if trunc_id(&c.image_id) == trunc_id(&c.image) {
        return trunc_id(&c.image);
    }
    c.image.split('@').next().unwrap_or(&c.image).to_string()
}

fn names(c: &ContainerSummary, trunc: bool) -> String {
    let stripped: Vec<&str> = c.names.iter().map(|n| n.strip_prefix('/').unwrap_or(n)).collect();
    if trunc {
        if let Some(n) = stripped.iter().find(|n| !n.contains('/')) {
            return n.to_string();
        }
        return stripped.first().map(|s| s.to_string()).unwrap_or_default();
    }
    stripped.join(",")
}

fn size(c: &ContainerSummary) -> String {
    let rw = human_size_prec(c.size_rw.unwrap_or(0) as f64, 3);
    match c.size_root_fs {
        Some(v) if v > 0 => format!("{rw} (virtual {})", human_size_prec(v as f64, 3)),
        _ => rw,
    }
}

/// One container as the values docker's `--format` placeholders see.
pub fn row(c: &ContainerSummary, trunc: bool) -> Value {
    let command = if trunc { ellipsis(&c.command, 20) } else { c.command.clone() };
    let labels: Vec<String> = c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mounts: Vec<String> = c
        .mounts
        .iter()
        .map(|m| {
            let name = if m.name.is_empty() { m.source.clone() } else { m.name.clone() };
            if trunc {
                ellipsis(&name, 15)
            } else {
                name
            }
        })
        .collect();
    let local = c.mounts.iter().filter(|m| m.driver == "local").count();
    let mut v = json!({
        "ID": if trunc { trunc_id(&c.id) } else { c.id.clone() },
        "Image": image_name(c, trunc),
        "Command": go_quote(&command),
        "CreatedAt": go_time(c.created),
        "RunningFor": ago(c.created),
        "Ports": displayable_ports(&c.ports),
        "State": c.state,
        "Status": c.status,
        "Size": size(c),
        "Names": names(c, trunc),
        "Labels": labels.join(","),
        "Mounts": mounts.join(","),
        "Networks": c.network_settings.networks.keys().cloned().collect::<Vec<_>>().join(","),
        "LocalVolumes": local.to_string(),
        "Platform": null,
    });
    v[template::method_key("Label")] = json!(c.labels);
    v
}

fn header() -> Value {
    let mut h = listing::header(&[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Platform", "PLATFORM"),
    ]);
    h[template::method_key("Label")] = Value::Null;
    h
}

/// `berth ps`.
pub async fn run(ctx: &Ctx, a: PsArgs) -> Result<i32> {
    let filters = parse_filters(&a.filter)?;
    let limit = if a.latest { 1 } else { a.last };
    let want_size = a.size || a.format.contains(".Size");
    let q = query(&[
        ("all", if a.all || limit > 0 { "1".into() } else { String::new() }),
        ("limit", if limit > 0 { limit.to_string() } else { String::new() }),
        ("size", if want_size { "1".into() } else { String::new() }),
        ("filters", if filters.0.is_empty() { String::new() } else { filters.to_json() }),
    ]);
    let list: Vec<ContainerSummary> = ctx.get(&format!("/containers/json{q}")).await?;
    let rows: Vec<Value> = list.iter().map(|c| row(c, !a.no_trunc)).collect();
    let format = if a.quiet {
        "{{.ID}}".to_string()
    } else if a.size && (a.format.is_empty() || a.format == "table") {
        format!("{DEFAULT_TABLE}\t{{{{.Size}}}}")
    } else {
        a.format.clone()
    };
    print!("{}", listing::render(&format, DEFAULT_TABLE, &header(), &rows)?);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: &str, private: u16, public: Option<u16>, typ: &str) -> Port {
        Port { ip: ip.into(), private_port: private, public_port: public, typ: typ.into() }
    }

    #[test]
    fn ports_like_docker() {
        // The same list rendered by docker CLI 28 against a fake daemon.
        let ports = vec![
            port("0.0.0.0", 80, Some(8080), "tcp"),
            port("::", 80, Some(8080), "tcp"),
            port("", 443, None, "tcp"),
            port("", 444, None, "tcp"),
            port("0.0.0.0", 90, Some(90), "udp"),
        ];
        assert_eq!(displayable_ports(&ports), "0.0.0.0:90->90/udp, 443-444/tcp, 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp");
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn table_like_docker() {
        let now = super::super::format::now_unix();
        let c = ContainerSummary {
            id: "0123456789abcdef0123".into(),
            names: vec!["/web".into()],
            image: "busybox".into(),
            image_id: "sha256:aa".into(),
            command: "sh -c 'while true; do echo hi; sleep 1; done'".into(),
            created: now - 5,
            status: "Up 5 seconds".into(),
            state: "running".into(),
            ..Default::default()
        };
        let other = ContainerSummary {
            id: "fedcba9876543210".into(),
            names: vec!["/x".into()],
            image: "sha256:aa".into(),
            image_id: "sha256:aa".into(),
            command: "true".into(),
            created: now - 7200,
            status: "Exited (0) 2 hours ago".into(),
            ..Default::default()
        };
        let rows = vec![row(&c, true), row(&other, true)];
        let out = listing::render("", DEFAULT_TABLE, &header(), &rows).unwrap_or_default();
        let expected = "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS                   PORTS     NAMES\n\
0123456789ab   busybox   \"sh -c 'while true; …\"   5 seconds ago   Up 5 seconds                       web\n\
fedcba987654   aa        \"true\"                   2 hours ago     Exited (0) 2 hours ago             x\n";
        assert_eq!(out, expected);
        let out = listing::render("{{.Names}} {{.Label \"a\"}}|{{json .Labels}}", DEFAULT_TABLE, &header(), &rows).unwrap_or_default();
        assert_eq!(out, "web |\"\"\nx |\"\"\n");
    }
}
