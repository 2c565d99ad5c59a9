//! berth-net: container networking on the host, as Docker's bridge driver does it.
//!
//! - [`netns`]: per-container network namespaces (loopback up), pinned by path so the daemon
//!   owns their lifetime and can plug veths in before the container starts.
//! - [`bridge`] and [`endpoint`]: bridges, veth pairs, addresses and routes through rtnetlink,
//!   behind the [`netlink::Netlink`] seam (a recording fake tests the logic without root).
//! - [`ipam`] and [`ipnet`]: subnets, Docker's default pools, sequential address allocation.
//! - [`firewall`]: masquerade, DNAT for published ports and isolation between networks, as one
//!   nftables table per daemon, rendered whole and swapped atomically.
//! - [`proxy`]: the userland TCP/UDP proxy that makes published ports answer on loopback and
//!   to containers; [`ports`] parses Docker's port bindings.
//! - [`dns`]: the embedded DNS server of user-defined networks.
//! - [`counters`]: a container's traffic counters, from the host end of its veths.
//! - [`naming`] and [`host`]: ownership tags (a daemon only touches what carries its tag),
//!   interface names, `ip_forward`, and the host-wide lock for choosing subnets.
//!
//! Invariant: every change to the host is validated first, then applied step by step with the
//! applied steps undone on failure; teardown is best effort and reports every error.

pub mod bridge;
pub mod counters;
pub mod dns;
pub mod endpoint;
pub mod firewall;
pub mod host;
pub mod ipam;
pub mod ipnet;
pub mod naming;
pub mod netlink;
pub mod netns;
pub mod ports;
pub mod proxy;
