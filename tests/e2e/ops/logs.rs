//! Logs: rotation on by default, per-container and daemon-wide options, reading across
//! rotated files, following through rotations, the none and local drivers, service logs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_e2e::{stderr, stdout, wait_until, Client, Daemon};

use super::support::*;

/// The json-file logs of container `id` on disk.
fn log_files(d: &Daemon, id: &str) -> Vec<PathBuf> {
    let dir = d.dir.join("data/containers").join(id);
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|rd| rd.flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().contains("-json.log")).collect()).unwrap_or_default();
    v.sort();
    v
}

/// Lines `0..n` of about 1 KB each: `n` KB of output, each line starting with its number.
fn writer(n: usize, pause_every: usize) -> String {
    let pause = if pause_every > 0 { format!("if (i % {pause_every} == 0) system(\"usleep 50000\");") } else { String::new() };
    format!("awk 'BEGIN {{ pad = sprintf(\"%1000s\", \"\"); for (i = 0; i < {n}; i++) {{ print i pad; fflush(); {pause} }} }}'")
}

fn numbers(text: &str) -> Vec<usize> {
    text.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

pub fn logs_rotate_and_read_across_files(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    // 30 MB of output with max-size=1m,max-file=3: only the last ~3 MB are kept.
    let id = d.ok(c, &["run", "-d", "--name", "big", "--log-opt", "max-size=1m", "--log-opt", "max-file=3", "busybox", "sh", "-c", &writer(30_000, 0)]);
    let id = id.trim();
    wait_until("writer exited", Duration::from_secs(120), || inspect(d, c, "big", "{{.State.Status}}") == "exited");
    let files = log_files(d, id);
    assert!(!files.is_empty() && files.len() <= 3, "{files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 1 << 20, "{} is over 1 MB", f.display());
    }
    let out = d.run(c, &["logs", "big"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.len() > 2_000_000 && text.len() <= 3 * 1024 * 1024, "logs returned {} bytes", text.len());
    let nums = numbers(&text);
    assert_eq!(nums.last(), Some(&29_999));
    assert!(nums.windows(2).all(|w| w[1] == w[0] + 1), "lines are consecutive across files");
    assert_eq!(numbers(&d.ok(c, &["logs", "--tail", "3", "big"])), vec![29_997, 29_998, 29_999]);
    let many = numbers(&d.ok(c, &["logs", "--tail", "2000", "big"]));
    assert_eq!((many.len(), many[0]), (2000, 28_000), "--tail reaches into rotated files");
    // Default rotation (10m x 5) is reported nowhere but applies: a follower reads through
    // several rotations of a 1 MB log.
    d.ok(c, &["run", "-d", "--name", "slow", "--log-opt", "max-size=1m", "busybox", "sh", "-c", &writer(4000, 100)]);
    let out = d.ok(c, &["logs", "-f", "slow"]);
    let nums = numbers(&out);
    assert_eq!(nums, (0..4000).collect::<Vec<_>>(), "follow lost or repeated lines across rotations");
}

pub fn log_drivers_none_and_local(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["run", "--name", "quiet", "--log-driver", "none", "busybox", "echo", "hi"]);
    assert_eq!(inspect(d, c, "quiet", "{{.HostConfig.LogConfig.Type}}"), "none");
    assert_eq!(inspect(d, c, "quiet", "{{.LogPath}}"), "");
    let out = d.run(c, &["logs", "quiet"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not support reading"), "{}", stderr(&out));
    d.ok(c, &["run", "--name", "loc", "--log-driver", "local", "busybox", "echo", "hello"]);
    assert_eq!(inspect(d, c, "loc", "{{.HostConfig.LogConfig.Type}}"), "local");
    assert_eq!(d.ok(c, &["logs", "loc"]), "hello\n");
    // Typos and bad values are refused at create with the option named.
    for (opt, needle) in [("max-sise=1m", "max-sise"), ("max-size=lots", "max-size"), ("max-file=0", "max-file"), ("compress=maybe", "compress")] {
        let out = d.run(c, &["create", "--log-opt", opt, "busybox", "true"]);
        assert!(!out.status.success(), "{opt} accepted");
        assert!(stderr(&out).contains(needle), "{opt}: {}", stderr(&out));
    }
    let out = d.run(c, &["create", "--log-driver", "syslogd", "busybox", "true"]);
    assert!(stderr(&out).contains("syslogd"), "{}", stderr(&out));
    let r = d.api(
        "POST",
        "/containers/create",
        Some(br#"{"Image":"busybox","Cmd":["true"],"HostConfig":{"LogConfig":{"Type":"json-file","Config":{"max-sise":"1m"}}}}"#),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap_or("").contains("max-sise"));
}

/// A daemon with log defaults and a service log root.
pub fn log_defaults_and_service_logs(c: Client) {
    let logs_root = tempfile::tempdir().unwrap();
    let root = logs_root.path().to_string_lossy().into_owned();
    let d = Daemon::start_with(&["--log-opt", "max-size=100k", "--log-opt", "max-file=2", "--log-service-root", &root]);
    d.busybox(c, "busybox");
    // The daemon's defaults are merged into containers of the default driver.
    let id = d.ok(c, &["run", "-d", "--name", "chatty", "busybox", "sh", "-c", &writer(1000, 0)]);
    wait_until("chatty exited", Duration::from_secs(60), || inspect(&d, c, "chatty", "{{.State.Status}}") == "exited");
    assert_eq!(inspect(&d, c, "chatty", "{{index .HostConfig.LogConfig.Config \"max-size\"}}"), "100k");
    let files = log_files(&d, id.trim());
    assert_eq!(files.len(), 2, "{files:?}");
    // Two containers of one service append to one shared log; a compose label names a service.
    for name in ["web1", "web2"] {
        d.ok(c, &["run", "--name", name, "--log-opt", "service=web", "busybox", "sh", "-c", &format!("for i in 1 2 3; do echo {name}-$i; done")]);
    }
    d.ok(c, &["run", "--name", "api1", "--label", "com.docker.compose.service=api", "busybox", "echo", "from-api"]);
    let shared = std::fs::read_to_string(Path::new(&root).join("web/web.log")).unwrap();
    let entries: Vec<serde_json::Value> = shared.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 6);
    for name in ["web1", "web2"] {
        let mine: Vec<&serde_json::Value> = entries.iter().filter(|e| e["attrs"]["container_name"] == name).collect();
        assert_eq!(mine.len(), 3);
        assert_eq!(mine[2]["log"], format!("{name}-3\n"));
    }
    assert!(std::fs::read_to_string(Path::new(&root).join("api/api.log")).unwrap().contains("from-api"));
    assert_eq!(d.ok(c, &["logs", "web2"]), "web2-1\nweb2-2\nweb2-3\n", "the container's own log is kept too");
    d.assert_no_leaks_after_cleanup();
}
