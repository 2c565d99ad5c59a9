//! NAT, published-port DNAT and isolation between networks, through nftables.
//!
//! The daemon's rules live in one table of its own (`ip berth-<bridge>`) that is always
//! rendered whole from a [`Ruleset`] (a pure function of the networks and published ports) and
//! replaced in one `nft -f` transaction: it either applies completely or not at all, a restart
//! rebuilds it from the daemon's state (so rules of containers that died with the daemon
//! vanish), and no rule outside the table is ever touched.
//!
//! Containers of a network with `enable_icc=false` must not reach each other. Their frames are
//! switched by the bridge and only pass the `ip` hooks when `br_netfilter` is active, which a
//! host need not have (and which berth does not switch on host-wide), so the daemon also
//! renders a table of family `bridge`, same name, whose forward chain drops IP frames between
//! the host-side veths of such a network. Frames to and from the bridge itself (the gateway,
//! published ports through the proxy) are not forwarded frames and pass. That table exists only
//! while some network needs it, and it is replaced in the same `nft -f` transaction.
//!
//! Published ports are DNATed for traffic that does not come from our bridges or loopback
//! (other hosts, and the host itself through a non-loopback address); loopback and
//! container-to-host traffic reaches the userland proxy instead (see [`crate::proxy`]), as with
//! Docker's docker-proxy.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::ipnet::Ipv4Net;
use crate::naming::valid_ifname;
use crate::ports::Proto;

/// Why the firewall could not be updated.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// `nft` could not be run at all.
    #[error("run {binary}: {source} (is the nftables package installed?)")]
    Spawn { binary: String, source: std::io::Error },
    /// `nft` refused the ruleset; nothing was changed.
    #[error("nft refused the ruleset: {0}")]
    Rejected(String),
    /// A name that cannot be put in a ruleset.
    #[error("invalid interface name in ruleset: {0:?}")]
    InvalidName(String),
}

/// Per-bridge policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Ipv4Net,
    /// No traffic in or out except within the bridge (`--internal`).
    pub internal: bool,
    /// Masquerade traffic leaving through another interface.
    pub masquerade: bool,
    /// Containers on the bridge may talk to each other.
    pub icc: bool,
    /// Host-side veths of the containers plugged into the bridge (used when `icc` is off).
    pub ports: Vec<String>,
}

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DnatRule {
    pub proto: Proto,
    /// `0.0.0.0` for every local address.
    pub host_ip: Ipv4Addr,
    pub host_port: u16,
    pub container_ip: Ipv4Addr,
    pub container_port: u16,
}

/// Everything the daemon's table must express.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    pub bridges: Vec<BridgeRules>,
    pub dnat: Vec<DnatRule>,
}

/// The script that replaces `table` by the rendering of `rs`.
pub fn render(table: &str, rs: &Ruleset) -> Result<String, FirewallError> {
    for name in rs.bridges.iter().flat_map(|b| std::iter::once(&b.bridge).chain(&b.ports)) {
        if !valid_ifname(name) {
            return Err(FirewallError::InvalidName(name.clone()));
        }
    }
    let mut s = render_delete(table);
    let _ = writeln!(s, "table ip {table} {{");
    let bridges: Vec<String> = rs.bridges.iter().map(|b| format!("\"{}\"", b.bridge)).collect();
    let from_outside = if bridges.is_empty() { String::new() } else { format!(" iifname != {{ {} }}", bridges.join(", ")) };
    chain(&mut s, "prerouting", "type nat hook prerouting priority dstnat; policy accept;", &[format!("fib daddr type local{from_outside} jump published")]);
    chain(&mut s, "output", "type nat hook output priority -100; policy accept;", &["fib daddr type local ip daddr != 127.0.0.0/8 jump published".to_string()]);
    let mut published: Vec<String> = Vec::new();
    let mut dnat = rs.dnat.clone();
    dnat.sort();
    for d in &dnat {
        if d.host_ip.is_loopback() {
            continue; // only the proxy can answer on loopback
        }
        let dst = if d.host_ip.is_unspecified() { String::new() } else { format!("ip daddr {} ", d.host_ip) };
        published.push(format!("{dst}{} dport {} dnat to {}:{}", d.proto, d.host_port, d.container_ip, d.container_port));
    }
    chain(&mut s, "published", "", &published);
    let masq: Vec<String> =
        rs.bridges.iter().filter(|b| b.masquerade && !b.internal).map(|b| format!("ip saddr {} oifname != \"{}\" masquerade", b.subnet, b.bridge)).collect();
    chain(&mut s, "postrouting", "type nat hook postrouting priority srcnat; policy accept;", &masq);
    chain(&mut s, "forward", "type filter hook forward priority filter; policy accept;", &forward_rules(rs));
    s.push_str("}\n");
    let isolated = isolation_rules(rs);
    if !isolated.is_empty() {
        let _ = writeln!(s, "table bridge {table} {{");
        chain(&mut s, "forward", "type filter hook forward priority filter; policy accept;", &isolated);
        s.push_str("}\n");
    }
    Ok(s)
}

/// `enable_icc=false` in the `bridge` family: no IP frame from one container's veth to
/// another's on the same bridge (ARP still passes, as with Docker's rule).
fn isolation_rules(rs: &Ruleset) -> Vec<String> {
    rs.bridges
        .iter()
        .filter(|b| !b.icc && b.ports.len() > 1)
        .map(|b| {
            let mut ports: Vec<String> = b.ports.iter().map(|p| format!("\"{p}\"")).collect();
            ports.sort();
            let set = ports.join(", ");
            format!("iifname {{ {set} }} oifname {{ {set} }} meta protocol {{ ip, ip6 }} drop")
        })
        .collect()
}

/// Isolation: no traffic between two of our bridges, none in or out of internal ones, none
/// within a bridge whose containers may not talk (`enable_icc=false`).
fn forward_rules(rs: &Ruleset) -> Vec<String> {
    let mut out = Vec::new();
    for b in &rs.bridges {
        let others: Vec<String> = rs.bridges.iter().filter(|o| o.bridge != b.bridge).map(|o| format!("\"{}\"", o.bridge)).collect();
        if !others.is_empty() {
            out.push(format!("iifname \"{}\" oifname {{ {} }} drop", b.bridge, others.join(", ")));
        }
        if b.internal {
            out.push(format!("iifname \"{0}\" oifname != \"{0}\" drop", b.bridge));
            out.push(format!("oifname \"{0}\" iifname != \"{0}\" drop", b.bridge));
        }
        if !b.icc {
            out.push(format!("iifname \"{0}\" oifname \"{0}\" drop", b.bridge));
        }
    }
    out
}

fn chain(s: &mut String, name: &str, base: &str, rules: &[String]) {
    let _ = writeln!(s, "  chain {name} {{");
    if !base.is_empty() {
        let _ = writeln!(s, "    {base}");
    }
    for r in rules {
        let _ = writeln!(s, "    {r}");
    }
    let _ = writeln!(s, "  }}");
}

/// The script that deletes `table` in both families it may exist in (and succeeds when it
/// does not exist).
pub fn render_delete(table: &str) -> String {
    format!("table ip {table} {{}}\ndelete table ip {table}\ntable bridge {table} {{}}\ndelete table bridge {table}\n")
}

/// Runs rulesets: the seam between rule logic and the host.
pub trait Nft: Send + Sync {
    /// Applies `script` atomically.
    fn apply(&self, script: &str) -> Result<(), FirewallError>;
}

/// The `nft` binary (Debian's `nftables`), fed on stdin.
#[derive(Debug, Clone)]
pub struct NftCommand {
    binary: PathBuf,
}

impl Default for NftCommand {
    fn default() -> Self {
        let binary = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"].iter().map(PathBuf::from).find(|p| p.exists());
        Self { binary: binary.unwrap_or_else(|| PathBuf::from("nft")) }
    }
}

impl Nft for NftCommand {
    fn apply(&self, script: &str) -> Result<(), FirewallError> {
        let spawn_err = |source| FirewallError::Spawn { binary: self.binary.display().to_string(), source };
        let mut child =
            Command::new(&self.binary).args(["-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(spawn_err)?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(script.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(FirewallError::Rejected(String::from_utf8_lossy(&out.stderr).trim().to_string()))
        }
    }
}

/// Records scripts instead of running them (tests).
#[derive(Debug, Default)]
pub struct RecordingNft {
    /// Every script applied, in order.
    pub scripts: std::sync::Mutex<Vec<String>>,
    /// Refuse the next script.
    pub fail_next: std::sync::atomic::AtomicBool,
}

impl Nft for RecordingNft {
    fn apply(&self, script: &str) -> Result<(), FirewallError> {
        if self.fail_next.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(FirewallError::Rejected("refused by the test".into()));
        }
        self.scripts.lock().unwrap_or_else(|p| p.into_inner()).push(script.to_string());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset() -> Ruleset {
        Ruleset {
            bridges: vec![
                BridgeRules {
                    bridge: "bt0".into(),
                    subnet: "10.77.0.0/16".parse().expect("cidr"),
                    internal: false,
                    masquerade: true,
                    icc: true,
                    ports: vec!["bv1".into(), "bv2".into()],
                },
                BridgeRules {
                    bridge: "berth-1a".into(),
                    subnet: "10.78.0.0/16".parse().expect("cidr"),
                    internal: true,
                    masquerade: true,
                    icc: true,
                    ports: Vec::new(),
                },
            ],
            dnat: vec![
                DnatRule {
                    proto: Proto::Tcp,
                    host_ip: Ipv4Addr::UNSPECIFIED,
                    host_port: 18080,
                    container_ip: Ipv4Addr::new(10, 77, 0, 2),
                    container_port: 8080,
                },
                DnatRule {
                    proto: Proto::Udp,
                    host_ip: Ipv4Addr::new(192, 0, 2, 9),
                    host_port: 53,
                    container_ip: Ipv4Addr::new(10, 77, 0, 3),
                    container_port: 53,
                },
                DnatRule { proto: Proto::Tcp, host_ip: Ipv4Addr::LOCALHOST, host_port: 9000, container_ip: Ipv4Addr::new(10, 77, 0, 3), container_port: 80 },
            ],
        }
    }

    #[test]
    fn renders_one_replaceable_table() {
        let s = render("berth-bt0", &ruleset()).expect("render");
        assert!(
            s.starts_with("table ip berth-bt0 {}\ndelete table ip berth-bt0\ntable bridge berth-bt0 {}\ndelete table bridge berth-bt0\ntable ip berth-bt0 {\n"),
            "{s}"
        );
        for want in [
            "fib daddr type local iifname != { \"bt0\", \"berth-1a\" } jump published",
            "fib daddr type local ip daddr != 127.0.0.0/8 jump published",
            "tcp dport 18080 dnat to 10.77.0.2:8080",
            "ip daddr 192.0.2.9 udp dport 53 dnat to 10.77.0.3:53",
            "ip saddr 10.77.0.0/16 oifname != \"bt0\" masquerade",
            "iifname \"bt0\" oifname { \"berth-1a\" } drop",
            "iifname \"berth-1a\" oifname != \"berth-1a\" drop",
            "oifname \"berth-1a\" iifname != \"berth-1a\" drop",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert!(!s.contains("10.78.0.0/16 oifname"), "internal networks are not masqueraded");
        assert!(!s.contains("dport 9000"), "loopback-only ports are left to the proxy");
        assert!(!s.contains("table bridge berth-bt0 {\n"), "no bridge table while every network allows icc:\n{s}");
    }

    #[test]
    fn icc_off_drops_ip_between_the_bridge_ports() {
        let mut rs = ruleset();
        rs.bridges[0].icc = false;
        let s = render("berth-bt0", &rs).expect("render");
        assert!(s.contains("iifname \"bt0\" oifname \"bt0\" drop"), "the br_netfilter path too:\n{s}");
        let bridge_table = s.split("table bridge berth-bt0 {\n").nth(1).expect("a bridge table");
        assert!(bridge_table.contains("type filter hook forward priority filter; policy accept;"), "{s}");
        assert!(bridge_table.contains("iifname { \"bv1\", \"bv2\" } oifname { \"bv1\", \"bv2\" } meta protocol { ip, ip6 } drop"), "{s}");
        // One container alone has nobody to be isolated from.
        rs.bridges[0].ports.truncate(1);
        assert!(!render("berth-bt0", &rs).expect("render").contains("table bridge berth-bt0 {\n"));
        rs.bridges[0].ports = vec!["bv1".into(), "x\" accept;".into()];
        assert!(matches!(render("berth-bt0", &rs), Err(FirewallError::InvalidName(_))));
    }

    #[test]
    fn bad_names_never_reach_nft() {
        let mut rs = ruleset();
        rs.bridges[0].bridge = "x\" drop; #".into();
        assert!(matches!(render("berth-bt0", &rs), Err(FirewallError::InvalidName(_))));
    }

    #[test]
    fn recording_nft_can_refuse() {
        let nft = RecordingNft::default();
        nft.fail_next.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(nft.apply("x").is_err());
        nft.apply("y").expect("second goes through");
        assert_eq!(*nft.scripts.lock().expect("lock"), vec!["y".to_string()]);
    }
}
