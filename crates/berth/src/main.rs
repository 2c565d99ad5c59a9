//! `berth`: one binary for the CLI, the daemon and the per-container shim.
//!
//! `berth shim` is dispatched before anything else starts: it must stay single-threaded
//! (libcontainer clones the calling process), so no async runtime, no logging threads.

mod cli;
mod daemon_cmd;
mod registry_cmd;
mod shim_cmd;

fn main() {
    berth_runtime::seal::cloexec_inherited_fds();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("shim") {
        std::process::exit(shim_cmd::main(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some("daemon") {
        std::process::exit(daemon_cmd::main(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some("registry") {
        std::process::exit(registry_cmd::main(&args[2..]));
    }
    std::process::exit(cli::main(args));
}
