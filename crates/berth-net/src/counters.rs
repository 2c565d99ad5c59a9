//! Traffic counters of a container's interfaces, for `docker stats`' NET I/O.
//!
//! A veth pair's two ends count the same frames from opposite sides, so the host end's
//! counters, read from sysfs, give the container's figures with receive and transmit
//! swapped: no need to enter the container's namespace. (Errors and drops are the host end's,
//! swapped the same way; a frame the container end itself dropped is not seen here.)

use std::io;
use std::path::Path;

/// Where the kernel publishes interface counters.
pub const SYSFS_NET: &str = "/sys/class/net";

/// One interface's counters as the container sees them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IfCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
}

/// The container-side counters of the veth whose host end is `host_veth`, read under `sysfs`
/// (normally [`SYSFS_NET`]).
pub fn container_side(sysfs: &Path, host_veth: &str) -> io::Result<IfCounters> {
    if host_veth.is_empty() || host_veth.contains('/') || host_veth.starts_with('.') {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("invalid interface name {host_veth:?}")));
    }
    let dir = sysfs.join(host_veth).join("statistics");
    let read = |name: &str| -> io::Result<u64> {
        let text = std::fs::read_to_string(dir.join(name))?;
        text.trim().parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{name}: {e}")))
    };
    Ok(IfCounters {
        rx_bytes: read("tx_bytes")?,
        rx_packets: read("tx_packets")?,
        rx_errors: read("tx_errors")?,
        rx_dropped: read("tx_dropped")?,
        tx_bytes: read("rx_bytes")?,
        tx_packets: read("rx_packets")?,
        tx_errors: read("rx_errors")?,
        tx_dropped: read("rx_dropped")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_side_counters_are_swapped() {
        let dir = tempfile::tempdir().expect("tmp");
        let stats = dir.path().join("bv1/statistics");
        std::fs::create_dir_all(&stats).expect("mkdir");
        for (i, name) in ["rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors", "tx_dropped"].iter().enumerate() {
            std::fs::write(stats.join(name), format!("{}\n", i + 1)).expect("write");
        }
        let c = container_side(dir.path(), "bv1").expect("read");
        assert_eq!(c, IfCounters { rx_bytes: 5, rx_packets: 6, rx_errors: 7, rx_dropped: 8, tx_bytes: 1, tx_packets: 2, tx_errors: 3, tx_dropped: 4 });
        assert!(container_side(dir.path(), "gone").is_err());
        assert!(container_side(dir.path(), "../bv1").is_err());
        std::fs::write(stats.join("rx_bytes"), "x\n").expect("write");
        assert_eq!(container_side(dir.path(), "bv1").map_err(|e| e.kind()), Err(io::ErrorKind::InvalidData));
    }

    #[test]
    fn loopback_counters_are_readable() {
        // Every Linux host has lo with these files; the values are whatever they are.
        assert!(container_side(Path::new(SYSFS_NET), "lo").is_ok());
    }
}
