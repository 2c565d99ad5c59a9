//! IPv4 subnets and interface addresses: parsing, containment, overlap and host arithmetic.
//! Everything here is pure so IPAM and the firewall can be tested without a kernel.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a CIDR string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR address: {0}")]
pub struct CidrError(pub String);

/// An IPv4 subnet, always stored with its host bits cleared (`172.18.0.0/16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Net {
    addr: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// The subnet of `addr/prefix` (host bits are dropped); `None` when `prefix > 32`.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Self> {
        (prefix <= 32).then(|| Self { addr: Ipv4Addr::from(u32::from(addr) & mask(prefix)), prefix })
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The broadcast address (the last address of the subnet).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !mask(self.prefix))
    }

    /// Number of addresses, network and broadcast included.
    pub fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }

    /// Whether `ip` lies in the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == u32::from(self.addr)
    }

    /// Whether `other` lies entirely inside this subnet.
    pub fn covers(&self, other: &Ipv4Net) -> bool {
        self.prefix <= other.prefix && self.contains(other.addr)
    }

    /// Whether the two subnets share at least one address.
    pub fn overlaps(&self, other: &Ipv4Net) -> bool {
        self.covers(other) || other.covers(self)
    }

    /// The `n`th address of the subnet (0 is the network address), if it exists.
    pub fn nth(&self, n: u64) -> Option<Ipv4Addr> {
        (n < self.size()).then(|| Ipv4Addr::from(u32::from(self.addr).wrapping_add(n as u32)))
    }

    /// The offset of `ip` from the network address, if `ip` is inside.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u64> {
        self.contains(ip).then(|| u64::from(u32::from(ip) - u32::from(self.addr)))
    }

    /// Splits the subnet into subnets of `prefix` bits (empty if `prefix` is shorter).
    pub fn split(&self, prefix: u8) -> Vec<Ipv4Net> {
        if prefix < self.prefix || prefix > 32 {
            return Vec::new();
        }
        let count = 1u64 << (prefix - self.prefix);
        let step = 1u64 << (32 - u32::from(prefix));
        (0..count).filter_map(|i| Ipv4Net::new(Ipv4Addr::from(u32::from(self.addr).wrapping_add((i * step) as u32)), prefix)).collect()
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn split_cidr(s: &str) -> Result<(Ipv4Addr, u8), CidrError> {
    let bad = || CidrError(s.to_string());
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: Ipv4Addr = ip.parse().map_err(|_| bad())?;
    if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    if len > 32 {
        return Err(bad());
    }
    Ok((ip, len))
}

impl FromStr for Ipv4Net {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (ip, len) = split_cidr(s)?;
        Ipv4Net::new(ip, len).ok_or_else(|| CidrError(s.to_string()))
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl TryFrom<String> for Ipv4Net {
    type Error = CidrError;
    fn try_from(s: String) -> Result<Self, CidrError> {
        s.parse()
    }
}

impl From<Ipv4Net> for String {
    fn from(n: Ipv4Net) -> String {
        n.to_string()
    }
}

/// An address on an interface with its prefix (`172.17.0.1/16`), as `--bip` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    /// The interface's own address.
    pub ip: Ipv4Addr,
    /// The subnet it lives in.
    pub net: Ipv4Net,
}

impl FromStr for IfAddr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (ip, len) = split_cidr(s)?;
        let net = Ipv4Net::new(ip, len).ok_or_else(|| CidrError(s.to_string()))?;
        Ok(IfAddr { ip, net })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("valid cidr")
    }

    #[test]
    fn parses_and_masks() {
        assert_eq!(net("172.18.3.4/16").to_string(), "172.18.0.0/16");
        assert_eq!(net("10.0.0.0/8").broadcast(), Ipv4Addr::new(10, 255, 255, 255));
        assert_eq!(net("0.0.0.0/0").size(), 1 << 32);
        for bad in ["172.18.0.0", "172.18.0.0/33", "x/8", "1.2.3.4/", "1.2.3.4/+8", "::1/64"] {
            assert!(bad.parse::<Ipv4Net>().is_err(), "{bad}");
        }
        let a: IfAddr = "172.17.0.1/16".parse().expect("valid");
        assert_eq!(a.ip, Ipv4Addr::new(172, 17, 0, 1));
        assert_eq!(a.net, net("172.17.0.0/16"));
    }

    #[test]
    fn overlap_and_containment() {
        assert!(net("172.18.0.0/16").overlaps(&net("172.18.5.0/24")));
        assert!(net("172.18.5.0/24").overlaps(&net("172.18.0.0/16")));
        assert!(!net("172.18.0.0/16").overlaps(&net("172.19.0.0/16")));
        assert!(net("172.20.0.0/14").covers(&net("172.23.0.0/16")));
        assert!(!net("172.20.0.0/14").covers(&net("172.24.0.0/16")));
        assert_eq!(net("10.0.0.0/24").nth(1), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(net("10.0.0.0/24").nth(256), None);
        assert_eq!(net("10.0.0.0/24").offset(Ipv4Addr::new(10, 0, 0, 9)), Some(9));
        assert_eq!(net("192.168.0.0/16").split(20).len(), 16);
        assert_eq!(net("192.168.0.0/16").split(20)[1], net("192.168.16.0/20"));
    }

    #[test]
    fn serde_round_trip() {
        let n = net("172.18.0.0/16");
        let s = serde_json::to_string(&n).expect("serialize");
        assert_eq!(s, "\"172.18.0.0/16\"");
        assert_eq!(serde_json::from_str::<Ipv4Net>(&s).expect("parse"), n);
    }
}
