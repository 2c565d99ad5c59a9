//! The test base image: Debian's busybox-static plus its applet links, as a rootfs tar that
//! berth itself imports.

use std::path::Path;
use std::sync::OnceLock;

/// Where Debian's busybox-static installs the binary.
pub const BUSYBOX: &str = "/bin/busybox";

fn applets() -> Vec<String> {
    let out = std::process::Command::new(BUSYBOX).arg("--list").output().expect("busybox-static must be installed");
    String::from_utf8_lossy(&out.stdout).lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty() && l != "busybox").collect()
}

/// A rootfs tar with busybox, its applets in /bin, /etc/passwd and /etc/group.
pub fn busybox_rootfs_tar() -> Vec<u8> {
    static TAR: OnceLock<Vec<u8>> = OnceLock::new();
    TAR.get_or_init(|| {
        assert!(Path::new(BUSYBOX).exists(), "{BUSYBOX} missing: apt-get install busybox-static");
        let mut b = tar::Builder::new(Vec::new());
        let dir = |b: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(mode);
            h.set_size(0);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, std::io::empty()).unwrap();
        };
        for d in ["bin", "etc", "root", "var", "var/www", "usr", "usr/bin", "proc", "sys", "dev", "home"] {
            dir(&mut b, d, 0o755);
        }
        dir(&mut b, "tmp", 0o1777);
        let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8], mode: u32| {
            let mut h = tar::Header::new_gnu();
            h.set_mode(mode);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, data).unwrap();
        };
        file(&mut b, "bin/busybox", &std::fs::read(BUSYBOX).unwrap(), 0o755);
        file(
            &mut b,
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www-data:/var/www:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            0o644,
        );
        file(&mut b, "etc/group", b"root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n", 0o644);
        for a in applets() {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            h.set_mode(0o777);
            h.set_mtime(1_700_000_000);
            b.append_link(&mut h, format!("bin/{a}"), "busybox").unwrap();
        }
        b.into_inner().unwrap()
    })
    .clone()
}
