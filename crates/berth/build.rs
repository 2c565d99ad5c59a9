//! Link-time layout of the `berth` binary.
//!
//! Position-dependent: every running container has a shim, each a fresh exec of this binary. In
//! a PIE, the dynamic loader writes absolute addresses into the binary's RELRO segment at every
//! start (about 600 KiB here: vtables, clap's and serde's tables), and those copy-on-write pages
//! become private memory in each shim, more than the rest of the shim together. Linked at a
//! fixed address, the linker resolves them once and the pages stay shared with the page cache.
//! Docker's own daemons (Go binaries) are position-dependent too.
//!
//! Function order (release builds): the kernel maps file pages 64 KiB at a time around every
//! page a process touches, so a daemon that runs a few thousand functions scattered over 12 MiB
//! of text has nearly all of it resident. `symbol-order.txt` (written by
//! `scripts/symbol-order.sh` from a traced daemon) lists the functions the daemon runs, and the
//! linker puts them first, next to each other. Names missing from the list (renamed, new) are
//! laid out as before; a stale list costs memory, never correctness. `BERTH_NO_SYMBOL_ORDER=1`
//! skips it (for a linker other than lld); `BERTH_LINK_MAP=<file>` writes the linker's map,
//! which the script reads to name the traced addresses.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=symbol-order.txt");
    println!("cargo:rerun-if-env-changed=BERTH_NO_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=BERTH_LINK_MAP");
    println!("cargo:rustc-link-arg-bins=-no-pie");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("symbol-order.txt");
    if release && linux && std::env::var_os("BERTH_NO_SYMBOL_ORDER").is_none() && order.exists() {
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}", order.display());
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    if let Some(map) = std::env::var_os("BERTH_LINK_MAP") {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={}", Path::new(&map).display());
    }
}
