//! The manager against a recording kernel and `nft` (no root): what a start, a failed start,
//! a stop and network create/remove would do to the host, and that failures leave nothing.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use berth_api::types::{EndpointSettings, Ipam, IpamConfig, NetworkCreateRequest};
use berth_image::meta::MetaDb;
use berth_net::firewall::RecordingNft;
use berth_net::netlink::fake::FakeNetlink;
use berth_net::ports::{PortRequest, Proto};

use super::attach::PlugRequest;
use super::{HostOps, NetworkManager};
use crate::config::DaemonConfig;
use crate::error::EngineError;

struct Rig {
    mgr: NetworkManager,
    fake: FakeNetlink,
    nft: Arc<RecordingNft>,
    _dir: tempfile::TempDir,
}

fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let config = DaemonConfig { bridge: "bt0".into(), bip: Some("10.77.0.1/16".into()), data_root: dir.path().into(), ..Default::default() };
    let meta = Arc::new(MetaDb::open(&dir.path().join("berth.db")).unwrap());
    let fake = FakeNetlink::new();
    let nft = Arc::new(RecordingNft::default());
    let ops = HostOps { netlink: Arc::new(fake.clone()), nft: nft.clone(), lock_path: dir.path().join("lock"), dns_port: 0 };
    let mgr = NetworkManager::open(&config, meta, ops, tokio::runtime::Handle::current()).unwrap();
    Rig { mgr, fake, nft, _dir: dir }
}

impl Rig {
    fn last_script(&self) -> String {
        self.nft.scripts.lock().unwrap().last().cloned().unwrap_or_default()
    }

    fn plug(&self, id: &str, port: u16) -> Result<Vec<super::records::EndpointRecord>, EngineError> {
        self.plug_on(id, Ipv4Addr::LOCALHOST, port)
    }

    /// Publishes on `host_ip`: any address but loopback needs a DNAT rule, so the firewall
    /// changes (loopback ports are served by the proxy alone).
    fn plug_on(&self, id: &str, host_ip: Ipv4Addr, port: u16) -> Result<Vec<super::records::EndpointRecord>, EngineError> {
        let bridge = self.mgr.lock().find("bridge").unwrap().clone();
        let netns = Path::new("/run/test/netns").join(id);
        let req = PlugRequest {
            container_id: id,
            container_name: "web",
            netns: &netns,
            networks: vec![(bridge, EndpointSettings::default())],
            ports: vec![PortRequest { proto: Proto::Tcp, container_port: 80, host_ip, host_ports: (port, port) }],
            links: Vec::new(),
            dns_servers: Vec::new(),
        };
        self.mgr.plug(&req)
    }

    fn veths(&self) -> Vec<String> {
        self.fake.names("host").into_iter().filter(|n| n.starts_with("bv")).collect()
    }
}

#[tokio::test]
async fn open_sets_up_the_default_bridge_and_its_table() {
    let r = rig();
    assert!(r.fake.names("host").contains(&"bt0".to_string()));
    assert!(r.fake.log().contains(&"host: add_address 2 10.77.0.1/16".to_string()), "{:?}", r.fake.log());
    let script = r.last_script();
    assert!(script.contains("table ip berth-bt0 {") && script.contains("ip saddr 10.77.0.0/16 oifname != \"bt0\" masquerade"), "{script}");
    let names: Vec<String> = r.mgr.lock().networks.values().map(|n| n.name.clone()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

#[tokio::test]
async fn plug_and_unplug_a_container() {
    let r = rig();
    let eps = r.plug("c1", 0).unwrap();
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].ip, Ipv4Addr::new(10, 77, 0, 2));
    assert_eq!(eps[0].ifname, "eth0");
    assert!(eps[0].gateway);
    let port = eps[0].ports[0].host_port;
    assert!(port > 0);
    assert_eq!(r.veths().len(), 1);
    // The bound port is held by the proxy.
    assert!(std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_err());
    // A second container gets the next address, never the first one's.
    assert_eq!(r.plug("c2", 0).unwrap()[0].ip, Ipv4Addr::new(10, 77, 0, 3));
    r.mgr.unplug("c1");
    r.mgr.unplug("c2");
    assert!(r.veths().is_empty());
    assert!(r.mgr.lock().endpoints.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).is_ok(), "proxy stopped");
    // The cursor moved on: the next container does not reuse .2 at once.
    assert_eq!(r.plug("c3", 0).unwrap()[0].ip, Ipv4Addr::new(10, 77, 0, 4));
}

#[tokio::test]
async fn failures_leave_nothing_behind() {
    let r = rig();
    // The firewall refuses: the veth, the lease and the port are all given back.
    r.nft.fail_next.store(true, std::sync::atomic::Ordering::SeqCst);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().port();
    drop(holder);
    assert!(r.plug_on("c1", Ipv4Addr::UNSPECIFIED, taken).is_err());
    assert!(r.veths().is_empty());
    assert!(r.mgr.lock().endpoints.is_empty());
    assert!(std::net::TcpListener::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, taken)).is_ok());
    // A port in use is refused before anything is created.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = holder.local_addr().unwrap().port();
    let before = r.fake.log().len();
    let err = r.plug("c2", busy).unwrap_err();
    assert!(matches!(err, EngineError::Conflict(ref m) if m.contains("port is already allocated")), "{err}");
    assert_eq!(r.fake.log().len(), before, "no netlink call was made");
    // The kernel refusing the veth rolls back too.
    r.fake.fail_on("set_master");
    assert!(r.plug("c3", 0).is_err());
    assert!(r.veths().is_empty());
}

#[tokio::test]
async fn networks_are_created_without_overlap_and_removed() {
    let r = rig();
    let req = |name: &str, subnet: &str| NetworkCreateRequest {
        name: name.into(),
        ipam: Some(Ipam { config: vec![IpamConfig { subnet: subnet.into(), ..Default::default() }], ..Default::default() }),
        ..Default::default()
    };
    let before = r.fake.log().len();
    assert!(matches!(r.mgr.create(req("clash", "10.77.5.0/24")), Err(EngineError::Forbidden(_))));
    assert_eq!(r.fake.log().len(), before, "an overlapping subnet changes nothing");
    let n = r.mgr.create(req("", "")).unwrap_err();
    assert!(matches!(n, EngineError::Invalid(_)));
    let auto = r.mgr.create(NetworkCreateRequest { name: "auto".into(), ..Default::default() }).unwrap();
    assert_eq!(auto.pool.as_ref().unwrap().subnet.to_string(), "172.17.0.0/16");
    assert!(r.fake.names("host").contains(&auto.bridge));
    assert!(r.last_script().contains(&format!("iifname \"bt0\" oifname {{ \"{}\" }} drop", auto.bridge)), "{}", r.last_script());
    assert!(matches!(r.mgr.create(NetworkCreateRequest { name: "auto".into(), ..Default::default() }), Err(EngineError::Conflict(_))));
    assert!(matches!(r.mgr.remove("bridge"), Err(EngineError::Forbidden(_))));
    r.mgr.remove("auto").unwrap();
    assert!(!r.fake.names("host").contains(&auto.bridge));
    assert!(matches!(r.mgr.remove("auto"), Err(EngineError::NotFound(_))));
}

#[tokio::test]
async fn teardown_runs_every_step_and_reports_every_failure() {
    let r = rig();
    let extra = r.mgr.create(NetworkCreateRequest { name: "extra".into(), ..Default::default() }).unwrap();
    let bridge = r.mgr.lock().find("bridge").unwrap().clone();
    let netns = Path::new("/run/test/netns/c1");
    let req = PlugRequest {
        container_id: "c1",
        container_name: "web",
        netns,
        networks: vec![(bridge, EndpointSettings::default()), (extra, EndpointSettings::default())],
        // A DNAT rule, so that removing the endpoint changes the firewall.
        ports: vec![PortRequest { proto: Proto::Tcp, container_port: 80, host_ip: Ipv4Addr::UNSPECIFIED, host_ports: (0, 0) }],
        links: Vec::new(),
        dns_servers: Vec::new(),
    };
    assert_eq!(r.mgr.plug(&req).unwrap().len(), 2);
    assert_eq!(r.veths().len(), 2);
    // The firewall refuses and the first veth cannot be deleted: both are reported, and the
    // second veth, the state and the records still go.
    r.nft.fail_next.store(true, std::sync::atomic::Ordering::SeqCst);
    r.fake.fail_on("delete_link");
    let errors = r.mgr.unplug("c1");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("firewall")) && errors.iter().any(|e| e.contains("delete veth")), "{errors:?}");
    assert_eq!(r.veths().len(), 1, "only the veth whose deletion failed is left");
    assert!(r.mgr.lock().endpoints.is_empty());
    assert!(r.mgr.meta.list::<super::records::EndpointRecord>(super::records::ENDPOINTS).unwrap().is_empty());
    // Nothing is left to report the second time.
    assert!(r.mgr.unplug("c1").is_empty());
}

#[tokio::test]
async fn an_unchanged_ruleset_is_not_applied_again() {
    let r = rig();
    let applied = || r.nft.scripts.lock().unwrap().len();
    let before = applied();
    r.plug("c1", 0).unwrap();
    r.mgr.unplug("c1");
    assert_eq!(applied(), before, "loopback-only ports need no firewall change");
    r.plug_on("c2", Ipv4Addr::UNSPECIFIED, 0).unwrap();
    assert_eq!(applied(), before + 1, "a DNAT rule is a change");
    r.mgr.unplug("c2");
    assert_eq!(applied(), before + 2);
    // A failed apply is forgotten: the same ruleset is tried again next time.
    r.nft.fail_next.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(r.plug_on("c3", Ipv4Addr::UNSPECIFIED, 0).is_err());
    r.plug_on("c3", Ipv4Addr::UNSPECIFIED, 0).unwrap();
    assert!(r.last_script().contains("dnat"), "{}", r.last_script());
}
