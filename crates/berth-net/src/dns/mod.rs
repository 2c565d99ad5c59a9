//! The embedded DNS server of a user-defined network. It listens on the network's gateway
//! address (port 53, UDP) and answers for the containers on that network: names, network
//! aliases, 12-character short ids, `name.network`, per-container `--link` aliases, and PTR
//! records for their addresses. Other multi-label names are forwarded to the asking
//! container's `--dns` servers, else to the host's resolvers.
//!
//! The daemon swaps a whole new [`Records`] snapshot in after every change; queries read the
//! current snapshot without waiting on the daemon.

pub mod wire;

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::runtime::Handle;

use crate::ipnet::Ipv4Net;
use wire::{Query, Rcode};

/// TTL of the answers we give (Docker's embedded DNS uses 600 s).
const TTL: u32 = 600;
/// How long an upstream resolver gets to answer.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(3);

/// What one network's server knows; names are lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    /// The network's name (`c1.<network>` resolves like `c1`).
    pub network: String,
    /// The network's subnet (PTR questions about it are answered here).
    pub subnet: Option<Ipv4Net>,
    /// Names every container on the network can resolve.
    pub names: HashMap<String, Vec<Ipv4Addr>>,
    /// Address to name, for PTR.
    pub reverse: HashMap<Ipv4Addr, String>,
    /// Names only the container at the key's address resolves (`--link` aliases).
    pub scoped: HashMap<Ipv4Addr, HashMap<String, Vec<Ipv4Addr>>>,
    /// The `--dns` servers of the container at the key's address.
    pub upstreams: HashMap<Ipv4Addr, Vec<SocketAddr>>,
    /// Resolvers for everyone else (the host's).
    pub default_upstreams: Vec<SocketAddr>,
}

impl Records {
    /// Adds `name` for `ip` (lower-cased).
    pub fn add(&mut self, name: &str, ip: Ipv4Addr) {
        let v = self.names.entry(name.to_ascii_lowercase()).or_default();
        if !v.contains(&ip) {
            v.push(ip);
        }
    }
}

/// What to do with a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send these bytes back.
    Answer(Vec<u8>),
    /// Ask these resolvers, in order.
    Forward(Vec<SocketAddr>),
}

/// Decides the answer to `q` from a container at `src` (pure, so it is unit-tested).
pub fn decide(r: &Records, q: &Query, src: Ipv4Addr) -> Decision {
    if q.qclass != wire::CLASS_IN {
        return Decision::Answer(wire::empty_answer(q, Rcode::NotImp));
    }
    if q.qtype == wire::TYPE_PTR {
        if let Some(ip) = wire::ptr_target(&q.name) {
            if let Some(name) = r.reverse.get(&ip) {
                return Decision::Answer(wire::ptr_answer(q, name, TTL));
            }
            if r.subnet.is_some_and(|s| s.contains(ip)) {
                return Decision::Answer(wire::empty_answer(q, Rcode::NxDomain));
            }
        }
    }
    let suffix = format!(".{}", r.network.to_ascii_lowercase());
    let short = if r.network.is_empty() { None } else { q.name.strip_suffix(&suffix) };
    let found = [Some(q.name.as_str()), short].into_iter().flatten().find_map(|n| r.scoped.get(&src).and_then(|m| m.get(n)).or_else(|| r.names.get(n)));
    if let Some(ips) = found {
        return Decision::Answer(if q.qtype == wire::TYPE_A { wire::a_answer(q, ips, TTL) } else { wire::empty_answer(q, Rcode::NoError) });
    }
    // A single label that is not ours has no public answer: do not send it off the host.
    if !q.name.contains('.') {
        return Decision::Answer(wire::empty_answer(q, Rcode::NxDomain));
    }
    let ups = r.upstreams.get(&src).filter(|u| !u.is_empty()).unwrap_or(&r.default_upstreams);
    if ups.is_empty() {
        return Decision::Answer(wire::empty_answer(q, Rcode::ServFail));
    }
    Decision::Forward(ups.clone())
}

/// A running server; dropping it stops it.
#[derive(Debug)]
pub struct DnsServer {
    task: tokio::task::JoinHandle<()>,
    records: Arc<RwLock<Arc<Records>>>,
    /// Where it listens.
    pub addr: SocketAddrV4,
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl DnsServer {
    /// Binds `ip:port` (53 in production) and serves `records` on the runtime `rt`.
    pub fn start(rt: &Handle, ip: Ipv4Addr, port: u16, records: Records) -> io::Result<DnsServer> {
        let std_sock = std::net::UdpSocket::bind(SocketAddrV4::new(ip, port))?;
        std_sock.set_nonblocking(true)?;
        let addr = match std_sock.local_addr()? {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => return Err(io::Error::other("unexpected IPv6 address")),
        };
        let _guard = rt.enter();
        let sock = Arc::new(UdpSocket::from_std(std_sock)?);
        let records = Arc::new(RwLock::new(Arc::new(records)));
        let task = rt.spawn(serve(sock, records.clone()));
        Ok(DnsServer { task, records, addr })
    }

    /// Swaps in a new snapshot.
    pub fn update(&self, records: Records) {
        *self.records.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(records);
    }
}

async fn serve(sock: Arc<UdpSocket>, records: Arc<RwLock<Arc<Records>>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else { continue };
        let SocketAddr::V4(from4) = from else { continue };
        let packet = &buf[..n];
        let q = match wire::parse_query(packet) {
            Ok(q) => q,
            Err(_) => {
                if let Some(a) = wire::error_for_packet(packet, Rcode::FormErr) {
                    let _ = sock.send_to(&a, from).await;
                }
                continue;
            }
        };
        let snapshot = records.read().unwrap_or_else(|p| p.into_inner()).clone();
        match decide(&snapshot, &q, *from4.ip()) {
            Decision::Answer(a) => {
                let _ = sock.send_to(&a, from).await;
            }
            Decision::Forward(ups) => {
                let (sock, packet) = (sock.clone(), packet.to_vec());
                tokio::spawn(async move {
                    let answer = forward(&packet, &ups).await.unwrap_or_else(|| wire::empty_answer(&q, Rcode::ServFail));
                    let _ = sock.send_to(&answer, from).await;
                });
            }
        }
    }
}

/// Asks each resolver in turn; the first answer wins.
async fn forward(packet: &[u8], upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for up in upstreams {
        let Ok(s) = UdpSocket::bind(if up.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }).await else { continue };
        if s.connect(up).await.is_err() || s.send(packet).await.is_err() {
            continue;
        }
        let mut buf = vec![0u8; 4096];
        if let Ok(Ok(n)) = tokio::time::timeout(UPSTREAM_TIMEOUT, s.recv(&mut buf)).await {
            buf.truncate(n);
            return Some(buf);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use wire::{answer_ips, build_query, parse_query, TYPE_A, TYPE_AAAA};

    fn records() -> Records {
        let mut r = Records { network: "appnet".into(), subnet: "10.77.0.0/16".parse().ok(), ..Default::default() };
        r.add("web", Ipv4Addr::new(10, 77, 0, 2));
        r.add("Frontend", Ipv4Addr::new(10, 77, 0, 2));
        r.reverse.insert(Ipv4Addr::new(10, 77, 0, 2), "web.appnet.".into());
        r.scoped.insert(Ipv4Addr::new(10, 77, 0, 3), [("db".to_string(), vec![Ipv4Addr::new(10, 77, 0, 2)])].into());
        r
    }

    fn ask(r: &Records, name: &str, qtype: u16, src: [u8; 4]) -> Decision {
        decide(r, &parse_query(&build_query(9, name, qtype)).expect("query"), Ipv4Addr::from(src))
    }

    fn ips(d: Decision) -> (Rcode, Vec<Ipv4Addr>) {
        match d {
            Decision::Answer(a) => answer_ips(&a).expect("answer"),
            Decision::Forward(_) => panic!("forwarded"),
        }
    }

    #[test]
    fn answers_for_names_aliases_and_links() {
        let r = records();
        let web = vec![Ipv4Addr::new(10, 77, 0, 2)];
        assert_eq!(ips(ask(&r, "web", TYPE_A, [10, 77, 0, 9])), (Rcode::NoError, web.clone()));
        assert_eq!(ips(ask(&r, "FRONTEND", TYPE_A, [10, 77, 0, 9])), (Rcode::NoError, web.clone()));
        assert_eq!(ips(ask(&r, "web.appnet", TYPE_A, [10, 77, 0, 9])), (Rcode::NoError, web.clone()));
        assert_eq!(ips(ask(&r, "web", TYPE_AAAA, [10, 77, 0, 9])), (Rcode::NoError, vec![]));
        assert_eq!(ips(ask(&r, "db", TYPE_A, [10, 77, 0, 3])), (Rcode::NoError, web));
        assert_eq!(ips(ask(&r, "db", TYPE_A, [10, 77, 0, 9])), (Rcode::NxDomain, vec![]), "links are per container");
        assert!(matches!(ask(&r, "2.0.77.10.in-addr.arpa", wire::TYPE_PTR, [10, 77, 0, 9]), Decision::Answer(_)));
        assert_eq!(ips(ask(&r, "9.9.77.10.in-addr.arpa", wire::TYPE_PTR, [10, 77, 0, 9])).0, Rcode::NxDomain);
    }

    #[test]
    fn unknown_names_are_forwarded_or_refused() {
        let mut r = records();
        assert_eq!(ips(ask(&r, "nohost", TYPE_A, [10, 77, 0, 9])).0, Rcode::NxDomain, "single labels stay local");
        assert_eq!(ips(ask(&r, "example.org", TYPE_A, [10, 77, 0, 9])).0, Rcode::ServFail, "no resolver known");
        let host: SocketAddr = "127.0.0.1:5353".parse().expect("addr");
        let own: SocketAddr = "127.0.0.2:53".parse().expect("addr");
        r.default_upstreams = vec![host];
        r.upstreams.insert(Ipv4Addr::new(10, 77, 0, 3), vec![own]);
        assert_eq!(ask(&r, "example.org", TYPE_A, [10, 77, 0, 9]), Decision::Forward(vec![host]));
        assert_eq!(ask(&r, "example.org", TYPE_A, [10, 77, 0, 3]), Decision::Forward(vec![own]));
    }

    #[tokio::test]
    async fn serves_and_forwards_over_udp() {
        // A fake upstream on loopback that answers every query with 192.0.2.1.
        let upstream = UdpSocket::bind("127.0.0.1:0").await.expect("upstream");
        let up_addr = upstream.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut b = [0u8; 512];
            while let Ok((n, from)) = upstream.recv_from(&mut b).await {
                if let Ok(q) = parse_query(&b[..n]) {
                    let _ = upstream.send_to(&wire::a_answer(&q, &[Ipv4Addr::new(192, 0, 2, 1)], 5), from).await;
                }
            }
        });
        let mut r = records();
        r.add("client", Ipv4Addr::LOCALHOST);
        r.default_upstreams = vec![up_addr];
        let server = DnsServer::start(&Handle::current(), Ipv4Addr::LOCALHOST, 0, r.clone()).expect("start");
        let c = UdpSocket::bind("127.0.0.1:0").await.expect("client");
        let mut b = [0u8; 512];
        for (name, want) in [("web", Ipv4Addr::new(10, 77, 0, 2)), ("example.org", Ipv4Addr::new(192, 0, 2, 1))] {
            c.send_to(&build_query(3, name, TYPE_A), server.addr).await.expect("send");
            let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut b)).await.expect("in time").expect("recv");
            assert_eq!(answer_ips(&b[..n]), Some((Rcode::NoError, vec![want])), "{name}");
        }
        r.names.clear();
        server.update(r);
        c.send_to(&build_query(4, "web", TYPE_A), server.addr).await.expect("send");
        let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut b)).await.expect("in time").expect("recv");
        assert_eq!(answer_ips(&b[..n]), Some((Rcode::NxDomain, vec![])), "the new snapshot is used");
    }
}
