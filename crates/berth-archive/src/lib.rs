//! berth-archive: applies image layer tars onto disk and produces layer tars
//! from directories. This is the most security-sensitive code of the engine:
//! layer tars come from registries, `docker load` and builds, and must be
//! treated as hostile.
//!
//! # What it provides
//! * [`apply_layer`]: an uncompressed tar stream onto a directory, with
//!   whiteouts as overlayfs devices/xattrs ([`WhiteoutMode::Overlay`]) or as
//!   deletions in a flat tree ([`WhiteoutMode::Plain`]).
//! * [`write_tar_from_dir`]: a deterministic tar of a directory (overlay upper
//!   dirs turn back into `.wh.` entries), for `export`, `save`, `commit` and
//!   build contexts.
//! * [`apply_layer_with`]: the same, made durable by syncing only what it
//!   wrote, and/or recording a [`split`] record from which [`rebuild_tar`]
//!   gives back the exact tar stream from the unpacked tree.
//! * [`DigestReader`] / [`DigestWriter`]: sha256 and byte count while streaming.
//!
//! # Safety invariants of `apply_layer`
//! 1. **Nothing outside the root is ever created, changed, chowned or
//!    removed.** Entry names are cleaned lexically (`/a` is `a`; a relative
//!    name whose `..` climb above the root is refused, as Docker does). The
//!    parent of every entry is then resolved with
//!    `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from the root fd: the
//!    kernel treats the root as `/` for every component and every symlink on
//!    the way (`x -> /`, `x -> ../../..`, chains), which is the same result as
//!    Docker's chroot, without a chroot.
//! 2. **The final component is never followed.** It is created relative to
//!    the parent fd with `mkdirat`, `openat(O_CREAT|O_EXCL|O_NOFOLLOW)`,
//!    `symlinkat`, `linkat` (no `AT_SYMLINK_FOLLOW`), `mknodat`; metadata is
//!    set through the new fd (`fchown`, `fchmod`, `fsetxattr`, `futimens`) or
//!    with `AT_SYMLINK_NOFOLLOW` calls. An existing entry is removed first
//!    (a symlink is unlinked, never written through), except a directory
//!    under a directory entry, which is kept and updated.
//! 3. **Removals never follow symlinks** (`O_NOFOLLOW` directory fds and
//!    `unlinkat`), whether for replacing an entry or for a whiteout.
//! 4. **Hardlink targets are resolved inside the root** the same way and must
//!    be existing non-directories; a target whose `..` leave the root is refused.
//! 5. **Symlink targets are stored as they are.** Absolute and `..` targets
//!    are legitimate (they resolve against the container rootfs at run time);
//!    only our own resolution must stay inside the root, and it does by 1.
//!    Docker refuses relative targets that lexically leave the root; we
//!    accept them, as containerd does, since they cannot lead us out.
//! 6. **Overlay control xattrs (`trusted.overlay.*`, `user.overlay.*`) are
//!    never taken from a tar**, in either mode: a layer must not fake
//!    whiteouts or opaque directories that way.
//! 7. **No panic on input.** A malformed or truncated tar is an error naming
//!    the entry; parsing is done by the `tar` crate (>= 0.4.46, with the PAX
//!    size and symlink-collision fixes), never its `unpack`.
//!
//! Parent fds are cached by path and the cache is dropped whenever anything
//! is removed or replaced, so a cached fd never stands for a path that now
//! resolves elsewhere.
//!
//! # Differences from Docker
//! * Relative symlink targets that lexically leave the root are accepted
//!   (invariant 5); Docker refuses them with a breakout error.
//! * Overlay control xattrs are dropped in Plain mode too (invariant 6).
//! * AUFS `.wh..wh.plnk` files are hardlinked to, not copied (see [`whiteout`]).
//! * In Plain mode a whiteout spares what its own layer created, in any order
//!   (the image spec's rule); Docker's `UnpackLayer` does so only for opaque
//!   directories. A whiteout of a missing path creates no parent directories.
//! * Written tars use PAX records for long names where Go would first try the
//!   ustar prefix field, so diff IDs of our commits differ from Docker's for
//!   the same tree (they are still stable for us).
//! * Xattrs of symlinks, devices and fifos are read and written through
//!   `/proc/self/fd/<dir>/<name>`, so `/proc` must be mounted.

#[allow(unsafe_code)] // FFI for openat2 fds, xattrs and fchmodat2; each block has a SAFETY comment.
mod sys;

mod apply;
pub mod copy;
mod digest;
mod durable;
mod error;
pub mod inroot;
mod meta;
mod remove;
mod resolve;
pub mod split;
mod tarout;
pub mod whiteout;
mod write;

pub use apply::{apply_layer, apply_layer_with, ApplyExtras, ApplyOptions, ApplyReport};
pub use digest::{DigestReader, DigestWriter};
pub use error::{ApplyError, ErrorKind, WriteError};
pub use split::{rebuild_tar, RebuildError};
pub use whiteout::WhiteoutMode;
pub use write::{write_tar_from_dir, Selection, TarFilter, TarOptions, TarReport};
