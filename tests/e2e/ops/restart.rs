//! Restart policies: back-off, restart count, `restarting`, manual stops, daemon restarts.

use std::time::Duration;

use berth_e2e::{wait_until, Client, Daemon};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::support::*;

fn status(d: &Daemon, c: Client, name: &str) -> String {
    inspect(d, c, name, "{{.State.Status}}")
}

fn count(d: &Daemon, c: Client, name: &str) -> i64 {
    inspect(d, c, name, "{{.RestartCount}}").parse().unwrap_or(-1)
}

pub fn restart_on_failure_gives_up_after_max(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    let t0 = now();
    d.ok(c, &["run", "-d", "--name", "fl", "--restart", "on-failure:2", "busybox", "sh", "-c", "exit 3"]);
    wait_until("two restarts, then exited", Duration::from_secs(20), || status(d, c, "fl") == "exited" && count(d, c, "fl") == 2);
    assert_eq!(inspect(d, c, "fl", "{{.State.ExitCode}}"), "3");
    assert_eq!(inspect(d, c, "fl", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"), "on-failure:2");
    // The die event follows the state change: wait for it.
    let dies = || actions(&events(d, t0, r#"{"container":["fl"]}"#)).iter().filter(|a| *a == "die").count();
    wait_until("three die events", Duration::from_secs(10), || dies() == 3);
    let acts = actions(&events(d, t0, r#"{"container":["fl"]}"#));
    assert_eq!(acts.iter().filter(|a| *a == "start").count(), 3, "{acts:?}");
    assert!(d.ok(c, &["ps", "-a"]).contains("Exited (3)"));
    // A clean exit is not a failure.
    d.ok(c, &["run", "-d", "--name", "ok", "--restart", "on-failure", "busybox", "true"]);
    wait_until("exited", Duration::from_secs(10), || status(d, c, "ok") == "exited");
    assert_eq!(count(d, c, "ok"), 0);
}

pub fn restart_always_and_manual_stop(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["run", "-d", "--name", "aa", "--restart", "always", "busybox", "sh", "-c", "sleep 0.2; exit 1"]);
    // The back-off doubles, so the restarting state is soon long enough to be seen.
    wait_until("restarting state", Duration::from_secs(30), || {
        inspect(d, c, "aa", "{{.State.Status}} {{.State.Restarting}} {{.State.Running}}") == "restarting true true"
    });
    wait_until("ps shows Restarting", Duration::from_secs(30), || d.ok(c, &["ps"]).contains("Restarting (1)"));
    wait_until("several restarts", Duration::from_secs(30), || count(d, c, "aa") >= 3);
    // A manual stop cancels the policy, even in the middle of a back-off.
    d.ok(c, &["stop", "-t", "1", "aa"]);
    assert_eq!(status(d, c, "aa"), "exited");
    let n = count(d, c, "aa");
    d.ok(c, &["run", "-d", "--name", "probe", "busybox", "true"]);
    wait_until("probe exited", Duration::from_secs(10), || status(d, c, "probe") == "exited");
    assert_eq!((status(d, c, "aa"), count(d, c, "aa")), ("exited".to_string(), n), "no restart after stop");
    // A manual start resets the count.
    d.ok(c, &["start", "aa"]);
    assert_eq!(count(d, c, "aa"), 0);
    d.ok(c, &["rm", "-f", "aa"]);
    // kill on a restarting container stops it for good.
    d.ok(c, &["run", "-d", "--name", "kk", "--restart", "always", "busybox", "sh", "-c", "exit 2"]);
    wait_until("k restarting", Duration::from_secs(30), || status(d, c, "kk") == "restarting" && count(d, c, "kk") >= 3);
    d.ok(c, &["kill", "kk"]);
    wait_until("k exited", Duration::from_secs(10), || status(d, c, "kk") == "exited");
    let out = d.run(c, &["create", "--restart", "sometimes", "busybox", "true"]);
    assert!(!out.status.success());
}

fn pid(d: &Daemon, c: Client, name: &str) -> i32 {
    inspect(d, c, name, "{{.State.Pid}}").parse().unwrap_or(0)
}

fn alive(p: i32) -> bool {
    p > 0 && std::path::Path::new(&format!("/proc/{p}")).exists() && kill(Pid::from_raw(p), None).is_ok()
}

/// Freezes the daemon so it sees nothing of what the test does until it is killed.
fn freeze(d: &Daemon) {
    kill(Pid::from_raw(d.pid() as i32), Signal::SIGSTOP).unwrap();
}

pub fn restart_policies_survive_daemon_restarts(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    for (name, policy) in [("al", "always"), ("us", "unless-stopped"), ("no", "no"), ("dies", "always")] {
        d.ok(c, &["run", "-d", "--name", name, "--restart", policy, "busybox", "sleep", "1000"]);
    }
    d.ok(c, &["run", "-d", "--name", "stopped-al", "--restart", "always", "busybox", "sleep", "1000"]);
    d.ok(c, &["run", "-d", "--name", "stopped-us", "--restart", "unless-stopped", "busybox", "sleep", "1000"]);
    d.ok(c, &["stop", "-t", "0", "stopped-al", "stopped-us"]);
    // A plain daemon crash: every container keeps running, same process.
    let before = pid(d, c, "al");
    d.kill9_and_restart();
    assert_eq!(pid(d, c, "al"), before);
    // A container that died while the daemon was down is restarted by its policy.
    let dies = pid(d, c, "dies");
    freeze(d);
    kill(Pid::from_raw(dies), Signal::SIGKILL).unwrap();
    wait_until("container process gone", Duration::from_secs(10), || !alive(dies));
    d.kill9_and_restart();
    wait_until("dies restarted", Duration::from_secs(20), || status(d, c, "dies") == "running" && pid(d, c, "dies") != dies);
    // Always comes back even after a manual stop; unless-stopped does not.
    wait_until("stopped-al started at daemon start", Duration::from_secs(20), || status(d, c, "stopped-al") == "running");
    assert_eq!(status(d, c, "stopped-us"), "exited");

    // A host-style restart: the daemon, every shim and container process gone, mounts too.
    freeze(d);
    for cg in d.cgroups() {
        for p in std::fs::read_to_string(cg.join("cgroup.procs")).unwrap_or_default().lines() {
            let _ = kill(Pid::from_raw(p.trim().parse().unwrap_or(0)), Signal::SIGKILL);
        }
    }
    for p in d.shim_pids() {
        let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
    }
    wait_until("shims gone", Duration::from_secs(10), || d.shim_pids().is_empty());
    for m in d.mounts() {
        let _ = nix::mount::umount2(std::path::Path::new(&m), nix::mount::MntFlags::MNT_DETACH);
    }
    d.kill9_and_restart();
    for name in ["al", "us", "dies", "stopped-al"] {
        wait_until(&format!("{name} back after a host restart"), Duration::from_secs(30), || status(d, c, name) == "running");
    }
    assert_eq!(status(d, c, "no"), "exited");
    assert_eq!(d.ok(c, &["exec", "al", "echo", "up"]), "up\n");
}
