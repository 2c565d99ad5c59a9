//! Published ports: the parsed form of Docker's `PortBindings` (`"80/tcp": [{"HostIp",
//! "HostPort"}]`) and the concrete mappings once host ports are chosen.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// A transport protocol a port can be published for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    /// Docker's spelling (`tcp`, `udp`).
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a port binding was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// A malformed key, address or port.
    #[error("{0}")]
    Invalid(String),
}

/// What the user asked for: publish `container_port/proto` on `host_ip`, on a host port in
/// `host_ports` (`(0, 0)` means any free port).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRequest {
    pub proto: Proto,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_ports: (u16, u16),
}

/// A published port once its host port is chosen.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortMapping {
    pub proto: Proto,
    pub container_port: u16,
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
}

/// Parses a `PortBindings`/`ExposedPorts` key: `80`, `80/tcp`, `53/udp`.
pub fn parse_port_key(key: &str) -> Result<(u16, Proto), PortError> {
    let (num, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let proto = match proto.to_ascii_lowercase().as_str() {
        "tcp" | "" => Proto::Tcp,
        "udp" => Proto::Udp,
        other => return Err(PortError::Invalid(format!("invalid proto: {other}"))),
    };
    let port = parse_port(num).ok_or_else(|| PortError::Invalid(format!("invalid port specification: \"{key}\"")))?;
    Ok((port, proto))
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|p| *p > 0)
}

/// Parses one binding of `key`: `HostIp` (empty means all addresses) and `HostPort` (empty or
/// `0` means any port, `8000-8010` a range to pick from).
pub fn parse_binding(key: &str, host_ip: &str, host_port: &str) -> Result<PortRequest, PortError> {
    let (container_port, proto) = parse_port_key(key)?;
    let ip = host_ip.trim_start_matches('[').trim_end_matches(']');
    let host_ip = match ip {
        "" | "0.0.0.0" => Ipv4Addr::UNSPECIFIED,
        other => match other.parse::<Ipv4Addr>() {
            Ok(ip) => ip,
            Err(_) if other.contains(':') => return Err(PortError::Invalid(format!("invalid host IP {other}: IPv6 port publishing is not supported"))),
            Err(_) => return Err(PortError::Invalid(format!("invalid IP address: {other}"))),
        },
    };
    let host_ports = match host_port {
        "" | "0" => (0, 0),
        p => match p.split_once('-') {
            Some((a, b)) => match (parse_port(a), parse_port(b)) {
                (Some(a), Some(b)) if a <= b => (a, b),
                _ => return Err(PortError::Invalid(format!("invalid hostPort: {p}"))),
            },
            None => {
                let p = parse_port(p).ok_or_else(|| PortError::Invalid(format!("invalid hostPort: {host_port}")))?;
                (p, p)
            }
        },
    };
    Ok(PortRequest { proto, container_port, host_ip, host_ports })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_bindings() {
        assert_eq!(parse_port_key("80").expect("ok"), (80, Proto::Tcp));
        assert_eq!(parse_port_key("53/udp").expect("ok"), (53, Proto::Udp));
        for bad in ["", "0", "65536", "80/sctp2", "x/tcp", "-1"] {
            assert!(parse_port_key(bad).is_err(), "{bad}");
        }
        let r = parse_binding("8080/tcp", "127.0.0.1", "18080").expect("ok");
        assert_eq!(r, PortRequest { proto: Proto::Tcp, container_port: 8080, host_ip: Ipv4Addr::LOCALHOST, host_ports: (18080, 18080) });
        assert_eq!(parse_binding("80", "", "").expect("ok").host_ports, (0, 0));
        assert_eq!(parse_binding("80", "", "8000-8010").expect("ok").host_ports, (8000, 8010));
        assert!(parse_binding("80", "", "8010-8000").is_err());
        assert!(parse_binding("80", "::", "80").is_err());
        assert!(parse_binding("80", "nope", "80").is_err());
        assert!(parse_binding("80", "", "99999").is_err());
    }
}
