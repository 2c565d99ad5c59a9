//! Helpers shared by the integration tests: raw tar building (names with
//! `..` that `tar::Header::set_path` refuses), a sandbox with a sentinel
//! outside the root, tree snapshots, xattrs and an overlay mount guard.
//!
//! These tests need root (device nodes, chown, trusted.* xattrs, overlayfs).
//! They fail loudly when not root instead of passing silently.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

/// Fails the test unless we are root.
pub fn require_root() {
    assert!(nix::unistd::geteuid().is_root(), "berth-archive integration tests must run as root");
}

/// A unique token for names that must never appear outside the sandbox.
pub fn token() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("evil-{}-{nanos}", std::process::id())
}

/// Fixed mtime used for every entry built here.
pub const MTIME: u64 = 1_600_000_000;

/// An in-memory tar built header by header.
#[derive(Default)]
pub struct TarBuf {
    buf: Vec<u8>,
}

impl TarBuf {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one entry whose name and link bytes go straight into the
    /// header fields (each at most 100 bytes), without any validation.
    pub fn raw(&mut self, kind: EntryType, name: &[u8], link: &[u8], mode: u32, data: &[u8]) -> &mut Self {
        let mut h = Header::new_ustar();
        {
            let old = h.as_old_mut();
            old.name[..name.len()].copy_from_slice(name);
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(data.len() as u64);
        h.set_entry_type(kind);
        self.push(h, data)
    }

    /// Appends a header as is (checksum recomputed) and its data.
    pub fn push(&mut self, mut h: Header, data: &[u8]) -> &mut Self {
        h.set_cksum();
        self.buf.extend_from_slice(h.as_bytes());
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    pub fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.raw(EntryType::Regular, name.as_bytes(), b"", 0o644, data)
    }

    pub fn file_mode(&mut self, name: &str, mode: u32, data: &[u8]) -> &mut Self {
        self.raw(EntryType::Regular, name.as_bytes(), b"", mode, data)
    }

    pub fn dir(&mut self, name: &str) -> &mut Self {
        self.raw(EntryType::Directory, name.as_bytes(), b"", 0o755, b"")
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Symlink, name.as_bytes(), target.as_bytes(), 0o777, b"")
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.raw(EntryType::Link, name.as_bytes(), target.as_bytes(), 0o644, b"")
    }

    pub fn whiteout(&mut self, name: &str) -> &mut Self {
        self.file(name, b"")
    }

    pub fn device(&mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut h = Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_mode(0o666);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(MTIME);
        h.set_size(0);
        h.set_entry_type(kind);
        if let Some(u) = h.as_ustar_mut() {
            u.set_device_major(major);
            u.set_device_minor(minor);
        }
        self.push(h, b"")
    }

    /// A PAX `x` header describing the next entry.
    pub fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut body = Vec::new();
        for (k, v) in records {
            let rest = k.len() + v.len() + 3;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let mut h = Header::new_ustar();
        h.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
        h.set_size(body.len() as u64);
        h.set_entry_type(EntryType::XHeader);
        self.push(h, &body)
    }

    /// A GNU long-name `L` entry naming the next entry.
    pub fn gnu_longname(&mut self, name: &[u8]) -> &mut Self {
        let mut h = Header::new_gnu();
        h.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        let mut data = name.to_vec();
        data.push(0);
        h.set_size(data.len() as u64);
        h.set_entry_type(EntryType::GNULongName);
        self.push(h, &data)
    }

    /// The archive with its two end-of-archive blocks.
    pub fn finish(&self) -> Vec<u8> {
        let mut out = self.buf.clone();
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    /// The archive without end-of-archive blocks.
    pub fn bytes(&self) -> Vec<u8> {
        self.buf.clone()
    }
}

/// What must not change outside the root.
#[derive(Debug, PartialEq)]
struct HostState {
    passwd: (String, i64, i64),
    outside: BTreeMap<String, Node>,
    base: Vec<String>,
}

/// A temp dir holding `root` (where layers go) and `outside/sentinel`.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub outside: PathBuf,
    pub token: String,
    before: HostState,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        require_root();
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir(&root).expect("mkdir root");
        fs::create_dir(&outside).expect("mkdir outside");
        fs::write(outside.join("sentinel"), b"sentinel\n").expect("write sentinel");
        let mut sb = Sandbox { root, outside, token: token(), dir, before: HostState::empty() };
        sb.before = sb.host_state();
        sb
    }

    fn host_state(&self) -> HostState {
        let passwd = fs::read("/etc/passwd").expect("read /etc/passwd");
        let meta = fs::metadata("/etc/passwd").expect("stat /etc/passwd");
        let mut base: Vec<String> = fs::read_dir(self.dir.path())
            .expect("read base")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n != "scratch")
            .collect();
        base.sort();
        HostState { passwd: (hex(&passwd), meta.mtime(), meta.mtime_nsec()), outside: snapshot(&self.outside), base }
    }

    /// A new empty directory for a test's own use (sources, more layer
    /// dirs, mount points), kept apart from the root and the sentinel.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let p = self.dir.path().join("scratch").join(name);
        fs::create_dir_all(&p).expect("mkdir scratch");
        p
    }

    /// Asserts that nothing changed outside the root and that the token
    /// appears in none of the places an escape would write to.
    pub fn assert_host_unchanged(&self) {
        assert_eq!(self.host_state(), self.before, "something changed outside the root");
        for dir in ["/", "/tmp", "/etc", "/root"] {
            let hit = fs::read_dir(dir).into_iter().flatten().flatten().any(|e| e.file_name().to_string_lossy().contains(&self.token));
            assert!(!hit, "token {} found in {dir}", self.token);
        }
        let parent = self.dir.path().parent().expect("parent");
        let hit = fs::read_dir(parent).into_iter().flatten().flatten().any(|e| e.file_name() == "evil");
        assert!(!hit, "evil found next to the sandbox");
    }
}

impl HostState {
    fn empty() -> HostState {
        HostState { passwd: (String::new(), 0, 0), outside: BTreeMap::new(), base: Vec::new() }
    }
}

pub fn hex(data: &[u8]) -> String {
    let d = Sha256::digest(data);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// One node of a tree snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `d`, `f`, `l`, `c`, `b`, `p`, `s`.
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds; `None` when not compared.
    pub mtime: Option<i64>,
    /// File content hash or symlink target.
    pub data: String,
    pub rdev: u64,
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// The first path (sorted) sharing this inode, for hardlinks.
    pub link_group: String,
}

/// Every node under `root` (not `root` itself), never following symlinks.
pub fn snapshot(root: &Path) -> BTreeMap<String, Node> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), String> = BTreeMap::new();
    walk(root, root, &mut out, &mut inodes);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Node>, inodes: &mut BTreeMap<(u64, u64), String>) {
    let mut entries: Vec<_> = fs::read_dir(dir).expect("read_dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        let rel = path.strip_prefix(root).expect("prefix").to_string_lossy().into_owned();
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_file() {
            'f'
        } else if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else if ft.is_fifo() {
            'p'
        } else {
            's'
        };
        let data = match kind {
            'f' => hex(&fs::read(&path).expect("read")),
            'l' => fs::read_link(&path).expect("readlink").to_string_lossy().into_owned(),
            _ => String::new(),
        };
        let link_group = if kind == 'd' { rel.clone() } else { inodes.entry((meta.dev(), meta.ino())).or_insert_with(|| rel.clone()).clone() };
        out.insert(
            rel.clone(),
            Node {
                kind,
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
                mtime: Some(meta.mtime()),
                data,
                rdev: meta.rdev(),
                xattrs: xattrs(&path),
                link_group,
            },
        );
        if kind == 'd' {
            walk(root, &path, out, inodes);
        }
    }
}

/// Drops mtimes from a snapshot, for comparisons where they legitimately differ.
pub fn without_mtimes(mut s: BTreeMap<String, Node>) -> BTreeMap<String, Node> {
    for n in s.values_mut() {
        n.mtime = None;
    }
    s
}

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("path without NUL")
}

/// Sets an xattr without following a final symlink.
#[allow(unsafe_code)]
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    let (p, n) = (cpath(path), CString::new(name).expect("name"));
    // SAFETY: `p` and `n` are NUL-terminated and live across the call;
    // `value` is a live slice whose length is passed along.
    let rc = unsafe { libc::lsetxattr(p.as_ptr(), n.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
    assert_eq!(rc, 0, "lsetxattr {} {name}: {}", path.display(), std::io::Error::last_os_error());
}

/// All xattrs of `path`, not following a final symlink.
#[allow(unsafe_code)]
pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let p = cpath(path);
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: `p` is NUL-terminated; `names` is a live writable buffer of the given length.
    let n = unsafe { libc::llistxattr(p.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(n >= 0, "llistxattr {}: {}", path.display(), std::io::Error::last_os_error());
    names.truncate(n as usize);
    let mut out = BTreeMap::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("name");
        let mut value = vec![0u8; 64 * 1024];
        // SAFETY: as above.
        let len = unsafe { libc::lgetxattr(p.as_ptr(), cname.as_ptr(), value.as_mut_ptr().cast(), value.len()) };
        assert!(len >= 0, "lgetxattr {}: {}", path.display(), std::io::Error::last_os_error());
        value.truncate(len as usize);
        out.insert(String::from_utf8_lossy(name).into_owned(), value);
    }
    out
}

/// Runs `f` on a thread of its own whose mount namespace sees every mount
/// read-only except `writable` (bind-mounted over itself), the way Docker's
/// chrootarchive confines a thread with `unshare(CLONE_FS|CLONE_NEWNS)`.
///
/// Hostile tars aim at real host paths (`x -> /` then `x/etc/passwd`); if
/// the applier ever regresses, the attempt fails with `EROFS` in here
/// instead of damaging the machine the tests run on. The confinement checks
/// itself before running `f` and panics when a host path is still writable.
pub fn confined<T: Send>(writable: &Path, f: impl FnOnce() -> T + Send) -> T {
    use nix::mount::{mount, MsFlags};
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS | nix::sched::CloneFlags::CLONE_FS).expect("unshare mount namespace");
            let none: Option<&str> = None;
            mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none).expect("make / private");
            mount(Some(writable), writable, none, MsFlags::MS_BIND | MsFlags::MS_REC, none).expect("bind sandbox");
            let mountinfo = fs::read_to_string("/proc/thread-self/mountinfo").expect("mountinfo");
            let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            for mp in mountinfo.lines().filter_map(|l| l.split(' ').nth(4)) {
                let mp = Path::new(mp);
                if mp.starts_with(writable) {
                    continue;
                }
                if let Err(e) = mount(none, mp, none, ro, none) {
                    assert!(mp != Path::new("/"), "remount / read-only: {e}");
                }
            }
            let probe = writable.parent().expect("parent").join(format!(".confine-probe-{}", std::process::id()));
            if fs::write(&probe, b"").is_ok() {
                let _ = fs::remove_file(&probe);
                panic!("confinement failed: {} is writable", probe.display());
            }
            f()
        })
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e))
    })
}

/// An overlayfs mount, unmounted when dropped (even when the test fails).
pub struct OverlayMount {
    pub merged: PathBuf,
}

impl OverlayMount {
    /// Mounts `lowers` (top first) with `upper`/`work` at `merged`; read-only
    /// when `upper` is `None`.
    pub fn new(lowers: &[&Path], upper: Option<(&Path, &Path)>, merged: &Path) -> OverlayMount {
        let lower: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
        let mut data = format!("lowerdir={}", lower.join(":"));
        if let Some((u, w)) = upper {
            data.push_str(&format!(",upperdir={},workdir={}", u.display(), w.display()));
        }
        data.push_str(",index=off,redirect_dir=off,metacopy=off");
        nix::mount::mount(Some("overlay"), merged, Some("overlay"), nix::mount::MsFlags::empty(), Some(data.as_str()))
            .unwrap_or_else(|e| panic!("mount overlay {data}: {e}"));
        OverlayMount { merged: merged.to_owned() }
    }
}

impl Drop for OverlayMount {
    fn drop(&mut self) {
        if let Err(e) = nix::mount::umount2(&self.merged, nix::mount::MntFlags::MNT_DETACH) {
            eprintln!("umount {}: {e}", self.merged.display());
        }
    }
}
