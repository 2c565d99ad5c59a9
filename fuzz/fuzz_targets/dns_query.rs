//! Feeds arbitrary packets to the embedded DNS server's parser and answer logic, as a
//! container on a user-defined network can.

#![no_main]

use std::net::Ipv4Addr;

use berth_net::dns::{decide, wire, Records};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut r = Records { network: "net".into(), ..Default::default() };
    r.add("web", Ipv4Addr::new(10, 0, 0, 2));
    if let Ok(q) = wire::parse_query(data) {
        let _ = decide(&r, &q, Ipv4Addr::new(10, 0, 0, 3));
    } else {
        let _ = wire::error_for_packet(data, wire::Rcode::FormErr);
    }
});
