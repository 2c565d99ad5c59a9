//! The seam between network logic and the kernel: a small set of rtnetlink operations on one
//! network namespace. [`socket::NetlinkSocket`] does them for real; [`fake::FakeNetlink`]
//! records them so bridge and endpoint logic (including rollback) is unit-tested without root.

pub mod fake;
pub mod socket;

use std::io;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::ipnet::Ipv4Net;

/// A failed netlink operation, naming what was attempted.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}")]
pub struct NetlinkError {
    /// What was being done (`create bridge berth0`).
    pub op: String,
    /// The kernel's (or socket's) answer.
    #[source]
    pub source: io::Error,
}

impl NetlinkError {
    /// Wraps an I/O error with the operation it interrupted.
    pub fn new(op: impl Into<String>, source: io::Error) -> Self {
        Self { op: op.into(), source }
    }

    /// Whether the kernel answered "already exists".
    pub fn is_exists(&self) -> bool {
        self.source.raw_os_error() == Some(libc::EEXIST)
    }

    /// Whether the kernel answered "no such device".
    pub fn is_not_found(&self) -> bool {
        matches!(self.source.raw_os_error(), Some(libc::ENODEV) | Some(libc::ENOENT))
    }
}

/// Result of a netlink operation.
pub type NlResult<T> = Result<T, NetlinkError>;

/// What we need to know about an interface.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Link {
    pub index: u32,
    pub name: String,
    /// `bridge`, `veth`, ... (None for devices without link info, such as `lo`).
    pub kind: Option<String>,
    /// `ifalias`: berth tags what it creates here.
    pub alias: Option<String>,
    /// Index of the bridge this interface is enslaved to.
    pub master: Option<u32>,
    pub up: bool,
}

/// An IPv4 address on an interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr {
    pub index: u32,
    pub ip: Ipv4Addr,
    pub prefix: u8,
}

/// rtnetlink operations on one network namespace.
pub trait Netlink {
    /// Every interface.
    fn links(&mut self) -> NlResult<Vec<Link>>;
    /// Creates a bridge.
    fn add_bridge(&mut self, name: &str) -> NlResult<()>;
    /// Creates a veth pair whose `peer` end is created directly inside the namespace pinned at
    /// `peer_netns`, with MAC `peer_mac`.
    fn add_veth(&mut self, name: &str, peer: &str, peer_netns: &Path, peer_mac: [u8; 6]) -> NlResult<()>;
    /// Sets the interface's `ifalias`.
    fn set_alias(&mut self, index: u32, alias: &str) -> NlResult<()>;
    /// Enslaves the interface to a bridge.
    fn set_master(&mut self, index: u32, master: u32) -> NlResult<()>;
    /// Brings the interface up.
    fn set_up(&mut self, index: u32) -> NlResult<()>;
    /// Adds an IPv4 address.
    fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> NlResult<()>;
    /// Every IPv4 address.
    fn addresses(&mut self) -> NlResult<Vec<Addr>>;
    /// Destinations of the main table's IPv4 routes, the default route excluded.
    fn routes(&mut self) -> NlResult<Vec<Ipv4Net>>;
    /// Adds a default route via `gateway`.
    fn add_default_route(&mut self, gateway: Ipv4Addr) -> NlResult<()>;
    /// Deletes an interface (a veth's peer goes with it).
    fn delete_link(&mut self, index: u32) -> NlResult<()>;

    /// The interface called `name`, if any.
    fn link(&mut self, name: &str) -> NlResult<Option<Link>> {
        Ok(self.links()?.into_iter().find(|l| l.name == name))
    }
}

/// Opens netlink handles: on the host, or inside a pinned network namespace.
pub trait NetlinkOpener: Send + Sync {
    /// A handle on the daemon's own (host) namespace.
    fn host(&self) -> NlResult<Box<dyn Netlink>>;
    /// A handle on the namespace pinned at `netns`.
    fn netns(&self, netns: &Path) -> NlResult<Box<dyn Netlink>>;
}

/// Opens real netlink sockets.
#[derive(Debug, Default, Clone, Copy)]
pub struct KernelNetlink;

impl NetlinkOpener for KernelNetlink {
    fn host(&self) -> NlResult<Box<dyn Netlink>> {
        Ok(Box::new(socket::NetlinkSocket::open().map_err(|e| NetlinkError::new("open netlink socket", e))?))
    }

    fn netns(&self, netns: &Path) -> NlResult<Box<dyn Netlink>> {
        let s = socket::NetlinkSocket::open_in(netns).map_err(|e| NetlinkError::new(format!("open netlink socket in {}", netns.display()), e))?;
        Ok(Box::new(s))
    }
}
