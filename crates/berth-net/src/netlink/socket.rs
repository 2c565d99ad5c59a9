//! rtnetlink over a plain blocking `NETLINK_ROUTE` socket (netlink-packet-route for the wire
//! format). A socket acts on the namespace it was created in, so [`NetlinkSocket::open_in`]
//! creates it from a short-lived thread that first joins the target namespace.

use std::fs::File;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::Socket;
use nix::sched::{setns, CloneFlags};

use super::{Addr, Link, Netlink, NetlinkError, NlResult};
use crate::ipnet::Ipv4Net;

/// A blocking rtnetlink socket bound to one network namespace.
pub struct NetlinkSocket {
    sock: Socket,
    seq: u32,
}

impl NetlinkSocket {
    /// A socket on the calling thread's namespace.
    pub fn open() -> io::Result<Self> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        Ok(Self { sock, seq: 0 })
    }

    /// A socket on the namespace pinned at `netns` (the caller's threads stay where they are).
    pub fn open_in(netns: &Path) -> io::Result<Self> {
        let file = File::open(netns)?;
        std::thread::spawn(move || -> io::Result<Self> {
            setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            Self::open()
        })
        .join()
        .map_err(|_| io::Error::other("netlink namespace thread panicked"))?
    }

    /// Sends `msg` and collects the answers until the ACK or the end of a dump.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16, op: &str) -> NlResult<Vec<RouteNetlinkMessage>> {
        self.exchange(msg, flags).map_err(|e| NetlinkError::new(op, e))
    }

    fn exchange(&mut self, msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut nl = NetlinkMessage::from(msg);
        nl.header.flags = NLM_F_REQUEST | flags;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut buf = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut buf);
        self.sock.send(&buf, 0)?;
        let mut out = Vec::new();
        let mut rx = vec![0u8; 64 * 1024];
        loop {
            let n = self.sock.recv(&mut &mut rx[..], 0)?;
            let mut off = 0;
            while off < n {
                let m =
                    NetlinkMessage::<RouteNetlinkMessage>::deserialize(&rx[off..n]).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "zero-length netlink message"));
                }
                off += len.next_multiple_of(4);
                if m.header.sequence_number != self.seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Error(e) => match e.code {
                        None => return Ok(out),
                        Some(code) => return Err(io::Error::from_raw_os_error(-code.get())),
                    },
                    NetlinkPayload::Done(_) => return Ok(out),
                    NetlinkPayload::InnerMessage(inner) => out.push(inner),
                    _ => {}
                }
            }
        }
    }

    fn set_link(&mut self, index: u32, attrs: Vec<LinkAttribute>, up: bool, op: &str) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.attributes = attrs;
        if up {
            msg.header.flags |= LinkFlags::Up;
            msg.header.change_mask |= LinkFlags::Up;
        }
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, op).map(|_| ())
    }
}

fn parse_link(m: LinkMessage) -> Link {
    let mut link = Link { index: m.header.index, up: m.header.flags.contains(LinkFlags::Up), ..Default::default() };
    for a in m.attributes {
        match a {
            LinkAttribute::IfName(n) => link.name = n,
            LinkAttribute::IfAlias(a) => link.alias = Some(a),
            LinkAttribute::Controller(i) => link.master = Some(i),
            LinkAttribute::LinkInfo(infos) => {
                for i in infos {
                    if let LinkInfo::Kind(k) = i {
                        link.kind = Some(k.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    link
}

impl Netlink for NetlinkSocket {
    fn links(&mut self) -> NlResult<Vec<Link>> {
        let answers = self.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP, "list interfaces")?;
        Ok(answers
            .into_iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(l)),
                _ => None,
            })
            .collect())
    }

    /// Asks the kernel for the one interface by name instead of dumping them all: with a veth per
    /// container, a dump (and parsing every answer) made each lookup cost O(containers).
    fn link(&mut self, name: &str) -> NlResult<Option<Link>> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.exchange(RouteNetlinkMessage::GetLink(msg), NLM_F_ACK) {
            Ok(answers) => Ok(answers.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(parse_link(l)),
                _ => None,
            })),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(NetlinkError::new(format!("find interface {name}"), e)),
        }
    }

    fn add_bridge(&mut self, name: &str) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &format!("create bridge {name}")).map(|_| ())
    }

    fn add_veth(&mut self, name: &str, peer: &str, peer_netns: &Path, peer_mac: [u8; 6]) -> NlResult<()> {
        let op = format!("create veth pair {name}/{peer}");
        let ns = File::open(peer_netns).map_err(|e| NetlinkError::new(op.clone(), e))?;
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes.push(LinkAttribute::IfName(peer.to_string()));
        peer_msg.attributes.push(LinkAttribute::Address(peer_mac.to_vec()));
        peer_msg.attributes.push(LinkAttribute::NetNsFd(ns.as_raw_fd()));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth), LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg)))]));
        // `ns` stays open until the kernel has answered.
        let r = self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &op).map(|_| ());
        drop(ns);
        r
    }

    fn set_alias(&mut self, index: u32, alias: &str) -> NlResult<()> {
        self.set_link(index, vec![LinkAttribute::IfAlias(alias.to_string())], false, &format!("set alias of interface {index}"))
    }

    fn set_master(&mut self, index: u32, master: u32) -> NlResult<()> {
        self.set_link(index, vec![LinkAttribute::Controller(master)], false, &format!("attach interface {index} to bridge {master}"))
    }

    fn set_up(&mut self, index: u32) -> NlResult<()> {
        self.set_link(index, Vec::new(), true, &format!("bring interface {index} up"))
    }

    fn add_address(&mut self, index: u32, ip: Ipv4Addr, prefix: u8) -> NlResult<()> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.index = index;
        msg.header.scope = AddressScope::Universe;
        msg.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        msg.attributes.push(AddressAttribute::Address(IpAddr::V4(ip)));
        if let Some(net) = Ipv4Net::new(ip, prefix) {
            msg.attributes.push(AddressAttribute::Broadcast(net.broadcast()));
        }
        self.request(RouteNetlinkMessage::NewAddress(msg), NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &format!("add address {ip}/{prefix} to interface {index}"))
            .map(|_| ())
    }

    fn addresses(&mut self) -> NlResult<Vec<Addr>> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet;
        let answers = self.request(RouteNetlinkMessage::GetAddress(req), NLM_F_DUMP, "list addresses")?;
        let mut out = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewAddress(a) = m else { continue };
            let local = a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Local(IpAddr::V4(ip)) | AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            if let Some(ip) = local {
                out.push(Addr { index: a.header.index, ip, prefix: a.header.prefix_len });
            }
        }
        Ok(out)
    }

    fn routes(&mut self) -> NlResult<Vec<Ipv4Net>> {
        let mut req = RouteMessage::default();
        req.header.address_family = AddressFamily::Inet;
        let answers = self.request(RouteNetlinkMessage::GetRoute(req), NLM_F_DUMP, "list routes")?;
        let mut out = Vec::new();
        for m in answers {
            let RouteNetlinkMessage::NewRoute(r) = m else { continue };
            if r.header.table != RouteHeader::RT_TABLE_MAIN || r.header.destination_prefix_length == 0 {
                continue;
            }
            let dst = r.attributes.iter().find_map(|a| match a {
                RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
                _ => None,
            });
            if let Some(net) = dst.and_then(|ip| Ipv4Net::new(ip, r.header.destination_prefix_length)) {
                out.push(net);
            }
        }
        Ok(out)
    }

    fn add_default_route(&mut self, gateway: Ipv4Addr) -> NlResult<()> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(RouteNetlinkMessage::NewRoute(msg), NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, &format!("add default route via {gateway}")).map(|_| ())
    }

    fn delete_link(&mut self, index: u32) -> NlResult<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(msg), NLM_F_ACK, &format!("delete interface {index}")).map(|_| ())
    }
}
