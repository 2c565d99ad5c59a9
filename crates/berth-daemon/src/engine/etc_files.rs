//! The per-container `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`.

use std::path::Path;

use crate::error::EngineError;

/// Writes the three files for a container with `hostname`, extra `hosts` lines and DNS
/// settings (`dns` servers override the host's).
pub fn write(dirs: &super::record::ContainerDirs, hostname: &str, extra_hosts: &[String], dns: &[String], dns_search: &[String], dns_options: &[String]) -> Result<(), EngineError> {
    let w = |p: &Path, body: String| std::fs::write(p, body).map_err(|e| EngineError::internal(&format!("write {}", p.display()), e));
    w(&dirs.hostname(), format!("{hostname}\n"))?;
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for h in extra_hosts {
        // --add-host name:ip (or name=ip)
        if let Some((name, ip)) = h.split_once([':', '=']) {
            let ip = if ip == "host-gateway" { "127.0.0.1" } else { ip };
            hosts.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    hosts.push_str(&format!("127.0.1.1\t{hostname}\n"));
    w(&dirs.hosts(), hosts)?;
    w(&dirs.resolv_conf(), resolv_conf(dns, dns_search, dns_options))?;
    Ok(())
}

/// The host's resolv.conf minus loopback nameservers (unreachable from a container), falling
/// back to public resolvers, with overrides applied.
fn resolv_conf(dns: &[String], search: &[String], options: &[String]) -> String {
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
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
