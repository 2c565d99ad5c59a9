//! Hostile layer tars through `import`: nothing may be written outside the store, the daemon
//! keeps serving, and the client gets a clear error.

use std::path::Path;

use berth_e2e::{stderr, Client, Daemon};

fn header(name: &[u8], kind: tar::EntryType, size: u64, link: Option<&[u8]>) -> tar::Header {
    let mut h = tar::Header::new_old();
    {
        let raw = h.as_old_mut();
        raw.name[..name.len()].copy_from_slice(name);
        if let Some(l) = link {
            raw.linkname[..l.len()].copy_from_slice(l);
        }
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    h
}

fn tar_of(entries: &[(&[u8], tar::EntryType, &[u8], Option<&[u8]>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, kind, data, link) in entries {
        let h = header(name, *kind, data.len() as u64, *link);
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn sha(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn hostile_tars_write_nothing_outside_the_store() {
    let d = Daemon::start();
    let token = format!("berth-hostile-{}", std::process::id());
    let passwd_before = sha("/etc/passwd");
    let outside = format!("/tmp/{token}");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("dotdot", tar_of(&[(format!("../../../../tmp/{token}").as_bytes(), tar::EntryType::Regular, b"x", None)])),
        ("absolute", tar_of(&[(format!("/tmp/{token}").as_bytes(), tar::EntryType::Regular, b"x", None)])),
        (
            "symlink-to-root",
            tar_of(&[(b"escape", tar::EntryType::Symlink, b"", Some(b"/")), (format!("escape/tmp/{token}").as_bytes(), tar::EntryType::Regular, b"x", None)]),
        ),
        (
            "symlink-dotdot",
            tar_of(&[
                (b"up", tar::EntryType::Symlink, b"", Some(b"../../../../../..")),
                (format!("up/tmp/{token}").as_bytes(), tar::EntryType::Regular, b"x", None),
            ]),
        ),
        ("hardlink-passwd", tar_of(&[(b"pw", tar::EntryType::Link, b"", Some(b"/etc/passwd"))])),
        ("hardlink-dotdot", tar_of(&[(b"pw", tar::EntryType::Link, b"", Some(b"../../../../../../etc/passwd"))])),
        (
            "overwrite-through-symlink",
            tar_of(&[(b"etc", tar::EntryType::Symlink, b"", Some(b"/etc")), (b"etc/passwd", tar::EntryType::Regular, b"owned\n", None)]),
        ),
        ("garbage", vec![0x42; 4096]),
    ];
    for (name, tar) in cases {
        let path = d.dir.join(format!("{name}.tar"));
        std::fs::write(&path, &tar).unwrap();
        let out = d.docker(&["import", path.to_str().unwrap(), &format!("hostile/{name}")]);
        // Either a clear refusal or a confined import; never a write outside.
        if !out.status.success() {
            assert!(stderr(&out).contains("Error response from daemon"), "{name}: {}", stderr(&out));
        }
        assert!(!Path::new(&outside).exists(), "{name}: wrote {outside}");
        assert_eq!(sha("/etc/passwd"), passwd_before, "{name}: changed /etc/passwd");
        // The daemon still answers.
        assert_eq!(d.api("GET", "/_ping", None).status, 200, "{name}: daemon died");
    }
    // What was imported stays inside the image: the symlink case lands under the rootfs.
    d.busybox(Client::Docker, "busybox");
    let refused = d.docker(&["import", d.dir.join("hardlink-passwd.tar").to_str().unwrap()]);
    assert!(!refused.status.success(), "a hardlink to a host file must be refused");
    d.assert_no_leaks_after_cleanup();
}
