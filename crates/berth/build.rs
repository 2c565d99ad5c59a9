//! Links the `berth` binary as a position-dependent executable.
//!
//! Every running container has a shim, each a fresh exec of this binary. In a PIE, the dynamic
//! loader writes absolute addresses into the binary's RELRO segment at every start (about
//! 600 KiB here: vtables, clap's and serde's tables), and those copy-on-write pages become
//! private memory in each shim, more than the rest of the shim together. Linked at a fixed
//! address, the linker resolves them once and the pages stay shared with the page cache.
//! Docker's own daemons (Go binaries) are position-dependent too.
fn main() {
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
