//! The per-container `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::error::EngineError;

/// Writes the three files for a container with `hostname`, extra `hosts` lines and DNS
/// settings (`dns` servers override the host's).
pub fn write(
    dirs: &super::record::ContainerDirs,
    hostname: &str,
    extra_hosts: &[String],
    dns: &[String],
    dns_search: &[String],
    dns_options: &[String],
) -> Result<(), EngineError> {
    let w = |p: &Path, body: String| std::fs::write(p, body).map_err(|e| EngineError::internal(&format!("write {}", p.display()), e));
    w(&dirs.hostname(), format!("{hostname}\n"))?;
    write_network(dirs, hostname, extra_hosts, dns, dns_search, dns_options, &NetFacts::default())
}

/// What a container's networks add to its `/etc/hosts` and `/etc/resolv.conf` once it is
/// plugged in (written again at every start).
#[derive(Debug, Clone, Default)]
pub struct NetFacts {
    /// The container's primary address (`<ip> <hostname>` instead of `127.0.1.1`).
    pub own_ip: Option<Ipv4Addr>,
    /// Legacy `--link` lines: address and names.
    pub links: Vec<(Ipv4Addr, String)>,
    /// What `host-gateway` in `--add-host` stands for (the default bridge's gateway).
    pub host_gateway: Option<Ipv4Addr>,
    /// The embedded DNS server of a user-defined network: the only nameserver then.
    pub embedded_dns: Option<Ipv4Addr>,
    /// The container shares the host's namespace: start from the host's files.
    pub host_mode: bool,
}

/// Rewrites `/etc/hosts` and `/etc/resolv.conf` with what the networks say.
pub fn write_network(
    dirs: &super::record::ContainerDirs,
    hostname: &str,
    extra_hosts: &[String],
    dns: &[String],
    dns_search: &[String],
    dns_options: &[String],
    net: &NetFacts,
) -> Result<(), EngineError> {
    let w = |p: &Path, body: String| std::fs::write(p, body).map_err(|e| EngineError::internal(&format!("write {}", p.display()), e));
    let mut hosts = if net.host_mode {
        std::fs::read_to_string("/etc/hosts").unwrap_or_default()
    } else {
        String::from(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        )
    };
    if !hosts.is_empty() && !hosts.ends_with('\n') {
        hosts.push('\n');
    }
    let gateway = net.host_gateway.map(|g| g.to_string()).unwrap_or_else(|| "127.0.0.1".into());
    for h in extra_hosts {
        // --add-host name:ip (or name=ip)
        if let Some((name, ip)) = h.split_once([':', '=']) {
            let ip = if ip == "host-gateway" { gateway.as_str() } else { ip };
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    for (ip, names) in &net.links {
        hosts.push_str(&format!("{ip}\t{names}\n"));
    }
    if !net.host_mode {
        match net.own_ip {
            Some(ip) => hosts.push_str(&format!("{ip}\t{hostname}\n")),
            None => hosts.push_str(&format!("127.0.1.1\t{hostname}\n")),
        }
    }
    w(&dirs.hosts(), hosts)?;
    let resolv = match (net.host_mode, net.embedded_dns) {
        (true, _) if dns.is_empty() && dns_search.is_empty() && dns_options.is_empty() => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        (_, Some(server)) => embedded_resolv_conf(server, dns_search, dns_options),
        _ => resolv_conf(dns, dns_search, dns_options),
    };
    w(&dirs.resolv_conf(), resolv)?;
    Ok(())
}

/// Creates an empty /etc/hosts and resolv.conf for the runtime to bind-mount when they do not
/// exist yet; [`write_network`] fills them in place (same inode) before the process runs.
pub fn ensure_network_files(dirs: &super::record::ContainerDirs) -> Result<(), EngineError> {
    for p in [dirs.hosts(), dirs.resolv_conf()] {
        std::fs::OpenOptions::new().create(true).append(true).open(&p).map_err(|e| EngineError::internal(&format!("create {}", p.display()), e))?;
    }
    Ok(())
}

/// resolv.conf for a container behind the embedded DNS server, which forwards to the
/// container's `--dns` servers or the host's.
fn embedded_resolv_conf(server: Ipv4Addr, search: &[String], options: &[String]) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let mut searches: Vec<String> = search.to_vec();
    let mut opts: Vec<String> = options.to_vec();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match f.next() {
            Some("search") if search.is_empty() => searches.extend(f.map(String::from)),
            Some("options") if options.is_empty() => opts.extend(f.map(String::from)),
            _ => {}
        }
    }
    if !opts.iter().any(|o| o.starts_with("ndots:")) {
        opts.push("ndots:0".into());
    }
    let mut out = format!("nameserver {server}\n");
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    out.push_str(&format!("options {}\n", opts.join(" ")));
    out
}

/// The host's resolv.conf (systemd-resolved's upstreams in place of its stub) minus loopback
/// nameservers (unreachable from a container), falling back to public resolvers, with
/// overrides applied.
fn resolv_conf(dns: &[String], search: &[String], options: &[String]) -> String {
    let host = crate::engine::network::host_resolv_conf();
    let mut servers: Vec<String> = dns.to_vec();
    let mut searches: Vec<String> = search.to_vec();
    let mut opts: Vec<String> = options.to_vec();
    for line in host.lines() {
        let mut f = line.split_whitespace();
        match (f.next(), f.next()) {
            (Some("nameserver"), Some(ip)) if dns.is_empty() && !ip.starts_with("127.") && ip != "::1" => servers.push(ip.to_string()),
            (Some("search"), Some(_)) if search.is_empty() => searches.extend(line.split_whitespace().skip(1).map(String::from)),
            (Some("options"), Some(_)) if options.is_empty() => opts.extend(line.split_whitespace().skip(1).map(String::from)),
            _ => {}
        }
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let mut out = String::new();
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !searches.is_empty() {
        out.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !opts.is_empty() {
        out.push_str(&format!("options {}\n", opts.join(" ")));
    }
    out
}
