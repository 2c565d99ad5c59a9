//! IP address management: Docker's default pools for networks without a subnet, and per-network
//! address plans that hand container addresses out sequentially.
//!
//! Invariant: an address is never handed to two live endpoints. The caller passes the set of
//! addresses in use (derived from its persisted endpoints) and a cursor (the last address given
//! out), so allocation survives restarts and does not reuse a just-freed address before the
//! range wraps around.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::ipnet::Ipv4Net;

/// Why an address plan or an allocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// The request itself is malformed (gateway outside the subnet, ...).
    #[error("{0}")]
    Invalid(String),
    /// Every usable address of the range is taken.
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(Ipv4Net),
    /// A requested address is held by another endpoint.
    #[error("Address already in use: {0}")]
    InUse(Ipv4Addr),
    /// No default pool is free any more.
    #[error("all predefined address pools have been fully subnetted")]
    NoPool,
}

/// Docker's default local address pools, in the order Docker tries them: 172.17-172.31 as /16s
/// (172.17/16, 172.18/16, 172.19/16, then 172.20/14, 172.24/14 and 172.28/14 split into /16s),
/// then 192.168.0.0/16 split into /20s.
pub fn default_pools() -> Vec<Ipv4Net> {
    let mut out: Vec<Ipv4Net> = (17..=31).filter_map(|b| Ipv4Net::new(Ipv4Addr::new(172, b, 0, 0), 16)).collect();
    if let Some(n) = Ipv4Net::new(Ipv4Addr::new(192, 168, 0, 0), 16) {
        out.extend(n.split(20));
    }
    out
}

/// The first default pool that overlaps none of `taken`.
pub fn pick_subnet(taken: &[Ipv4Net]) -> Result<Ipv4Net, IpamError> {
    default_pools().into_iter().find(|p| !taken.iter().any(|t| t.overlaps(p))).ok_or(IpamError::NoPool)
}

/// The address plan of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// The bridge's address, and the containers' default route.
    pub gateway: Ipv4Addr,
    /// Where container addresses are taken from (the whole subnet if absent).
    #[serde(default)]
    pub range: Option<Ipv4Net>,
    /// Addresses never handed out (`--aux-address`).
    #[serde(default)]
    pub aux: Vec<Ipv4Addr>,
}

impl Pool {
    /// Validates a plan: the gateway, range and auxiliary addresses must lie in the subnet. The
    /// gateway defaults to the first host address.
    pub fn new(subnet: Ipv4Net, gateway: Option<Ipv4Addr>, range: Option<Ipv4Net>, aux: Vec<Ipv4Addr>) -> Result<Pool, IpamError> {
        if subnet.prefix() > 30 {
            return Err(IpamError::Invalid(format!("subnet {subnet} is too small: a bridge network needs at least a /30")));
        }
        let gateway = match gateway {
            Some(g) => g,
            None => subnet.nth(1).ok_or_else(|| IpamError::Invalid(format!("subnet {subnet} has no host address")))?,
        };
        if !subnet.contains(gateway) || gateway == subnet.network() || gateway == subnet.broadcast() {
            return Err(IpamError::Invalid(format!("invalid gateway address {gateway}: not a host address of subnet {subnet}")));
        }
        if let Some(r) = range {
            if !subnet.covers(&r) {
                return Err(IpamError::Invalid(format!("invalid pool request: ip-range {r} is not contained in subnet {subnet}")));
            }
        }
        for a in &aux {
            if !subnet.contains(*a) {
                return Err(IpamError::Invalid(format!("invalid auxiliary address {a}: not in subnet {subnet}")));
            }
        }
        Ok(Pool { subnet, gateway, range, aux })
    }

    /// Whether `ip` can never be given to a container.
    fn reserved(&self, ip: Ipv4Addr) -> bool {
        ip == self.subnet.network() || ip == self.subnet.broadcast() || ip == self.gateway || self.aux.contains(&ip)
    }

    /// The next free address after `cursor` (wrapping around the range), given the addresses
    /// `in_use` by live endpoints.
    pub fn allocate(&self, in_use: &BTreeSet<Ipv4Addr>, cursor: Option<Ipv4Addr>) -> Result<Ipv4Addr, IpamError> {
        let range = self.range.unwrap_or(self.subnet);
        let size = range.size();
        let start = cursor.and_then(|c| range.offset(c)).map(|o| o + 1).unwrap_or(0);
        for i in 0..size {
            let Some(ip) = range.nth((start + i) % size) else { continue };
            if !self.reserved(ip) && !in_use.contains(&ip) {
                return Ok(ip);
            }
        }
        Err(IpamError::Exhausted(range))
    }

    /// Checks a user-chosen address (`--ip`): inside the subnet, not reserved, not in use.
    pub fn check_static(&self, ip: Ipv4Addr, in_use: &BTreeSet<Ipv4Addr>) -> Result<(), IpamError> {
        if !self.subnet.contains(ip) {
            return Err(IpamError::Invalid(format!("invalid endpoint settings: no configured subnet contains IP address {ip}")));
        }
        if self.reserved(ip) || in_use.contains(&ip) {
            return Err(IpamError::InUse(ip));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("valid cidr")
    }

    #[test]
    fn pools_follow_docker_order_and_skip_taken() {
        let pools = default_pools();
        assert_eq!(pools[0], net("172.17.0.0/16"));
        assert_eq!(pools[14], net("172.31.0.0/16"));
        assert_eq!(pools[15], net("192.168.0.0/20"));
        assert_eq!(pools.len(), 31);
        let taken = [net("172.16.0.0/12")];
        assert_eq!(pick_subnet(&taken).expect("a pool"), net("192.168.0.0/20"));
        assert_eq!(pick_subnet(&[net("172.17.5.0/24")]).expect("a pool"), net("172.18.0.0/16"));
        assert_eq!(pick_subnet(&[net("0.0.0.0/0")]), Err(IpamError::NoPool));
    }

    #[test]
    fn allocation_is_sequential_and_never_reuses_a_live_address() {
        let pool = Pool::new(net("10.9.0.0/29"), None, None, vec![Ipv4Addr::new(10, 9, 0, 3)]).expect("plan");
        assert_eq!(pool.gateway, Ipv4Addr::new(10, 9, 0, 1));
        let mut used = BTreeSet::new();
        let mut cursor = None;
        let mut got = Vec::new();
        for _ in 0..4 {
            let ip = pool.allocate(&used, cursor).expect("free address");
            used.insert(ip);
            cursor = Some(ip);
            got.push(ip.octets()[3]);
        }
        // .0 network, .1 gateway, .3 aux, .7 broadcast are never handed out.
        assert_eq!(got, vec![2, 4, 5, 6]);
        assert_eq!(pool.allocate(&used, cursor), Err(IpamError::Exhausted(net("10.9.0.0/29"))));
        // A freed address comes back only after the cursor wraps.
        used.remove(&Ipv4Addr::new(10, 9, 0, 4));
        assert_eq!(pool.allocate(&used, cursor).expect("wraps"), Ipv4Addr::new(10, 9, 0, 4));
    }

    #[test]
    fn plans_and_static_addresses_are_validated() {
        assert!(Pool::new(net("10.9.0.0/24"), Some(Ipv4Addr::new(10, 8, 0, 1)), None, vec![]).is_err());
        assert!(Pool::new(net("10.9.0.0/24"), Some(Ipv4Addr::new(10, 9, 0, 0)), None, vec![]).is_err());
        assert!(Pool::new(net("10.9.0.0/24"), None, Some(net("10.9.1.0/28")), vec![]).is_err());
        assert!(Pool::new(net("10.9.0.0/31"), None, None, vec![]).is_err());
        let pool = Pool::new(net("10.9.0.0/24"), None, Some(net("10.9.0.128/25")), vec![]).expect("plan");
        assert_eq!(pool.allocate(&BTreeSet::new(), None).expect("ip"), Ipv4Addr::new(10, 9, 0, 128));
        let used: BTreeSet<_> = [Ipv4Addr::new(10, 9, 0, 50)].into();
        assert!(pool.check_static(Ipv4Addr::new(10, 9, 0, 60), &used).is_ok());
        assert_eq!(pool.check_static(Ipv4Addr::new(10, 9, 0, 50), &used), Err(IpamError::InUse(Ipv4Addr::new(10, 9, 0, 50))));
        assert_eq!(pool.check_static(Ipv4Addr::new(10, 9, 0, 1), &used), Err(IpamError::InUse(Ipv4Addr::new(10, 9, 0, 1))));
        assert!(matches!(pool.check_static(Ipv4Addr::new(10, 10, 0, 1), &used), Err(IpamError::Invalid(_))));
    }
}
