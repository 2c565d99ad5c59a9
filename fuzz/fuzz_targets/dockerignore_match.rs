//! Parses the first line-delimited half of the input as a `.dockerignore`
//! and matches the rest as paths against it.

#![no_main]

use berth_build::DockerIgnore;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (patterns, paths) = text.split_once('\0').unwrap_or((&text, "a/b/c"));
    if let Ok(ignore) = DockerIgnore::parse(patterns) {
        for path in paths.lines() {
            let _ = ignore.matches(path);
            let _ = ignore.can_skip_dir(path);
        }
    }
});
