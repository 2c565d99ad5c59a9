//! The real kernel and the real `nft`, as root: a tagged bridge, a veth pair into a fresh
//! namespace with its address and route, rollback leaving nothing, and rendered rulesets that
//! `nft` accepts (checked with `nft -c`, which changes nothing). Everything is named after this
//! process and removed at the end.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use berth_net::bridge::{self, BridgeSpec, Ensured};
use berth_net::endpoint::{self, VethSpec};
use berth_net::firewall::{render, BridgeRules, DnatRule, Ruleset};
use berth_net::ipnet::Ipv4Net;
use berth_net::naming::Tag;
use berth_net::netlink::{KernelNetlink, NetlinkOpener};
use berth_net::ports::Proto;

fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "these tests need root (CAP_NET_ADMIN): run them as root");
}

/// A /24 in 10.250.0.0/16 that nothing on the host routes.
fn free_subnet() -> Ipv4Net {
    let mut nl = KernelNetlink.host().unwrap();
    let mut taken = nl.routes().unwrap();
    taken.extend(nl.addresses().unwrap().iter().filter_map(|a| Ipv4Net::new(a.ip, a.prefix)));
    (0..=255u8)
        .map(|i| Ipv4Net::new(Ipv4Addr::new(10, 250, (std::process::id() as u8).wrapping_add(i), 0), 24).unwrap())
        .find(|n| !taken.iter().any(|t| t.overlaps(n)))
        .expect("a free /24 in 10.250.0.0/16")
}

#[test]
fn bridge_and_veth_on_the_real_kernel() {
    require_root();
    let id = format!("{:x}", std::process::id() & 0xffff);
    let name = format!("bnt{id}");
    let tag = Tag::new(&name);
    let subnet = free_subnet();
    let gateway = subnet.nth(1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let netns = dir.path().join("ns");
    berth_net::netns::create(&netns).unwrap();
    let spec = BridgeSpec { name: name.clone(), alias: tag.prefix(), gateway, subnet };
    let result = std::panic::catch_unwind(|| {
        let mut host = KernelNetlink.host().unwrap();
        assert_eq!(bridge::ensure(host.as_mut(), &spec, &tag).unwrap(), Ensured::Created);
        assert_eq!(bridge::ensure(host.as_mut(), &spec, &tag).unwrap(), Ensured::Existing);
        let link = host.link(&name).unwrap().unwrap();
        assert_eq!(link.kind.as_deref(), Some("bridge"));
        assert!(tag.owns(link.alias.as_deref()));
        // The by-name lookup answers what a full dump says, and nothing for a missing name.
        assert_eq!(Some(&link), host.links().unwrap().iter().find(|l| l.name == name));
        assert_eq!(host.link(&format!("{name}x")).unwrap(), None);
        assert!(host.addresses().unwrap().iter().any(|a| a.index == link.index && a.ip == gateway));

        let veth = VethSpec {
            host_name: format!("bvt{id}"),
            alias: tag.veth_alias("c", "n"),
            bridge: name.clone(),
            netns: netns.clone(),
            ifname: "eth0".into(),
            mac: [2, 0x42, 10, 250, 0, 2],
            ip: subnet.nth(2).unwrap(),
            prefix: 24,
            default_route: Some(gateway),
        };
        endpoint::attach(&KernelNetlink, &veth).unwrap();
        let outer = host.link(&veth.host_name).unwrap().unwrap();
        assert_eq!(outer.master, Some(link.index));
        let mut inner = KernelNetlink.netns(&netns).unwrap();
        let eth0 = inner.link("eth0").unwrap().unwrap();
        assert!(eth0.up);
        assert!(inner.addresses().unwrap().iter().any(|a| a.index == eth0.index && a.ip == veth.ip));
        // The same pair again fails (the name is taken) and must not disturb the first.
        assert!(endpoint::attach(&KernelNetlink, &veth).is_err());
        assert!(host.link(&veth.host_name).unwrap().is_some());
        assert!(endpoint::detach(host.as_mut(), &veth.host_name).unwrap());
        assert!(inner.link("eth0").unwrap().is_none(), "the peer goes with the host side");
        // A failure inside the namespace (no such gateway route possible) rolls the pair back.
        let bad = VethSpec { default_route: Some(Ipv4Addr::new(203, 0, 113, 1)), ..veth.clone() };
        assert!(endpoint::attach(&KernelNetlink, &bad).is_err());
        assert!(host.link(&veth.host_name).unwrap().is_none(), "rolled back");
    });
    let mut host = KernelNetlink.host().unwrap();
    let removed = bridge::remove(host.as_mut(), &name, &tag);
    berth_net::netns::remove(&netns);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
    assert!(removed.unwrap());
    assert!(host.link(&name).unwrap().is_none());
}

#[test]
fn rendered_rulesets_are_accepted_by_nft() {
    require_root();
    let rs = Ruleset {
        bridges: vec![
            BridgeRules {
                bridge: "bnt0".into(),
                subnet: "10.251.0.0/16".parse().unwrap(),
                internal: false,
                masquerade: true,
                icc: true,
                ports: vec!["bvnt1".into()],
            },
            BridgeRules {
                bridge: "berth-0a1b2c3d4".into(),
                subnet: "10.252.0.0/16".parse().unwrap(),
                internal: true,
                masquerade: true,
                icc: false,
                ports: vec!["bvnt2".into(), "bvnt3".into()],
            },
        ],
        dnat: vec![
            DnatRule { proto: Proto::Tcp, host_ip: Ipv4Addr::UNSPECIFIED, host_port: 18080, container_ip: Ipv4Addr::new(10, 251, 0, 2), container_port: 8080 },
            DnatRule {
                proto: Proto::Udp,
                host_ip: Ipv4Addr::new(192, 0, 2, 7),
                host_port: 5353,
                container_ip: Ipv4Addr::new(10, 251, 0, 3),
                container_port: 53,
            },
        ],
    };
    for rs in [rs, Ruleset::default()] {
        let script = render("berth-bntcheck", &rs).unwrap();
        let mut child =
            Command::new("nft").args(["-c", "-f", "-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("nft (Debian package nftables)");
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), script.as_bytes()).unwrap();
        drop(child.stdin.take());
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "nft -c refused:\n{script}\n{}", String::from_utf8_lossy(&out.stderr));
    }
}
