//! `EXPOSE` port specs: `80`, `80/udp`, `8000-8010/tcp`. Docker also
//! tolerates (and warns about) `[ip:]hostPort:containerPort`; the host parts
//! are validated loosely and dropped, as Docker does.

use crate::error::ErrorKind;

/// Expands expanded `EXPOSE` words into `port/proto` keys as they appear in
/// the image config's `ExposedPorts` (ranges become one key per port;
/// protocol defaults to `tcp` and is lower-cased).
pub fn parse_ports(words: &[String]) -> Result<Vec<String>, ErrorKind> {
    let mut out = Vec::new();
    for word in words {
        out.extend(parse_port(word)?);
    }
    Ok(out)
}

fn invalid(port: &str, reason: impl Into<String>) -> ErrorKind {
    ErrorKind::InvalidPort { port: port.to_string(), reason: reason.into() }
}

fn parse_port(raw: &str) -> Result<Vec<String>, ErrorKind> {
    let (host_port, container) = match raw.rsplit_once(':') {
        Some((front, container)) => (Some(front.rsplit_once(':').map_or(front, |(_, hp)| hp)), container),
        None => (None, raw),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(invalid(raw, "no port specified"));
    }
    let proto = match proto.to_ascii_lowercase().as_str() {
        "" => "tcp".to_string(),
        p @ ("tcp" | "udp" | "sctp") => p.to_string(),
        other => return Err(invalid(raw, format!("invalid proto: {other}"))),
    };
    let (start, end) = range(port).map_err(|reason| invalid(raw, reason))?;
    if let Some(host) = host_port.filter(|h| !h.is_empty()) {
        let (host_start, host_end) = range(host).map_err(|reason| invalid(raw, format!("invalid hostPort: {reason}")))?;
        if end - start != host_end - host_start && end != start {
            return Err(invalid(raw, "invalid ranges specified for container and host ports"));
        }
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

fn range(spec: &str) -> Result<(u32, u32), String> {
    let (start, end) = match spec.split_once('-') {
        Some((s, e)) => (s, Some(e)),
        None => (spec, None),
    };
    let start_port = number(start)?;
    let end_port = match end {
        Some(e) if e != start => number(e)?,
        _ => start_port,
    };
    if end_port < start_port {
        return Err(format!("invalid port range: {spec}"));
    }
    Ok((start_port, end_port))
}

fn number(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n <= 65535 => Ok(n),
        Ok(_) => Err(format!("port {text} out of range (0-65535)")),
        Err(_) => Err(format!("invalid port number {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(words: &[&str]) -> Result<Vec<String>, ErrorKind> {
        parse_ports(&words.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn specs() {
        assert_eq!(
            ports(&["80", "53/UDP", "8000-8002/tcp"]).ok(),
            Some(vec!["80/tcp".into(), "53/udp".into(), "8000/tcp".into(), "8001/tcp".into(), "8002/tcp".into()])
        );
        assert_eq!(ports(&["127.0.0.1:8080:80"]).ok(), Some(vec!["80/tcp".into()]));
    }

    #[test]
    fn bad_specs() {
        for bad in ["", "http", "80/icmp", "70000", "90-80", "/tcp", "-1"] {
            assert!(ports(&[bad]).is_err(), "{bad:?}");
        }
    }
}
