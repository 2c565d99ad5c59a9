//! A container's interface on a bridge: a veth pair whose inner end is created directly in the
//! container's namespace, given its address (and the default route for its primary network),
//! and whose outer end is tagged and plugged into the bridge. A failure deletes the pair, so a
//! failed attach leaves nothing behind.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::naming::valid_ifname;
use crate::netlink::{Netlink, NetlinkError, NetlinkOpener};

/// Why an endpoint could not be plugged in or removed.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// The network's bridge is missing.
    #[error("bridge {0} does not exist")]
    NoBridge(String),
    /// A generated name is not a valid interface name.
    #[error("invalid interface name {0:?}")]
    InvalidName(String),
    /// The kernel refused.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

/// Everything needed to plug one container into one bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VethSpec {
    /// Host-side name.
    pub host_name: String,
    /// Host-side `ifalias` (our tag).
    pub alias: String,
    /// The bridge to enslave the host side to.
    pub bridge: String,
    /// The container's pinned namespace.
    pub netns: PathBuf,
    /// Container-side name (`eth0`, `eth1`, ...).
    pub ifname: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub prefix: u8,
    /// Default route through this gateway (the primary, non-internal network only).
    pub default_route: Option<Ipv4Addr>,
}

/// Creates and configures the pair; on any failure the pair is deleted again.
pub fn attach(opener: &dyn NetlinkOpener, spec: &VethSpec) -> Result<(), EndpointError> {
    for n in [&spec.host_name, &spec.ifname] {
        if !valid_ifname(n) {
            return Err(EndpointError::InvalidName(n.clone()));
        }
    }
    let mut host = opener.host()?;
    let bridge = host.link(&spec.bridge)?.ok_or_else(|| EndpointError::NoBridge(spec.bridge.clone()))?;
    host.add_veth(&spec.host_name, &spec.ifname, &spec.netns, spec.mac)?;
    let configured = configure_host_side(host.as_mut(), spec, bridge.index).and_then(|()| configure_inside(opener, spec));
    if let Err(e) = configured {
        if let Err(undo) = detach(host.as_mut(), &spec.host_name) {
            tracing::warn!("roll back veth {}: {undo}", spec.host_name);
        }
        return Err(e);
    }
    Ok(())
}

fn configure_host_side(host: &mut dyn Netlink, spec: &VethSpec, bridge: u32) -> Result<(), EndpointError> {
    let link = host
        .link(&spec.host_name)?
        .ok_or_else(|| NetlinkError::new(format!("find veth {}", spec.host_name), std::io::Error::from_raw_os_error(libc::ENODEV)))?;
    host.set_alias(link.index, &spec.alias)?;
    host.set_master(link.index, bridge)?;
    host.set_up(link.index)?;
    Ok(())
}

fn configure_inside(opener: &dyn NetlinkOpener, spec: &VethSpec) -> Result<(), EndpointError> {
    let mut ns = opener.netns(&spec.netns)?;
    let link = ns
        .link(&spec.ifname)?
        .ok_or_else(|| NetlinkError::new(format!("find {} in {}", spec.ifname, spec.netns.display()), std::io::Error::from_raw_os_error(libc::ENODEV)))?;
    ns.add_address(link.index, spec.ip, spec.prefix)?;
    ns.set_up(link.index)?;
    if let Some(gw) = spec.default_route {
        ns.add_default_route(gw)?;
    }
    Ok(())
}

/// Deletes the host side of a pair (the container side goes with it); a missing one is fine.
pub fn detach(host: &mut dyn Netlink, host_name: &str) -> Result<bool, NetlinkError> {
    match host.link(host_name)? {
        Some(l) => match host.delete_link(l.index) {
            Ok(()) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        },
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::fake::FakeNetlink;

    fn spec() -> VethSpec {
        VethSpec {
            host_name: "bv0123456789".into(),
            alias: "berth:bt0 veth c n".into(),
            bridge: "bt0".into(),
            netns: PathBuf::from("/run/x/netns/c"),
            ifname: "eth0".into(),
            mac: [2, 0x42, 10, 77, 0, 2],
            ip: Ipv4Addr::new(10, 77, 0, 2),
            prefix: 16,
            default_route: Some(Ipv4Addr::new(10, 77, 0, 1)),
        }
    }

    fn fake_with_bridge() -> FakeNetlink {
        let fake = FakeNetlink::new();
        fake.host().expect("host").add_bridge("bt0").expect("bridge");
        fake.state().log.clear();
        fake
    }

    #[test]
    fn plugs_a_container_in() {
        let fake = fake_with_bridge();
        attach(&fake, &spec()).expect("attach");
        assert_eq!(
            fake.log(),
            vec![
                "host: add_veth bv0123456789 peer eth0 in /run/x/netns/c mac 02:42:0a:4d:00:02",
                "host: set_alias 3 berth:bt0 veth c n",
                "host: set_master 3 2",
                "host: set_up 3",
                "/run/x/netns/c: add_address 4 10.77.0.2/16",
                "/run/x/netns/c: set_up 4",
                "/run/x/netns/c: add_default_route 10.77.0.1",
            ]
        );
        assert!(detach(fake.host().expect("host").as_mut(), "bv0123456789").expect("detach"));
        assert_eq!(fake.names("host"), vec!["lo", "bt0"]);
        assert_eq!(fake.names("/run/x/netns/c"), vec!["lo"]);
    }

    #[test]
    fn a_failure_inside_the_namespace_removes_the_pair() {
        let fake = fake_with_bridge();
        fake.fail_on("add_default_route");
        assert!(attach(&fake, &spec()).is_err());
        assert_eq!(fake.names("host"), vec!["lo", "bt0"]);
        assert_eq!(fake.names("/run/x/netns/c"), vec!["lo"]);
    }

    #[test]
    fn a_missing_bridge_changes_nothing() {
        let fake = FakeNetlink::new();
        assert!(matches!(attach(&fake, &spec()), Err(EndpointError::NoBridge(_))));
        assert!(fake.log().is_empty());
        assert!(!detach(fake.host().expect("host").as_mut(), "bv-gone").expect("missing is fine"));
    }
}
