//! Names and ownership marks of what berth creates on the host.
//!
//! Every interface berth creates carries an `ifalias` starting with the daemon's [`Tag`]
//! (`berth:<default bridge name>`), and every firewall rule lives in the daemon's own nftables
//! table (`berth-<default bridge name>`). Several daemons can share a host (each test runs its
//! own); a daemon only ever touches, sweeps or deletes what carries its own tag.

use std::fmt;

/// The longest interface name Linux accepts (`IFNAMSIZ - 1`).
pub const IFNAME_MAX: usize = 15;

/// Whether `name` is a valid Linux interface name we are willing to create.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= IFNAME_MAX
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// The ownership mark of one daemon, derived from its default bridge's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    bridge: String,
}

impl Tag {
    /// The tag of the daemon whose default bridge is `bridge`.
    pub fn new(bridge: &str) -> Self {
        Self { bridge: bridge.to_string() }
    }

    /// The `ifalias` prefix of this daemon's interfaces.
    pub fn prefix(&self) -> String {
        format!("berth:{}", self.bridge)
    }

    /// Whether an interface with `alias` belongs to this daemon.
    pub fn owns(&self, alias: Option<&str>) -> bool {
        let p = self.prefix();
        alias.is_some_and(|a| a == p || a.strip_prefix(&p).is_some_and(|rest| rest.starts_with(' ')))
    }

    /// The alias of a network's bridge.
    pub fn bridge_alias(&self, network_id: &str) -> String {
        format!("{} net {network_id}", self.prefix())
    }

    /// The alias of a container's host-side veth.
    pub fn veth_alias(&self, container_id: &str, network_id: &str) -> String {
        format!("{} veth {container_id} {network_id}", self.prefix())
    }

    /// The daemon's nftables table (family `ip`).
    pub fn table(&self) -> String {
        format!("berth-{}", self.bridge)
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.prefix())
    }
}

/// The bridge name of a user-defined network: `berth-` and the start of its id (15 chars).
pub fn network_bridge_name(network_id: &str) -> String {
    let short: String = network_id.chars().take(IFNAME_MAX - 6).collect();
    format!("berth-{short}")
}

/// A container-side MAC address derived from its IPv4 address, as Docker did (`02:42:` + IP).
pub fn mac_for(ip: std::net::Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `02:42:ac:11:00:02`.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        assert!(valid_ifname("berth0"));
        assert!(valid_ifname("be0123abcd"));
        assert!(!valid_ifname("a-very-long-name-x"));
        assert!(!valid_ifname("bad name"));
        assert!(!valid_ifname("a/b"));
        assert!(!valid_ifname(""));
        let t = Tag::new("be01");
        assert!(t.owns(Some("berth:be01")));
        assert!(t.owns(Some("berth:be01 veth abc def")));
        assert!(!t.owns(Some("berth:be012 veth abc def")));
        assert!(!t.owns(None));
        assert_eq!(t.table(), "berth-be01");
        assert_eq!(network_bridge_name("0123456789abcdef"), "berth-012345678");
        assert!(valid_ifname(&network_bridge_name("0123456789abcdef")));
        assert_eq!(format_mac(mac_for(std::net::Ipv4Addr::new(172, 17, 0, 2))), "02:42:ac:11:00:02");
    }
}
