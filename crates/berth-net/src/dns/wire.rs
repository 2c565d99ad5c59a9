//! The little of the DNS wire format (RFC 1035) the embedded server needs: read the question
//! of a query, write an answer with A or PTR records, or an empty answer with a response code.
//! Input comes from containers, so parsing is bounded and never panics.

use std::net::Ipv4Addr;

/// Record type A.
pub const TYPE_A: u16 = 1;
/// Record type PTR.
pub const TYPE_PTR: u16 = 12;
/// Record type AAAA.
pub const TYPE_AAAA: u16 = 28;
/// Class IN.
pub const CLASS_IN: u16 = 1;

/// Response codes we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
}

/// Why a packet is not a query we can answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("packet too short")]
    Short,
    #[error("not a standard query")]
    NotQuery,
    #[error("bad name in question")]
    BadName,
}

/// The parts of a query an answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub id: u16,
    /// Recursion desired (echoed back).
    pub rd: bool,
    /// Lower-case, without the trailing dot.
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
    /// The raw question section, echoed back verbatim.
    question: Vec<u8>,
}

/// Reads the header and the single question of a query.
pub fn parse_query(p: &[u8]) -> Result<Query, WireError> {
    if p.len() < 12 {
        return Err(WireError::Short);
    }
    let id = u16::from_be_bytes([p[0], p[1]]);
    let flags = u16::from_be_bytes([p[2], p[3]]);
    let qdcount = u16::from_be_bytes([p[4], p[5]]);
    // QR must be 0 (a query) and OPCODE 0 (QUERY); exactly one question.
    if flags & 0x8000 != 0 || (flags >> 11) & 0xf != 0 || qdcount != 1 {
        return Err(WireError::NotQuery);
    }
    let mut pos = 12;
    let mut labels: Vec<String> = Vec::new();
    let mut total = 0usize;
    loop {
        let len = *p.get(pos).ok_or(WireError::Short)? as usize;
        pos += 1;
        if len == 0 {
            break;
        }
        // Compression pointers and extended label types have no place in a question.
        if len & 0xc0 != 0 {
            return Err(WireError::BadName);
        }
        let label = p.get(pos..pos + len).ok_or(WireError::Short)?;
        total += len + 1;
        if total > 255 {
            return Err(WireError::BadName);
        }
        labels.push(String::from_utf8_lossy(label).to_ascii_lowercase());
        pos += len;
    }
    let tail = p.get(pos..pos + 4).ok_or(WireError::Short)?;
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    let qclass = u16::from_be_bytes([tail[2], tail[3]]);
    let question = p[12..pos + 4].to_vec();
    Ok(Query { id, rd: flags & 0x0100 != 0, name: labels.join("."), qtype, qclass, question })
}

/// The header and question of an answer to `q`, with `ancount` answers to follow.
fn header(q: &Query, rcode: Rcode, ancount: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&q.id.to_be_bytes());
    // QR=1, AA=1, RD echoed, RA=1.
    let flags: u16 = 0x8000 | 0x0400 | if q.rd { 0x0100 } else { 0 } | 0x0080 | rcode as u16;
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&ancount.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&q.question);
    out
}

/// An answer carrying no records (NODATA with `NoError`, or an error code).
pub fn empty_answer(q: &Query, rcode: Rcode) -> Vec<u8> {
    header(q, rcode, 0)
}

/// An error answer to a packet we could not parse (id echoed if there is one).
pub fn error_for_packet(p: &[u8], rcode: Rcode) -> Option<Vec<u8>> {
    if p.len() < 2 {
        return None;
    }
    let mut out = vec![p[0], p[1]];
    out.extend_from_slice(&(0x8000u16 | rcode as u16).to_be_bytes());
    out.extend_from_slice(&[0; 8]);
    Some(out)
}

fn record_prefix(out: &mut Vec<u8>, rtype: u16, ttl: u32) {
    // The owner name is the question's (a pointer to offset 12).
    out.extend_from_slice(&[0xc0, 0x0c]);
    out.extend_from_slice(&rtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&ttl.to_be_bytes());
}

/// An answer with one A record per address.
pub fn a_answer(q: &Query, ips: &[Ipv4Addr], ttl: u32) -> Vec<u8> {
    let mut out = header(q, Rcode::NoError, ips.len() as u16);
    for ip in ips {
        record_prefix(&mut out, TYPE_A, ttl);
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    out
}

/// An answer with one PTR record pointing at `name`.
pub fn ptr_answer(q: &Query, name: &str, ttl: u32) -> Vec<u8> {
    let mut out = header(q, Rcode::NoError, 1);
    record_prefix(&mut out, TYPE_PTR, ttl);
    let mut rdata = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        let bytes = &label.as_bytes()[..label.len().min(63)];
        rdata.push(bytes.len() as u8);
        rdata.extend_from_slice(bytes);
    }
    rdata.push(0);
    out.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    out.extend_from_slice(&rdata);
    out
}

/// The address a `d.c.b.a.in-addr.arpa` name asks about.
pub fn ptr_target(name: &str) -> Option<Ipv4Addr> {
    let rest = name.strip_suffix(".in-addr.arpa")?;
    let parts: Vec<u8> = rest.split('.').map(|p| p.parse::<u8>()).collect::<Result<_, _>>().ok()?;
    match parts.as_slice() {
        [d, c, b, a] => Some(Ipv4Addr::new(*a, *b, *c, *d)),
        _ => None,
    }
}

/// Builds a query (tests and the forwarder's checks).
pub fn build_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&0x0100u16.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len().min(63) as u8);
        out.extend_from_slice(&label.as_bytes()[..label.len().min(63)]);
    }
    out.push(0);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out
}

/// The A records of an answer (tests).
pub fn answer_ips(p: &[u8]) -> Option<(Rcode, Vec<Ipv4Addr>)> {
    let rcode = match p.get(3)? & 0xf {
        0 => Rcode::NoError,
        1 => Rcode::FormErr,
        2 => Rcode::ServFail,
        3 => Rcode::NxDomain,
        _ => Rcode::NotImp,
    };
    let ancount = u16::from_be_bytes([*p.get(6)?, *p.get(7)?]);
    let mut pos = 12;
    while *p.get(pos)? != 0 {
        pos += *p.get(pos)? as usize + 1;
    }
    pos += 5;
    let mut ips = Vec::new();
    for _ in 0..ancount {
        let rtype = u16::from_be_bytes([*p.get(pos + 2)?, *p.get(pos + 3)?]);
        let rdlen = u16::from_be_bytes([*p.get(pos + 10)?, *p.get(pos + 11)?]) as usize;
        let rdata = p.get(pos + 12..pos + 12 + rdlen)?;
        if rtype == TYPE_A && rdlen == 4 {
            ips.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        pos += 12 + rdlen;
    }
    Some((rcode, ips))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip() {
        let q = parse_query(&build_query(0x1234, "Web.Example", TYPE_A)).expect("parse");
        assert_eq!((q.id, q.name.as_str(), q.qtype, q.qclass, q.rd), (0x1234, "web.example", TYPE_A, CLASS_IN, true));
        let ans = a_answer(&q, &[Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)], 600);
        assert_eq!(answer_ips(&ans), Some((Rcode::NoError, vec![Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3)])));
        let nx = empty_answer(&q, Rcode::NxDomain);
        assert_eq!(answer_ips(&nx), Some((Rcode::NxDomain, vec![])));
        let ptr = ptr_answer(&q, "c1.", 600);
        assert_eq!(ptr[7], 1);
        assert_eq!(ptr_target("2.0.17.172.in-addr.arpa"), Some(Ipv4Addr::new(172, 17, 0, 2)));
        assert_eq!(ptr_target("x.0.17.172.in-addr.arpa"), None);
    }

    #[test]
    fn hostile_packets_are_refused_without_panicking() {
        assert_eq!(parse_query(&[0; 5]), Err(WireError::Short));
        let mut p = build_query(1, "a", TYPE_A);
        p[2] |= 0x80;
        assert_eq!(parse_query(&p), Err(WireError::NotQuery));
        let mut p = build_query(1, "a", TYPE_A);
        p[12] = 0xc0;
        assert_eq!(parse_query(&p), Err(WireError::BadName));
        let mut p = build_query(1, "abc", TYPE_A);
        p[12] = 60;
        assert_eq!(parse_query(&p), Err(WireError::Short));
        let long = vec!["a".repeat(60); 6].join(".");
        assert_eq!(parse_query(&build_query(1, &long, TYPE_A)), Err(WireError::BadName));
        for n in 0..40 {
            let p = build_query(7, "some.name", TYPE_A);
            let _ = parse_query(&p[..n.min(p.len())]);
        }
        assert!(error_for_packet(&[1], Rcode::FormErr).is_none());
        assert_eq!(error_for_packet(&[1, 2, 3], Rcode::FormErr).map(|v| v.len()), Some(12));
    }
}
