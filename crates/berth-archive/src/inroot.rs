//! Path operations on a container root filesystem that can never leave it, for the engine's
//! own reads and writes there (user lookup in `/etc/passwd`, creating the working directory,
//! `docker cp`). A symlink inside the container (`/etc/passwd -> /host/secret`) resolves as if
//! the container's root were `/`.

use std::fs::File;
use std::io;
use std::path::Path;

use nix::fcntl::OFlag;

use crate::resolve::{RelPath, Root};

fn rel(path: &str) -> io::Result<RelPath> {
    RelPath::normalize(path.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("path {path:?} leaves the root")))
}

/// Opens `path` (resolved inside `root`) for reading.
pub fn open_in_root(root: &Path, path: &str) -> io::Result<File> {
    let r = Root::open(root)?;
    let fd = r.open_in_root(rel(path)?.as_bytes(), OFlag::O_RDONLY | OFlag::O_CLOEXEC)?;
    Ok(File::from(fd))
}

/// Creates directory `path` and its missing parents inside `root` (mode 0755), following
/// existing symlinks only within the root.
pub fn mkdir_all_in_root(root: &Path, path: &str) -> io::Result<()> {
    let mut r = Root::open(root)?;
    let p = rel(path)?;
    if p.is_root() {
        return Ok(());
    }
    r.dir(p.as_bytes(), true).map(|_| ())
}
