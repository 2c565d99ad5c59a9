//! A recording stand-in for the kernel: keeps a model of interfaces and addresses per
//! namespace, logs every call, and fails the operation whose log line starts with a chosen
//! prefix. Unit tests assert on the log (what would have been done, in order) and on the
//! model (what would be left behind).

use std::collections::BTreeMap;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Addr, Link, Netlink, NetlinkError, NetlinkOpener, NlResult};
use crate::ipnet::Ipv4Net;

/// The shared model behind every handle of one [`FakeNetlink`].
#[derive(Debug, Default)]
pub struct FakeState {
    /// Every call, as `ns: op args`.
    pub log: Vec<String>,
    /// Interfaces per namespace (`host` or the pinned path).
    pub links: BTreeMap<String, Vec<Link>>,
    /// Addresses per namespace.
    pub addrs: BTreeMap<String, Vec<Addr>>,
    /// Routes on the host.
    pub routes: Vec<Ipv4Net>,
    /// Calls whose log line (without the namespace) starts with this fail with EPERM.
    pub fail: Option<String>,
    /// veth pairs: (namespace, name) of both ends.
    pairs: Vec<((String, String), (String, String))>,
    next_index: u32,
}

/// A fake netlink for tests; clones share one model.
#[derive(Debug, Clone, Default)]
pub struct FakeNetlink(pub Arc<Mutex<FakeState>>);

impl FakeNetlink {
    /// A fresh host with only `lo`.
    pub fn new() -> Self {
        let f = FakeNetlink::default();
        f.state().links.insert("host".into(), vec![Link { index: 1, name: "lo".into(), up: true, ..Default::default() }]);
        f.state().next_index = 2;
        f
    }

    /// Locks the model.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes the first call whose log line starts with `prefix` fail.
    pub fn fail_on(&self, prefix: &str) {
        self.state().fail = Some(prefix.to_string());
    }

    /// The calls made so far.
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// Interface names in namespace `ns` (`host` or a netns path).
    pub fn names(&self, ns: &str) -> Vec<String> {
        self.state().links.get(ns).map(|l| l.iter().map(|l| l.name.clone()).collect()).unwrap_or_default()
    }
}

impl NetlinkOpener for FakeNetlink {
    fn host(&self) -> NlResult<Box<dyn Netlink>> {
        Ok(Box::new(FakeHandle { fake: self.clone(), ns: "host".into() }))
    }

    fn netns(&self, netns: &Path) -> NlResult<Box<dyn Netlink>> {
        let ns = netns.display().to_string();
        self.state().links.entry(ns.clone()).or_insert_with(|| vec![Link { index: 1, name: "lo".into(), up: true, ..Default::default() }]);
        Ok(Box::new(FakeHandle { fake: self.clone(), ns }))
    }
}

/// One handle on one namespace of the fake.
pub struct FakeHandle {
    fake: FakeNetlink,
    ns: String,
}

impl FakeHandle {
    /// Logs `op` and fails it if it was chosen to fail.
    fn call(&self, op: String) -> NlResult<MutexGuard<'_, FakeState>> {
        let mut s = self.fake.state();
        s.log.push(format!("{}: {op}", self.ns));
        if s.fail.as_deref().is_some_and(|f| op.starts_with(f)) {
            s.fail = None;
            return Err(NetlinkError::new(op, io::Error::from_raw_os_error(libc::EPERM)));
        }
        Ok(s)
    }

    fn add_link(s: &mut FakeState, ns: &str, name: &str, kind: &str) -> NlResult<u32> {
        let links = s.links.entry(ns.to_string()).or_insert_with(|| vec![Link { index: 1, name: "lo".into(), up: true, ..Default::default() }]);
        if links.iter().any(|l| l.name == name) {
            return Err(NetlinkError::new(format!("create {name}"), io::Error::from_raw_os_error(libc::EEXIST)));
        }
        let index = s.next_index.max(2);
        s.next_index = index + 1;
        s.links.entry(ns.to_string()).or_default().push(Link { index, name: name.into(), kind: Some(kind.into()), ..Default::default() });
        Ok(index)
    }

    fn with_link(&self, s: &mut FakeState, index: u32, f: impl FnOnce(&mut Link)) -> NlResult<()> {
        match s.links.get_mut(&self.ns).and_then(|l| l.iter_mut().find(|l| l.index == index)) {
            Some(l) => {
                f(l);
                Ok(())
            }
            None => Err(NetlinkError::new(format!("interface {index}"), io::Error::from_raw_os_error(libc::ENODEV))),
        }
    }
}

impl Netlink for FakeHandle {
    fn links(&mut self) -> NlResult<Vec<Link>> {
        let s = self.fake.state();
        Ok(s.links.get(&self.ns).cloned().unwrap_or_default())
    }

    fn add_bridge(&mut self, name: &str) -> NlResult<()> {
        let ns = self.ns.clone();
        let mut s = self.call(format!("add_bridge {name}"))?;
        Self::add_link(&mut s, &ns, name, "bridge").map(|_| ())
    }

    fn add_veth(&mut self, name: &str, peer: &str, peer_netns: &Path, peer_mac: [u8; 6]) -> NlResult<()> {
        let ns = self.ns.clone();
        let mac: Vec<String> = peer_mac.iter().map(|b| format!("{b:02x}")).collect();
        let mut s = self.call(format!("add_veth {name} peer {peer} in {} mac {}", peer_netns.display(), mac.join(":")))?;
        Self::add_link(&mut s, &ns, name, "veth")?;
        let peer_ns = PathBuf::from(peer_netns).display().to_string();
        Self::add_link(&mut s, &peer_ns, peer, "veth")?;
        s.pairs.push(((ns, name.to_string()), (peer_ns, peer.to_string())));
        Ok(())
    }

    fn set_alias(&mut self, index: u32, alias: &str) -> NlResult<()> {
        let mut s = self.call(format!("set_alias {index} {alias}"))?;
        self.with_link(&mut s, index, |l| l.alias = Some(alias.into()))
    }

    fn set_master(&mut self, index: u32, master: u32) -> NlResult<()> {
        let mut s = self.call(format!("set_master {index} {master}"))?;
        self.with_link(&mut s, index, |l| l.master = Some(master))
    }

    fn set_up(&mut self, index: u32) -> NlResult<()> {
        let mut s = self.call(format!("set_up {index}"))?;
        self.with_link(&mut s, index, |l| l.up = true)
    }

    fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> NlResult<()> {
        let ns = self.ns.clone();
        let mut s = self.call(format!("add_address {index} {ip}/{prefix}"))?;
        s.addrs.entry(ns.clone()).or_default().push(Addr { index, ip, prefix });
        if ns == "host" {
            if let Some(n) = Ipv4Net::new(ip, prefix) {
                s.routes.push(n);
            }
        }
        Ok(())
    }

    fn addresses(&mut self) -> NlResult<Vec<Addr>> {
        Ok(self.fake.state().addrs.get(&self.ns).cloned().unwrap_or_default())
    }

    fn routes(&mut self) -> NlResult<Vec<Ipv4Net>> {
        Ok(if self.ns == "host" { self.fake.state().routes.clone() } else { Vec::new() })
    }

    fn add_default_route(&mut self, gateway: Ipv4Addr) -> NlResult<()> {
        self.call(format!("add_default_route {gateway}")).map(|_| ())
    }

    fn delete_link(&mut self, index: u32) -> NlResult<()> {
        let ns = self.ns.clone();
        let mut s = self.call(format!("delete_link {index}"))?;
        let Some(links) = s.links.get_mut(&ns) else {
            return Err(NetlinkError::new("delete", io::Error::from_raw_os_error(libc::ENODEV)));
        };
        let Some(pos) = links.iter().position(|l| l.index == index) else {
            return Err(NetlinkError::new("delete", io::Error::from_raw_os_error(libc::ENODEV)));
        };
        let gone = links.remove(pos);
        let prefixes: Vec<Ipv4Net> =
            s.addrs.get(&ns).map(|a| a.iter().filter(|a| a.index == index).filter_map(|a| Ipv4Net::new(a.ip, a.prefix)).collect()).unwrap_or_default();
        if let Some(a) = s.addrs.get_mut(&ns) {
            a.retain(|a| a.index != index);
        }
        s.routes.retain(|r| !prefixes.contains(r));
        // A veth's peer disappears with it.
        let me = (ns, gone.name);
        let peers: Vec<(String, String)> = s
            .pairs
            .iter()
            .filter_map(|(a, b)| {
                if *a == me {
                    Some(b.clone())
                } else if *b == me {
                    Some(a.clone())
                } else {
                    None
                }
            })
            .collect();
        s.pairs.retain(|(a, b)| *a != me && *b != me);
        for (pns, pname) in peers {
            if let Some(l) = s.links.get_mut(&pns) {
                l.retain(|l| l.name != pname);
            }
        }
        Ok(())
    }
}
