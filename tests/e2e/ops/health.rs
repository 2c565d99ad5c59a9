//! Health checks: transitions, events, ps, filters, --health-on-failure, daemon restarts.

use std::time::{Duration, Instant};

use berth_e2e::{wait_until, Client, Daemon};

use super::support::*;

/// The `--health-on-failure` flag for berth; a label for the docker CLI, which has no flag.
fn on_failure(c: Client, action: &str) -> Vec<String> {
    match c {
        Client::Berth => vec!["--health-on-failure".into(), action.into()],
        Client::Docker => vec!["--label".into(), format!("berth.health-on-failure={action}")],
    }
}

fn health(d: &Daemon, c: Client, name: &str) -> String {
    inspect(d, c, name, "{{.State.Health.Status}}")
}

pub fn health_turns_unhealthy_and_emits_events(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    let t0 = now();
    d.ok(
        c,
        &[
            "run",
            "-d",
            "--name",
            "hc",
            "--health-cmd",
            "test -f /tmp/ok && echo fine",
            "--health-interval",
            "200ms",
            "--health-retries",
            "2",
            "busybox",
            "sh",
            "-c",
            "touch /tmp/ok; exec sleep 1000",
        ],
    );
    wait_until("healthy", Duration::from_secs(20), || health(d, c, "hc") == "healthy");
    let ps = d.ok(c, &["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(ps.contains("hc Up") && ps.contains("(healthy)"), "{ps}");
    assert_eq!(d.ok(c, &["ps", "-q", "--filter", "health=healthy"]).lines().count(), 1);
    assert_eq!(d.ok(c, &["ps", "-q", "--filter", "health=unhealthy"]), "");
    let j = inspect_json(d, "hc");
    let log = j["State"]["Health"]["Log"].as_array().cloned().unwrap_or_default();
    assert!(!log.is_empty() && log.len() <= 5, "{log:?}");
    assert_eq!(log.last().map(|l| l["Output"].clone()), Some("fine\n".into()));

    // The check starts failing: unhealthy within interval x retries (plus probe time).
    d.ok(c, &["exec", "hc", "rm", "/tmp/ok"]);
    let failing = Instant::now();
    wait_until("unhealthy", Duration::from_secs(20), || health(d, c, "hc") == "unhealthy");
    assert!(failing.elapsed() < Duration::from_secs(4), "took {:?}", failing.elapsed());
    let j = inspect_json(d, "hc");
    assert!(j["State"]["Health"]["FailingStreak"].as_i64().unwrap_or(0) >= 2);
    let log = j["State"]["Health"]["Log"].as_array().cloned().unwrap_or_default();
    assert!((3..=5).contains(&log.len()), "{log:?}");
    assert_eq!(log.last().map(|l| l["ExitCode"].clone()), Some(1.into()));
    assert!(d.ok(c, &["ps"]).contains("(unhealthy)"));
    assert_eq!(d.ok(c, &["ps", "-q", "--filter", "health=unhealthy"]).lines().count(), 1);
    let ev = events(d, t0, r#"{"event":["health_status"]}"#);
    let acts = actions(&ev);
    assert_eq!(acts, vec!["health_status: healthy", "health_status: unhealthy"], "{ev:?}");
    assert_eq!(ev[1]["Actor"]["Attributes"]["name"], "hc");

    // Checks survive a daemon restart: healthy again once the file is back.
    d.kill9_and_restart();
    d.ok(c, &["exec", "hc", "touch", "/tmp/ok"]);
    wait_until("healthy after a daemon restart", Duration::from_secs(20), || health(d, c, "hc") == "healthy");
    // A container without a check reports none.
    d.ok(c, &["run", "-d", "--name", "plain", "busybox", "sleep", "1000"]);
    assert_eq!(d.ok(c, &["ps", "--format", "{{.Names}}", "--filter", "health=none"]).trim(), "plain");
    assert!(inspect_json(d, "plain")["State"].get("Health").is_none());
}

pub fn health_on_failure_restarts(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    // /dev/shm is a fresh tmpfs at every start, so the restarted container is healthy again.
    let mut args: Vec<String> = ["run", "-d", "--name", "hr", "--health-cmd", "test ! -f /dev/shm/bad", "--health-interval", "200ms", "--health-retries", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(on_failure(c, "restart"));
    args.extend(["busybox", "sleep", "1000"].iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    d.ok(c, &args);
    wait_until("healthy", Duration::from_secs(20), || health(d, c, "hr") == "healthy");
    let pid = inspect(d, c, "hr", "{{.State.Pid}}");
    let t0 = now();
    d.ok(c, &["exec", "hr", "touch", "/dev/shm/bad"]);
    wait_until("restarted by the engine", Duration::from_secs(20), || {
        inspect(d, c, "hr", "{{.State.Pid}}") != pid && inspect(d, c, "hr", "{{.State.Running}}") == "true"
    });
    assert_eq!(inspect(d, c, "hr", "{{.RestartCount}}"), "1");
    wait_until("healthy again", Duration::from_secs(20), || health(d, c, "hr") == "healthy");
    let acts = actions(&events(d, t0, r#"{"type":["container"]}"#));
    let pos = |a: &str| acts.iter().position(|x| x == a).unwrap_or(usize::MAX);
    assert!(pos("health_status: unhealthy") < pos("die") && pos("die") < pos("restart"), "{acts:?}");

    // stop: stopped for good; kill: SIGKILL, and the restart policy brings it back.
    for (name, action, policy) in [("hs", "stop", "no"), ("hk", "kill", "always")] {
        let mut args: Vec<String> = [
            "run",
            "-d",
            "--name",
            name,
            "--stop-timeout",
            "1",
            "--restart",
            policy,
            "--health-cmd",
            "test ! -f /dev/shm/bad",
            "--health-interval",
            "200ms",
            "--health-retries",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(on_failure(c, action));
        args.extend(["busybox", "sleep", "1000"].iter().map(|s| s.to_string()));
        d.ok(c, &args.iter().map(String::as_str).collect::<Vec<_>>());
        wait_until("healthy", Duration::from_secs(20), || health(d, c, name) == "healthy");
        d.ok(c, &["exec", name, "touch", "/dev/shm/bad"]);
    }
    wait_until("stopped by its health check", Duration::from_secs(20), || inspect(d, c, "hs", "{{.State.Status}}") == "exited");
    assert_eq!(inspect(d, c, "hs", "{{.State.ExitCode}}"), "137", "sleep ignores SIGTERM: killed after the timeout");
    wait_until("killed and restarted by its policy", Duration::from_secs(30), || inspect(d, c, "hk", "{{.RestartCount}} {{.State.Status}}") == "1 running");

    // Bad actions are refused at create, naming the field.
    let mut bad: Vec<String> = vec!["create".into()];
    bad.extend(on_failure(c, "reboot"));
    bad.extend(["busybox".to_string(), "true".to_string()]);
    let bad: Vec<&str> = bad.iter().map(String::as_str).collect();
    let out = d.run(c, &bad);
    assert!(!out.status.success());
    let err = berth_e2e::stderr(&out);
    assert!(err.contains("health-on-failure") || err.contains("HealthOnFailure"), "{err}");
}
