//! Which registries are insecure (plain HTTP or unverified TLS allowed) and where a domain's
//! images are fetched from (Docker Hub's mirrors, then Docker Hub), as dockerd decides.

use std::net::IpAddr;

use berth_registry::client::Endpoint;

use crate::config::DaemonConfig;
use crate::error::EngineError;

/// Docker Hub's canonical domain in references.
pub const HUB_DOMAIN: &str = "docker.io";
/// Where Docker Hub's registry API answers.
pub const HUB_REGISTRY: &str = "registry-1.docker.io";
/// Where Docker Hub's search answers.
pub const HUB_INDEX: &str = "index.docker.io";

#[derive(Debug, Clone, PartialEq)]
enum Rule {
    /// `host` or `host:port`.
    Host(String),
    /// An address range.
    Cidr(IpAddr, u8),
}

/// The daemon's registry settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryPolicy {
    insecure: Vec<Rule>,
    mirrors: Vec<String>,
}

fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn in_cidr(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Whether a registry host is a DNS name or address: dot-separated labels that start and end
/// with a letter or digit, and an optional numeric port.
pub fn valid_host(domain: &str) -> bool {
    let host = match domain.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return false,
        None => domain,
    };
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    let label = |l: &str| alnum(l.bytes().next()) && alnum(l.bytes().last()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    !host.is_empty() && host.split('.').all(label)
}

/// `host:port` → `host` (IPv6 brackets removed).
pub fn host_only(hostport: &str) -> &str {
    if let Some(rest) = hostport.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => hostport,
    }
}

impl RegistryPolicy {
    /// Validates `--insecure-registry` and `--registry-mirror` values.
    pub fn from_config(config: &DaemonConfig) -> Result<Self, EngineError> {
        let mut insecure = vec![Rule::Cidr(IpAddr::from([127, 0, 0, 0]), 8), Rule::Cidr(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]), 128)];
        for entry in &config.insecure_registries {
            let e = entry.trim().trim_start_matches("http://").trim_start_matches("https://").trim_end_matches('/');
            if e.is_empty() || e.contains(char::is_whitespace) {
                return Err(EngineError::Invalid(format!("insecure registry {entry:?} is not a valid host or CIDR")));
            }
            if e.contains('/') {
                let (ip, bits) = parse_cidr(e).ok_or_else(|| EngineError::Invalid(format!("insecure registry {entry:?} is not a valid CIDR")))?;
                insecure.push(Rule::Cidr(ip, bits));
            } else {
                insecure.push(Rule::Host(e.to_ascii_lowercase()));
            }
        }
        let mut mirrors = Vec::new();
        for m in &config.registry_mirrors {
            let m = m.trim().trim_end_matches('/');
            let host = m.strip_prefix("https://").or_else(|| m.strip_prefix("http://"));
            match host {
                Some(h) if !h.is_empty() && !h.contains('/') && !h.contains(char::is_whitespace) => mirrors.push(m.to_string()),
                _ => return Err(EngineError::Invalid(format!("invalid registry mirror {m:?}: expected http(s)://host[:port]"))),
            }
        }
        Ok(Self { insecure, mirrors })
    }

    /// Whether `hostport` is insecure: a listed host, or an address in a listed range (names
    /// are resolved, as dockerd does).
    pub async fn is_insecure(&self, hostport: &str) -> bool {
        let lower = hostport.to_ascii_lowercase();
        let host = host_only(&lower).to_string();
        if self.insecure.iter().any(|r| matches!(r, Rule::Host(h) if *h == lower || *h == host)) {
            return true;
        }
        let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => {
                let lookup = tokio::net::lookup_host((host.as_str(), 0));
                match tokio::time::timeout(std::time::Duration::from_secs(3), lookup).await {
                    Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
                    _ => Vec::new(),
                }
            }
        };
        ips.iter().any(|ip| self.insecure.iter().any(|r| matches!(r, Rule::Cidr(net, bits) if in_cidr(*ip, *net, *bits))))
    }

    /// Where to reach the registry of `domain`: for Docker Hub pulls the mirrors first.
    pub async fn endpoints(&self, domain: &str, pull: bool) -> Vec<Endpoint> {
        let mut out = Vec::new();
        if domain == HUB_DOMAIN {
            if pull {
                for m in &self.mirrors {
                    let host = m.split("://").nth(1).unwrap_or(m);
                    out.push(Endpoint { host: m.clone(), insecure: self.is_insecure(host).await });
                }
            }
            out.push(Endpoint { host: HUB_REGISTRY.into(), insecure: self.is_insecure(HUB_REGISTRY).await });
            return out;
        }
        out.push(Endpoint { host: domain.to_string(), insecure: self.is_insecure(domain).await });
        out
    }

    /// The mirrors, as configured.
    pub fn mirrors(&self) -> &[String] {
        &self.mirrors
    }

    /// `RegistryConfig` of `GET /info`, shaped like dockerd's: insecure ranges as CIDRs,
    /// insecure hosts and Docker Hub (with its mirrors) as index configs, mirrors with a
    /// trailing slash.
    pub fn info_json(&self) -> serde_json::Value {
        let mirrors: Vec<String> = self.mirrors.iter().map(|m| format!("{m}/")).collect();
        let mut cidrs = Vec::new();
        let mut indexes = serde_json::Map::new();
        indexes.insert(HUB_DOMAIN.into(), serde_json::json!({"Name": HUB_DOMAIN, "Mirrors": mirrors, "Secure": true, "Official": true}));
        for rule in &self.insecure {
            match rule {
                Rule::Cidr(ip, bits) => cidrs.push(format!("{ip}/{bits}")),
                Rule::Host(h) => {
                    indexes.insert(h.clone(), serde_json::json!({"Name": h, "Mirrors": [], "Secure": false, "Official": false}));
                }
            }
        }
        cidrs.sort();
        serde_json::json!({"IndexConfigs": indexes, "InsecureRegistryCIDRs": cidrs, "Mirrors": mirrors})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(insecure: &[&str], mirrors: &[&str]) -> Result<RegistryPolicy, EngineError> {
        let config = DaemonConfig {
            insecure_registries: insecure.iter().map(|s| s.to_string()).collect(),
            registry_mirrors: mirrors.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        RegistryPolicy::from_config(&config)
    }

    #[tokio::test]
    async fn insecure_rules() {
        let p = policy(&["reg.local:5000", "10.1.0.0/16", "plain.example"], &[]).unwrap_or_else(|e| panic!("{e}"));
        for yes in ["127.0.0.1:5000", "127.3.4.5", "localhost:5000", "reg.local:5000", "10.1.2.3:443", "plain.example:1234"] {
            assert!(p.is_insecure(yes).await, "{yes} should be insecure");
        }
        for no in ["10.2.0.1", "reg.local:6000", "192.0.2.1:5000"] {
            assert!(!p.is_insecure(no).await, "{no} should be secure");
        }
        assert!(policy(&["10.0.0.0/99"], &[]).is_err());
        assert!(policy(&["bad host"], &[]).is_err());
    }

    #[tokio::test]
    async fn hub_endpoints_and_mirrors() {
        let p = policy(&[], &["http://127.0.0.1:5001/", "https://mirror.example"]).unwrap_or_else(|e| panic!("{e}"));
        let e = p.endpoints(HUB_DOMAIN, true).await;
        assert_eq!(e.iter().map(|e| e.host.as_str()).collect::<Vec<_>>(), ["http://127.0.0.1:5001", "https://mirror.example", HUB_REGISTRY]);
        assert!(e[0].insecure);
        assert_eq!(p.endpoints(HUB_DOMAIN, false).await.len(), 1, "pushes never go to mirrors");
        let e = p.endpoints("127.0.0.1:5000", true).await;
        assert_eq!(e, vec![Endpoint { host: "127.0.0.1:5000".into(), insecure: true }]);
        assert!(policy(&[], &["ftp://x"]).is_err());
        assert!(policy(&[], &["https://x/path"]).is_err());
    }

    #[test]
    fn info_shows_the_configured_registries() {
        let p = policy(&["reg.local:5000", "10.1.0.0/16"], &["https://mirror.example"]).unwrap_or_else(|e| panic!("{e}"));
        let v = p.info_json();
        assert_eq!(v["InsecureRegistryCIDRs"], serde_json::json!(["10.1.0.0/16", "127.0.0.0/8", "::1/128"]));
        assert_eq!(v["Mirrors"], serde_json::json!(["https://mirror.example/"]));
        assert_eq!(v["IndexConfigs"]["reg.local:5000"]["Secure"], false);
        assert_eq!(v["IndexConfigs"][HUB_DOMAIN]["Mirrors"][0], "https://mirror.example/");
        assert_eq!(v["IndexConfigs"][HUB_DOMAIN]["Official"], true);
    }

    #[test]
    fn hosts() {
        assert_eq!(host_only("a:5000"), "a");
        assert_eq!(host_only("[::1]:5000"), "::1");
        assert_eq!(host_only("::1"), "::1");
        assert_eq!(host_only("a"), "a");
    }
}
