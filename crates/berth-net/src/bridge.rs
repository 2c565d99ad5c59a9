//! Bridges on the host: create (or adopt our own after a restart) with the gateway address and
//! up, rolling back a half-made bridge; remove only bridges that carry our tag.

use std::net::Ipv4Addr;

use crate::ipnet::Ipv4Net;
use crate::naming::{valid_ifname, Tag};
use crate::netlink::{Netlink, NetlinkError};

/// Why a bridge could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    /// The name is not a valid interface name.
    #[error("invalid bridge name {0:?}: 1 to 15 characters of [A-Za-z0-9_.-]")]
    InvalidName(String),
    /// An interface of that name exists and berth did not create it.
    #[error("interface {0} already exists and does not belong to this daemon")]
    NotOurs(String),
    /// The kernel refused.
    #[error(transparent)]
    Netlink(#[from] NetlinkError),
}

/// A bridge as a network wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    pub name: String,
    /// The `ifalias` that marks it as ours.
    pub alias: String,
    pub gateway: Ipv4Addr,
    pub subnet: Ipv4Net,
}

/// What [`ensure`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    /// The bridge was made now (and must be deleted if a later step fails).
    Created,
    /// Our bridge from before a restart was adopted.
    Existing,
}

/// Makes sure the bridge exists with its gateway address and is up.
pub fn ensure(nl: &mut dyn Netlink, spec: &BridgeSpec, tag: &Tag) -> Result<Ensured, BridgeError> {
    if !valid_ifname(&spec.name) {
        return Err(BridgeError::InvalidName(spec.name.clone()));
    }
    if let Some(link) = nl.link(&spec.name)? {
        if link.kind.as_deref() != Some("bridge") || !tag.owns(link.alias.as_deref()) {
            return Err(BridgeError::NotOurs(spec.name.clone()));
        }
        let has_addr = nl.addresses()?.iter().any(|a| a.index == link.index && a.ip == spec.gateway);
        if !has_addr {
            nl.add_address(link.index, spec.gateway, spec.subnet.prefix())?;
        }
        if !link.up {
            nl.set_up(link.index)?;
        }
        return Ok(Ensured::Existing);
    }
    nl.add_bridge(&spec.name)?;
    if let Err(e) = configure_new(nl, spec) {
        if let Err(undo) = force_delete(nl, &spec.name) {
            tracing::warn!("roll back bridge {}: {undo}", spec.name);
        }
        return Err(e);
    }
    Ok(Ensured::Created)
}

fn configure_new(nl: &mut dyn Netlink, spec: &BridgeSpec) -> Result<(), BridgeError> {
    let link = nl.link(&spec.name)?.ok_or_else(|| NetlinkError::new(format!("find bridge {}", spec.name), std::io::Error::from_raw_os_error(libc::ENODEV)))?;
    nl.set_alias(link.index, &spec.alias)?;
    nl.add_address(link.index, spec.gateway, spec.subnet.prefix())?;
    nl.set_up(link.index)?;
    Ok(())
}

/// Deletes `name` whatever its alias (only for a bridge we created moments ago).
fn force_delete(nl: &mut dyn Netlink, name: &str) -> Result<bool, BridgeError> {
    match nl.link(name)? {
        Some(l) => nl.delete_link(l.index).map(|_| true).map_err(BridgeError::from),
        None => Ok(false),
    }
}

/// Deletes the bridge if it exists and is ours; returns whether it was there.
pub fn remove(nl: &mut dyn Netlink, name: &str, tag: &Tag) -> Result<bool, BridgeError> {
    match nl.link(name)? {
        Some(l) if tag.owns(l.alias.as_deref()) => {
            nl.delete_link(l.index)?;
            Ok(true)
        }
        Some(_) => Err(BridgeError::NotOurs(name.to_string())),
        None => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netlink::fake::FakeNetlink;
    use crate::netlink::NetlinkOpener;

    fn spec() -> BridgeSpec {
        BridgeSpec { name: "bt0".into(), alias: "berth:bt0".into(), gateway: Ipv4Addr::new(10, 77, 0, 1), subnet: "10.77.0.0/16".parse().expect("cidr") }
    }

    #[test]
    fn creates_then_adopts() {
        let fake = FakeNetlink::new();
        let tag = Tag::new("bt0");
        let mut nl = fake.host().expect("host");
        assert_eq!(ensure(nl.as_mut(), &spec(), &tag).expect("create"), Ensured::Created);
        assert_eq!(fake.log(), vec!["host: add_bridge bt0", "host: set_alias 2 berth:bt0", "host: add_address 2 10.77.0.1/16", "host: set_up 2"]);
        assert_eq!(ensure(nl.as_mut(), &spec(), &tag).expect("adopt"), Ensured::Existing);
        assert_eq!(fake.log().len(), 4, "an existing, configured bridge needs no change");
        assert!(remove(nl.as_mut(), "bt0", &tag).expect("remove"));
        assert_eq!(fake.names("host"), vec!["lo"]);
    }

    #[test]
    fn a_failure_rolls_the_new_bridge_back() {
        let fake = FakeNetlink::new();
        fake.fail_on("add_address");
        let mut nl = fake.host().expect("host");
        assert!(ensure(nl.as_mut(), &spec(), &Tag::new("bt0")).is_err());
        assert_eq!(fake.names("host"), vec!["lo"], "nothing left behind");
        assert!(fake.log().last().is_some_and(|l| l.starts_with("host: delete_link")));
    }

    #[test]
    fn foreign_interfaces_are_never_adopted_or_removed() {
        let fake = FakeNetlink::new();
        let mut nl = fake.host().expect("host");
        nl.add_bridge("bt0").expect("someone else's bridge");
        let tag = Tag::new("bt0");
        assert!(matches!(ensure(nl.as_mut(), &spec(), &tag), Err(BridgeError::NotOurs(_))));
        assert!(matches!(remove(nl.as_mut(), "bt0", &tag), Err(BridgeError::NotOurs(_))));
        assert!(matches!(ensure(nl.as_mut(), &BridgeSpec { name: "x y".into(), ..spec() }, &tag), Err(BridgeError::InvalidName(_))));
    }
}
