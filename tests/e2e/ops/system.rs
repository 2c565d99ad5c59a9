//! Events (filters, every container action, the deprecated fields), system df, system prune,
//! info counts, and bad health-check input.

use berth_e2e::{stderr, Client, Daemon};

use super::support::*;

pub fn events_filters_and_actions(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    let t0 = now();
    d.ok(c, &["run", "-d", "--name", "ev1", "--label", "team=a", "busybox", "sleep", "1000"]);
    d.ok(c, &["run", "-d", "--name", "ev2", "busybox", "sleep", "1000"]);
    d.ok(c, &["pause", "ev1"]);
    d.ok(c, &["unpause", "ev1"]);
    d.ok(c, &["rename", "ev1", "ev1b"]);
    d.ok(c, &["exec", "ev1b", "true"]);
    d.ok(c, &["restart", "-t", "0", "ev1b"]);
    d.ok(c, &["kill", "ev2"]);
    d.ok(c, &["rm", "-f", "ev1b", "ev2"]);
    d.ok(c, &["run", "--rm", "--name", "ev3", "busybox", "true"]);
    let t1 = now();
    let since = format!("{t0:.3}");
    let until = format!("{t1:.3}");
    let cli = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["events", "--since", &since, "--until", &until, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"];
        for f in filters {
            args.push("--filter");
            args.push(f);
        }
        d.ok(c, &args).lines().map(String::from).collect()
    };
    let all = cli(&["type=container"]);
    for action in [
        "attach",
        "create",
        "start",
        "pause",
        "unpause",
        "rename",
        "exec_create: true",
        "exec_start: true",
        "exec_die",
        "kill",
        "die",
        "stop",
        "restart",
        "destroy",
    ] {
        assert!(all.iter().any(|l| l.starts_with(&format!("container {action} "))), "no {action:?} in {all:#?}");
    }
    let ev2 = cli(&["container=ev2"]);
    assert!(!ev2.is_empty() && ev2.iter().all(|l| l.ends_with(" ev2")), "{ev2:?}");
    let dies = cli(&["event=die"]);
    assert_eq!(dies.len(), 4, "{dies:?}"); // ev1 at restart, ev2 at kill, ev1b at rm -f, ev3
    let labelled = cli(&["label=team=a", "event=start"]);
    assert_eq!(labelled.len(), 2, "{labelled:?}");
    assert_eq!(cli(&["image=busybox", "event=create"]).len(), 3);
    // The raw stream carries Docker's deprecated fields too.
    let ev = events(d, t0, r#"{"event":["create"]}"#);
    assert_eq!(ev.len(), 3);
    for e in &ev {
        assert_eq!((e["status"].as_str(), e["from"].as_str()), (Some("create"), Some("busybox")));
        assert_eq!(e["id"], e["Actor"]["ID"]);
        assert_eq!(e["scope"], "local");
        assert!(e["timeNano"].as_i64().unwrap() / 1_000_000_000 == e["time"].as_i64().unwrap());
    }
}

pub fn system_df_prune_and_info(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    d.ok(c, &["run", "-d", "--name", "r1", "busybox", "sleep", "1000"]);
    d.ok(c, &["run", "-d", "--name", "r2", "--restart", "always", "busybox", "sleep", "1000"]);
    d.ok(c, &["run", "-d", "--name", "p1", "busybox", "sleep", "1000"]);
    d.ok(c, &["pause", "p1"]);
    d.ok(c, &["run", "--name", "s1", "-v", "/anon", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /big"]);
    let info = d.ok(c, &["info", "--format", "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}"]);
    assert_eq!(info.trim(), "4 2 1 1 1");
    let df = d.ok(c, &["system", "df", "--format", "{{.Type}}|{{.TotalCount}}|{{.Active}}"]);
    let rows: Vec<&str> = df.lines().collect();
    assert!(rows.iter().any(|r| r.starts_with("Images|1|")), "{df}");
    assert!(rows.iter().any(|r| r.starts_with("Containers|4|")), "{df}");
    assert!(rows.iter().any(|r| r.starts_with("Local Volumes|1|")), "{df}");
    let verbose = d.ok(c, &["system", "df", "-v"]);
    assert!(verbose.contains("s1") && verbose.contains("r1"), "{verbose}");
    // system prune: containers, networks, dangling images, build cache; volumes on request.
    let out = d.ok(c, &["system", "prune", "-f"]);
    assert!(out.contains("Deleted Containers:") && out.contains("Total reclaimed space:"), "{out}");
    let left = d.ok(c, &["ps", "-a", "--format", "{{.Names}}"]);
    assert!(!left.contains("s1") && left.contains("r1") && left.contains("p1"), "{left}");
    assert_eq!(d.ok(c, &["volume", "ls", "-q"]).lines().count(), 1, "volumes only with --volumes");
    d.ok(c, &["system", "prune", "-f", "--volumes"]);
    assert_eq!(d.ok(c, &["volume", "ls", "-q"]), "");
    assert_eq!(d.ok(c, &["images", "-q"]).lines().count(), 1, "a used, tagged image stays");
    d.ok(c, &["unpause", "p1"]);
}

pub fn bad_health_input_names_the_field(d: &mut Daemon, c: Client) {
    d.busybox(c, "busybox");
    let cases: [(&str, &str); 4] = [
        (r#"{"Test":["SHELL","true"]}"#, "Healthcheck.Test"),
        (r#"{"Test":["CMD","true"],"Interval":-1000000000}"#, "Interval"),
        (r#"{"Test":["CMD","true"],"Timeout":5}"#, "Timeout"),
        (r#"{"Test":["CMD","true"],"Retries":-1}"#, "Retries"),
    ];
    for (hc, field) in cases {
        let body = format!(r#"{{"Image":"busybox","Cmd":["true"],"Healthcheck":{hc}}}"#);
        let r = d.api("POST", "/containers/create", Some(body.as_bytes()));
        assert_eq!(r.status, 400, "{hc}");
        let msg = r.json()["message"].as_str().unwrap_or("").to_string();
        assert!(msg.contains(field), "{hc}: {msg}");
    }
    // The CLIs refuse negative durations before asking the daemon.
    let out = d.run(c, &["create", "--health-cmd", "true", "--health-interval", "-1s", "busybox", "true"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("health-interval"), "{}", stderr(&out));
}
