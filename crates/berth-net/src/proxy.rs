//! The userland proxy for published ports: the host side listens on `HostIp:HostPort` and
//! relays to the container's address. It is what answers on 127.0.0.1 (loopback traffic is
//! never DNATed) and to containers reaching a published port through a host address; its
//! bound socket is also what reserves the host port, so "port already in use" is found by
//! binding before anything else changes.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::runtime::Handle;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use crate::ports::{PortMapping, Proto};

/// How long a UDP flow without traffic keeps its relay socket.
const UDP_IDLE: Duration = Duration::from_secs(90);

/// A host socket bound for one published port, not yet relaying.
#[derive(Debug)]
pub enum Bound {
    Tcp(std::net::TcpListener),
    Udp(std::net::UdpSocket),
}

/// Binds the host side of `m`; a port of 0 lets the kernel choose. Returns the socket and the
/// port it got.
pub fn bind(proto: Proto, host: SocketAddrV4) -> io::Result<(Bound, u16)> {
    match proto {
        Proto::Tcp => {
            let l = std::net::TcpListener::bind(host)?;
            l.set_nonblocking(true)?;
            let port = l.local_addr()?.port();
            Ok((Bound::Tcp(l), port))
        }
        Proto::Udp => {
            let s = std::net::UdpSocket::bind(host)?;
            s.set_nonblocking(true)?;
            let port = s.local_addr()?.port();
            Ok((Bound::Udp(s), port))
        }
    }
}

/// A running relay; dropping it stops the listener and every connection it carries.
#[derive(Debug)]
pub struct ProxyHandle {
    task: tokio::task::JoinHandle<()>,
    /// The mapping it serves.
    pub mapping: PortMapping,
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts relaying `bound` to `target` on the runtime `rt`.
pub fn start(rt: &Handle, bound: Bound, target: SocketAddrV4, mapping: PortMapping) -> io::Result<ProxyHandle> {
    let _guard = rt.enter();
    let task = match bound {
        Bound::Tcp(l) => {
            let l = TcpListener::from_std(l)?;
            rt.spawn(tcp_loop(l, target))
        }
        Bound::Udp(s) => {
            let s = UdpSocket::from_std(s)?;
            rt.spawn(udp_loop(Arc::new(s), target))
        }
    };
    Ok(ProxyHandle { task, mapping })
}

async fn tcp_loop(listener: TcpListener, target: SocketAddrV4) {
    // Connections live in the set, so aborting this task drops (and closes) all of them.
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    conns.spawn(relay_tcp(client, target));
                }
                Err(e) => {
                    tracing::debug!("proxy accept on {:?}: {e}", listener.local_addr());
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn relay_tcp(mut client: TcpStream, target: SocketAddrV4) {
    let _ = client.set_nodelay(true);
    let mut upstream = match TcpStream::connect(target).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!("proxy connect {target}: {e}");
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let _ = copy_bidirectional(&mut client, &mut upstream).await;
}

async fn udp_loop(sock: Arc<UdpSocket>, target: SocketAddrV4) {
    let flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>> = Arc::default();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            got = sock.recv_from(&mut buf) => {
                let Ok((n, client)) = got else { continue };
                let existing = flows.lock().await.get(&client).cloned();
                let upstream = match existing {
                    Some(u) => u,
                    None => {
                        let Ok(u) = UdpSocket::bind("0.0.0.0:0").await else { continue };
                        if u.connect(target).await.is_err() {
                            continue;
                        }
                        let u = Arc::new(u);
                        flows.lock().await.insert(client, u.clone());
                        tasks.spawn(udp_back(sock.clone(), u.clone(), client, flows.clone()));
                        u
                    }
                };
                let _ = upstream.send(&buf[..n]).await;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// Relays a flow's answers back to its client until it is idle.
async fn udp_back(sock: Arc<UdpSocket>, upstream: Arc<UdpSocket>, client: SocketAddr, flows: Arc<Mutex<HashMap<SocketAddr, Arc<UdpSocket>>>>) {
    let mut buf = vec![0u8; 65535];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, upstream.recv(&mut buf)).await {
        let _ = sock.send_to(&buf[..n], client).await;
    }
    flows.lock().await.remove(&client);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn mapping(proto: Proto, port: u16) -> PortMapping {
        PortMapping { proto, container_port: 1, host_ip: Ipv4Addr::LOCALHOST, host_port: port }
    }

    #[tokio::test]
    async fn tcp_relays_both_ways_and_stops_on_drop() {
        let backend = TcpListener::bind("127.0.0.1:0").await.expect("backend");
        let target = match backend.local_addr().expect("addr") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        tokio::spawn(async move {
            while let Ok((mut s, _)) = backend.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 5];
                    if s.read_exact(&mut b).await.is_ok() {
                        let _ = s.write_all(&b.to_ascii_uppercase()).await;
                    }
                });
            }
        });
        let (bound, port) = bind(Proto::Tcp, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).expect("bind");
        assert!(bind(Proto::Tcp, SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_err(), "the port is reserved");
        let h = start(&Handle::current(), bound, target, mapping(Proto::Tcp, port)).expect("start");
        let mut c = TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        c.write_all(b"hello").await.expect("write");
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"HELLO");
        drop(h);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "listener closed with the handle");
    }

    #[tokio::test]
    async fn udp_relays_answers_to_the_sender() {
        let backend = UdpSocket::bind("127.0.0.1:0").await.expect("backend");
        let target = match backend.local_addr().expect("addr") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        tokio::spawn(async move {
            let mut b = [0u8; 64];
            while let Ok((n, from)) = backend.recv_from(&mut b).await {
                let _ = backend.send_to(&b[..n].to_ascii_uppercase(), from).await;
            }
        });
        let (bound, port) = bind(Proto::Udp, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let _h = start(&Handle::current(), bound, target, mapping(Proto::Udp, port)).expect("start");
        let c = UdpSocket::bind("127.0.0.1:0").await.expect("client");
        c.send_to(b"ping", ("127.0.0.1", port)).await.expect("send");
        let mut b = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut b)).await.expect("answer in time").expect("recv");
        assert_eq!(&b[..n], b"PING");
    }
}
