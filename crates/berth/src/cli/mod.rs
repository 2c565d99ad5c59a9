//! The `berth` command line: docker's verbs and flags over the Engine API.

/// Runs the CLI and returns the process exit code.
pub fn main(_args: Vec<String>) -> i32 {
    eprintln!("berth: not yet");
    1
}
