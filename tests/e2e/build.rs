//! Builds through the real clients: `DOCKER_BUILDKIT=0 docker build` (classic `POST /build`)
//! and `berth build`, each against its own daemon. Multi-stage into `scratch`, the layer cache
//! (fully cached rebuild, invalidation from a touched file's `COPY` on), a failing `RUN`'s
//! exit code, `.dockerignore`, stdin Dockerfiles and contexts, build args, labels, targets,
//! quiet mode, bad Dockerfiles, symlinks that must not escape, and the raw API stream that
//! docker-py and compose parse.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, SystemTime};

use berth_e2e::{http, stderr, stdout, Client, Daemon};

use berth_e2e::both_clients;

both_clients!(
    multi_stage_into_scratch_and_inspect,
    rebuild_is_cached_and_a_touched_file_invalidates_from_its_copy,
    failing_run_exits_with_its_code,
    dockerignore_keeps_files_out,
    stdin_dockerfile_and_gzip_context,
    args_labels_target_quiet_and_iidfile,
    bad_dockerfiles_name_the_line_and_the_daemon_keeps_serving,
    symlinks_never_lead_out_of_context_or_rootfs,
    onbuild_shell_add_globs_chown_and_entrypoint,
    directives_global_args_shell_and_build_network,
    missing_bases_are_pulled_with_credentials_and_pull_refreshes,
);

/// Writes a build context under the daemon's test dir (removed with it).
fn context(d: &Daemon, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = d.dir.join("ctx").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
    }
    dir
}

fn build(d: &Daemon, c: Client, args: &[&str]) -> Output {
    let mut all = vec!["build"];
    all.extend_from_slice(args);
    d.run(c, &all)
}

/// Builds, asserting success; returns stdout.
fn build_ok(d: &Daemon, c: Client, args: &[&str]) -> String {
    let out = build(d, c, args);
    assert!(out.status.success(), "{c:?} build {args:?} failed ({:?}):\n{}\n{}", out.status.code(), stdout(&out), stderr(&out));
    stdout(&out)
}

/// The steps of a build's output: (`Step N/M : text`, the lines under it).
fn steps(output: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in output.lines() {
        if line.starts_with("Step ") {
            out.push((line.to_string(), Vec::new()));
        } else if let Some(last) = out.last_mut() {
            last.1.push(line.to_string());
        }
    }
    out
}

fn cached(step: &(String, Vec<String>)) -> bool {
    step.1.iter().any(|l| l == " ---> Using cache")
}

/// The id from `Successfully built <12hex>`.
fn built_id(output: &str) -> String {
    let line = output.lines().find(|l| l.starts_with("Successfully built ")).unwrap_or_else(|| panic!("no id in:\n{output}"));
    let id = line.trim_start_matches("Successfully built ").trim().to_string();
    assert_eq!(id.len(), 12, "{line}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    id
}

fn inspect(d: &Daemon, c: Client, image: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&d.ok(c, &["image", "inspect", image])).unwrap();
    v[0].clone()
}

fn multi_stage_into_scratch_and_inspect(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = context(
        d,
        "multi",
        &[
            ("greeting.txt", "hello"),
            (
                "Dockerfile",
                r#"ARG BASE=busybox
FROM ${BASE} AS build
WORKDIR /src
COPY greeting.txt .
RUN mkdir /out && printf '#!/bin/busybox sh\necho "compiled: $GREETING %s from $(pwd) as $(/bin/busybox id -u)"\n' "$(cat greeting.txt)" > /out/app && chmod 755 /out/app

FROM scratch
COPY --from=build /bin/busybox /bin/busybox
COPY --from=0 /out/app /app
COPY --from=busybox /etc/group /etc/group
ENV GREETING=built
WORKDIR /srv
USER 1000
EXPOSE 8080/tcp 53/udp
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["/bin/busybox", "true"]
STOPSIGNAL SIGINT
CMD ["/app"]
"#,
            ),
        ],
    );
    let out = build_ok(d, c, &["-t", "app:multi", ctx.to_str().unwrap()]);
    let steps = steps(&out);
    assert_eq!(steps.len(), 16, "{out}");
    assert!(steps[0].0.starts_with("Step 1/16 : ARG BASE=busybox"), "{out}");
    assert!(out.contains(" ---> Running in "), "a RUN runs in a container:\n{out}");
    assert!(out.contains(" ---> Removed intermediate container "), "{out}");
    assert!(out.contains("Successfully tagged app:multi"), "{out}");
    built_id(&out);
    assert_eq!(d.ok(c, &["run", "--rm", "app:multi"]), "compiled: built hello from /srv as 1000\n");
    let img = inspect(d, c, "app:multi");
    let cfg = &img["Config"];
    assert_eq!(cfg["Cmd"], serde_json::json!(["/app"]));
    assert_eq!(cfg["WorkingDir"], "/srv");
    assert_eq!(cfg["User"], "1000");
    assert_eq!(cfg["StopSignal"], "SIGINT");
    let env: Vec<String> = serde_json::from_value(cfg["Env"].clone()).unwrap();
    assert!(env.contains(&"GREETING=built".to_string()) && env.iter().any(|e| e.starts_with("PATH=")), "{env:?}");
    assert!(cfg["ExposedPorts"].get("8080/tcp").is_some() && cfg["ExposedPorts"].get("53/udp").is_some(), "{cfg}");
    assert_eq!(cfg["Healthcheck"]["Test"], serde_json::json!(["CMD", "/bin/busybox", "true"]));
    assert_eq!(cfg["Healthcheck"]["Interval"], 30_000_000_000i64);
    assert_eq!(cfg["Healthcheck"]["Timeout"], 3_000_000_000i64);
    assert_eq!(cfg["Healthcheck"]["Retries"], 2);
    // scratch + three COPY layers + the WORKDIR layer: nothing of the build stage but its outputs.
    assert_eq!(img["RootFS"]["Layers"].as_array().map(Vec::len), Some(4), "{img}");
    assert_eq!(d.ok(c, &["run", "--rm", "--entrypoint", "/bin/busybox", "app:multi", "cat", "/etc/group"]).lines().next(), Some("root:x:0:"));
    let history = d.ok(c, &["history", "--no-trunc", "app:multi"]);
    assert!(history.contains("#(nop)  ENV GREETING=built") && history.contains("#(nop) WORKDIR /srv"), "{history}");
}

fn rebuild_is_cached_and_a_touched_file_invalidates_from_its_copy(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = context(
        d,
        "cache",
        &[
            ("a.txt", "first a\n"),
            ("b.txt", "first b\n"),
            (
                "Dockerfile",
                "FROM busybox\nENV A=1\nRUN echo step-one > /one\nCOPY a.txt /a.txt\nRUN cat /a.txt > /copy-of-a\nCOPY b.txt /b.txt\nCMD [\"cat\", \"/copy-of-a\", \"/b.txt\"]\n",
            ),
        ],
    );
    let path = ctx.to_str().unwrap();
    let first = build_ok(d, c, &["-t", "cached:1", path]);
    assert!(!steps(&first).iter().any(cached), "a cold build uses no cache:\n{first}");
    let id = built_id(&first);

    let second = build_ok(d, c, &["-t", "cached:1", path]);
    let s = steps(&second);
    assert_eq!(s.len(), 7);
    for step in &s[1..] {
        assert!(cached(step), "every step is cached on an unchanged rebuild:\n{second}");
    }
    assert!(!second.contains("Running in"), "nothing ran:\n{second}");
    assert_eq!(built_id(&second), id, "same image");
    let all = d.ok(c, &["images", "-a", "-q"]).lines().count();
    let top = d.ok(c, &["images", "-q"]).lines().count();
    // Six committed steps after FROM: five untagged intermediates plus the tagged result.
    assert!(all >= top + 5, "intermediate images are listed by images -a: {all} vs {top}");

    // Touch a.txt (new mtime, same content): the steps before its COPY stay cached.
    let touched = SystemTime::now() + Duration::from_secs(120);
    std::fs::File::options().write(true).open(ctx.join("a.txt")).unwrap().set_modified(touched).unwrap();
    let third = build_ok(d, c, &["-t", "cached:1", path]);
    let s = steps(&third);
    assert!(cached(&s[1]) && cached(&s[2]), "ENV and RUN before the COPY are cached:\n{third}");
    for step in &s[3..] {
        assert!(!cached(step), "from the touched file's COPY on, everything runs again:\n{third}");
    }
    assert_ne!(built_id(&third), id);

    // A content change in b.txt re-runs only from COPY b.txt.
    std::fs::write(ctx.join("b.txt"), "second b\n").unwrap();
    let fourth = build_ok(d, c, &["-t", "cached:1", path]);
    let s = steps(&fourth);
    assert!(s[1..5].iter().all(cached), "{fourth}");
    assert!(!cached(&s[5]) && !cached(&s[6]), "{fourth}");
    assert_eq!(d.ok(c, &["run", "--rm", "cached:1"]), "first a\nsecond b\n");
    // --no-cache runs everything.
    let fifth = build_ok(d, c, &["--no-cache", path]);
    assert!(!steps(&fifth).iter().any(cached), "{fifth}");
}

fn failing_run_exits_with_its_code(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = context(d, "fail", &[("Dockerfile", "FROM busybox\nRUN echo before-failure && exit 42\nRUN echo never\n")]);
    let out = build(d, c, &["-t", "fails", ctx.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(42), "{}\n{}", stdout(&out), stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("before-failure"), "{all}");
    assert!(all.contains("The command '/bin/sh -c echo before-failure && exit 42' returned a non-zero code: 42"), "{all}");
    assert!(!all.contains("never"), "{all}");
    // As in Docker the failed step's container stays for inspection, unless --force-rm.
    assert_eq!(d.ok(c, &["ps", "-aq"]).lines().count(), 1);
    let out = build(d, c, &["--force-rm", ctx.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(d.ok(c, &["ps", "-aq"]).lines().count(), 1, "--force-rm removed the second one");
    let out = d.run(c, &["image", "inspect", "fails"]);
    assert!(!out.status.success(), "a failed build tags nothing");
}

fn dockerignore_keeps_files_out(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = context(
        d,
        "ignore",
        &[
            ("keep.txt", "keep"),
            ("secret.env", "TOKEN=1"),
            ("logs/a.log", "log"),
            ("sub/x.log", "log"),
            ("sub/keep.md", "md"),
            ("node_modules/pkg/index.js", "js"),
            (".dockerignore", "secret.env\nlogs\n**/*.log\nnode_modules\nDockerfile\n.dockerignore\n"),
            ("Dockerfile", "FROM busybox\nCOPY . /ctx/\nCMD [\"find\", \"/ctx\"]\n"),
        ],
    );
    build_ok(d, c, &["-t", "ignored", ctx.to_str().unwrap()]);
    let listing = d.ok(c, &["run", "--rm", "ignored"]);
    let mut found: Vec<&str> = listing.lines().collect();
    found.sort();
    assert_eq!(found, ["/ctx", "/ctx/keep.txt", "/ctx/sub", "/ctx/sub/keep.md"], "{listing}");
}

fn stdin_dockerfile_and_gzip_context(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = context(d, "stdin", &[("data.txt", "from context\n")]);
    let dockerfile = b"FROM busybox\nCOPY . /ctx/\nCMD [\"sh\", \"-c\", \"ls -A /ctx; cat /ctx/data.txt\"]\n";
    let args = ["build", "-f", "-", "-t", "fromstdin", ctx.to_str().unwrap()];
    let out = match c {
        Client::Docker => d.docker_stdin(&args, dockerfile),
        Client::Berth => d.berth_stdin(&args, dockerfile),
    };
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    // The generated Dockerfile and the .dockerignore naming it stay out of the image.
    assert_eq!(d.ok(c, &["run", "--rm", "fromstdin"]), "data.txt\nfrom context\n");

    // A gzip-compressed context tar on stdin.
    let dir = context(d, "gz", &[("Dockerfile", "FROM busybox\nCOPY msg /msg\nCMD [\"cat\", \"/msg\"]\n"), ("msg", "unzipped\n")]);
    let tar = std::process::Command::new("tar").arg("-C").arg(&dir).arg("-czf").arg("-").arg(".").output().unwrap();
    assert!(tar.status.success() && tar.stdout.starts_with(&[0x1f, 0x8b]));
    let args = ["build", "-t", "gz", "-"];
    let out = match c {
        Client::Docker => d.docker_stdin(&args, &tar.stdout),
        Client::Berth => d.berth_stdin(&args, &tar.stdout),
    };
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert_eq!(d.ok(c, &["run", "--rm", "gz"]), "unzipped\n");
}

fn args_labels_target_quiet_and_iidfile(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = context(
        d,
        "args",
        &[(
            "Dockerfile",
            "ARG VERSION=1.0\nFROM busybox AS base\nARG VERSION\nARG FLAVOR=plain\nRUN echo \"$VERSION-$FLAVOR\" > /version\nFROM base AS final\nLABEL stage=final\nCMD [\"cat\", \"/version\"]\nFROM busybox AS broken\nRUN exit 3\n",
        )],
    );
    let iid = d.dir.join("iid");
    let out = build_ok(
        d,
        c,
        &[
            "-q",
            "--target",
            "final",
            "--build-arg",
            "FLAVOR=spicy",
            "--label",
            "team=core",
            "--iidfile",
            iid.to_str().unwrap(),
            "-t",
            "args:1",
            "-t",
            "args:2",
            ctx.to_str().unwrap(),
        ],
    );
    let id = out.trim();
    assert!(id.starts_with("sha256:") && id.len() == 71 && !out.contains("Step"), "quiet prints the id only: {out:?}");
    assert_eq!(std::fs::read_to_string(&iid).unwrap().trim(), id);
    assert_eq!(d.ok(c, &["run", "--rm", "args:2"]), "1.0-spicy\n");
    let labels = &inspect(d, c, "args:1")["Config"]["Labels"];
    assert_eq!(labels["stage"], "final");
    assert_eq!(labels["team"], "core");
    // An unknown build arg is reported; a build arg changes the RUN's cache key.
    let out = build_ok(d, c, &["--target", "final", "--build-arg", "FLAVOR=mild", "--build-arg", "UNUSED=1", ctx.to_str().unwrap()]);
    assert!(out.contains("[Warning] One or more build-args [UNUSED] were not consumed"), "{out}");
    let run_step = steps(&out).into_iter().find(|s| s.0.contains("RUN echo")).unwrap();
    assert!(!cached(&run_step), "{out}");
    let net = context(d, "net", &[("Dockerfile", "FROM busybox\nRUN ls /sys/class/net\n")]);
    let out = build_ok(d, c, &["--network", "none", net.to_str().unwrap()]);
    let run_step = &steps(&out)[1];
    assert!(run_step.1.iter().any(|l| l == "lo") && !run_step.1.iter().any(|l| l.starts_with("eth")), "{out}");
    let out = build(d, c, &["--target", "nosuch", ctx.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("target stage \"nosuch\" could not be found"), "{}", stderr(&out));
}

fn bad_dockerfiles_name_the_line_and_the_daemon_keeps_serving(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let loop_args = "ARG A=0123456789abcdef\n".to_string() + &"ARG A=$A$A$A$A$A$A$A$A$A$A$A$A$A$A$A$A\n".repeat(6);
    let cases: Vec<(&str, String, &str)> = vec![
        ("unknown", "FROM busybox\nRUN true\nFETCH http://x /y\n".into(), "Dockerfile:3: unknown instruction: FETCH"),
        ("heredoc", "FROM busybox\nRUN <<EOF\necho never ends\n".into(), "Dockerfile:2: RUN: unterminated heredoc"),
        (
            "outside",
            "FROM busybox\n\nCOPY ../../etc/passwd /x\n".into(),
            "Dockerfile:3: COPY failed: forbidden path outside the build context: ../../etc/passwd",
        ),
        ("argloop", format!("FROM busybox\n{loop_args}"), "Dockerfile:7: ARG: failed to process"),
    ];
    for (name, text, want) in cases {
        let ctx = context(d, name, &[("Dockerfile", &text)]);
        let out = build(d, c, &[ctx.to_str().unwrap()]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!out.status.success(), "{name} must fail:\n{all}");
        assert!(all.contains(want), "{name}: wanted {want:?} in:\n{all}");
        d.ok(c, &["version"]);
    }
    let ctx = context(d, "fine", &[("Dockerfile", "FROM busybox\nRUN echo still building\n")]);
    let out = build_ok(d, c, &[ctx.to_str().unwrap()]);
    assert!(out.contains("still building"), "{out}");
}

fn symlinks_never_lead_out_of_context_or_rootfs(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let token = format!("berth-build-escape-{}", std::process::id());
    let ctx = context(
        d,
        "links",
        &[
            ("f.txt", "inside\n"),
            ("Dockerfile", &format!("FROM busybox\nRUN mkdir -p /stage && ln -s / /stage/root\nCOPY f.txt /stage/root/tmp/{token}\nCOPY . /ctx/\n")),
            ("other.Dockerfile", "FROM busybox\nCOPY passwd /copied\n"),
            ("dir.Dockerfile", "FROM busybox\nCOPY outside/passwd /copied\n"),
        ],
    );
    std::os::unix::fs::symlink("/etc/passwd", ctx.join("passwd")).unwrap();
    std::os::unix::fs::symlink("/etc", ctx.join("outside")).unwrap();
    build_ok(d, c, &["-t", "links", ctx.to_str().unwrap()]);
    let host = Path::new("/tmp").join(&token);
    assert!(!host.exists(), "a destination under a symlink to / must land in the image, not on the host");
    let inside = d.ok(c, &["run", "--rm", "links", "sh", "-c", &format!("cat /tmp/{token}; readlink /ctx/passwd; readlink /ctx/outside")]);
    assert_eq!(inside, "inside\n/etc/passwd\n/etc\n", "context symlinks are copied as symlinks");
    // Naming a symlink as a source resolves it inside the context, where /etc/passwd is not.
    for file in ["other.Dockerfile", "dir.Dockerfile"] {
        let out = build(d, c, &["-f", ctx.join(file).to_str().unwrap(), ctx.to_str().unwrap()]);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!out.status.success(), "{file}: the host's /etc/passwd must not be copied:\n{all}");
        assert!(all.contains("Dockerfile:2: COPY failed"), "{all}");
    }
}

fn onbuild_shell_add_globs_chown_and_entrypoint(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let ctx = context(
        d,
        "more",
        &[
            ("parent.Dockerfile", "FROM busybox\nONBUILD RUN echo triggered > /onbuild-ran\nONBUILD COPY marker.txt /marker.txt\n"),
            ("marker.txt", "marked\n"),
            ("a.cfg", "a"),
            ("b.cfg", "b"),
            ("src/one.txt", "1"),
            ("src/two.txt", "2"),
            ("src/three.md", "3"),
            ("bundle/inner/file", "bundled\n"),
            ("many.Dockerfile", "FROM busybox\nCOPY a.cfg b.cfg /notadir\n"),
            (
                "Dockerfile",
                "FROM parent:1\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN echo \"shell is $0\" > /shell.txt\nADD bundle.tar /opt/\nADD bundle.tar.gz /gz\n\
                 COPY --chown=33:33 --chmod=600 *.cfg /etc/app/\nCOPY src/*.txt /texts/\nENV GREET=friend\nCOPY <<EOF /etc/motd\nwelcome $GREET\nEOF\nRUN <<EOF\n#!/bin/sh\necho \"script ran\" > /script.out\nEOF\nVOLUME /data\nCMD [\"cat /onbuild-ran\"]\nENTRYPOINT [\"/bin/sh\", \"-c\"]\n",
            ),
        ],
    );
    let tar = std::process::Command::new("tar").arg("-C").arg(ctx.join("bundle")).arg("-cf").arg(ctx.join("bundle.tar")).arg("inner").status().unwrap();
    assert!(tar.success());
    let gz = std::process::Command::new("gzip").arg("-k").arg(ctx.join("bundle.tar")).status().unwrap();
    assert!(gz.success());
    let parent = ctx.join("parent.Dockerfile");
    build_ok(d, c, &["-f", parent.to_str().unwrap(), "-t", "parent:1", ctx.to_str().unwrap()]);
    let out = build_ok(d, c, &["-t", "child:1", ctx.to_str().unwrap()]);
    assert!(out.contains("# Executing 2 build triggers"), "{out}");
    assert_eq!(d.ok(c, &["run", "--rm", "child:1"]), "triggered\n", "CMD set before ENTRYPOINT is kept");
    let script =
        "cat /marker.txt /shell.txt /opt/inner/file /gz/inner/file; stat -c '%u:%g %a' /etc/app/a.cfg /etc/app/b.cfg; ls /texts; cat /etc/motd /script.out";
    assert_eq!(
        d.ok(c, &["run", "--rm", "child:1", script]),
        "marked\nshell is /bin/sh\nbundled\nbundled\n33:33 600\n33:33 600\none.txt\ntwo.txt\nwelcome friend\nscript ran\n"
    );
    let cfg = &inspect(d, c, "child:1")["Config"];
    assert_eq!(cfg["Entrypoint"], serde_json::json!(["/bin/sh", "-c"]));
    assert_eq!(cfg["Cmd"], serde_json::json!(["cat /onbuild-ran"]));
    assert!(cfg["Volumes"].get("/data").is_some(), "{cfg}");
    assert!(cfg["OnBuild"].as_array().is_none_or(|a| a.is_empty()), "triggers do not carry over: {cfg}");
    assert_eq!(inspect(d, c, "parent:1")["Config"]["OnBuild"].as_array().map(Vec::len), Some(2));
    let many = ctx.join("many.Dockerfile");
    let out = build(d, c, &["-f", many.to_str().unwrap(), ctx.to_str().unwrap()]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success() && all.contains("the destination must be a directory and end with a /"), "{all}");
}

fn directives_global_args_shell_and_build_network(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    // `# escape=`` makes the backtick the escape character: backslashes are literal.
    let ctx = context(
        d,
        "directives",
        &[(
            "Dockerfile",
            "# syntax=docker/dockerfile:1\n# escape=`\nARG TAG=nosuch\nFROM busybox:${TAG} AS base\nENV WINPATH=C:\\dir\\sub\nSHELL [\"/bin/sh\", \"-ec\"]\nRUN echo one `\n    two > /words\nSTOPSIGNAL SIGUSR1\nCMD [\"cat\", \"/words\"]\n",
        )],
    );
    let out = build_ok(d, c, &["--build-arg", "TAG=latest", "-t", "directives", ctx.to_str().unwrap()]);
    assert!(out.contains("Step 2/7 : FROM busybox:${TAG} AS base"), "{out}");
    assert_eq!(d.ok(c, &["run", "--rm", "directives"]), "one two\n");
    let cfg = &inspect(d, c, "directives")["Config"];
    assert_eq!(cfg["Shell"], serde_json::json!(["/bin/sh", "-ec"]), "{cfg}");
    assert_eq!(cfg["StopSignal"], "SIGUSR1");
    assert!(cfg["Env"].as_array().unwrap().contains(&serde_json::json!("WINPATH=C:\\dir\\sub")), "{cfg}");

    // RUN steps use the build's network: the default bridge (eth0), or the host's.
    let net = context(d, "netmodes", &[("Dockerfile", "FROM busybox\nRUN ls /sys/class/net\n")]);
    let out = build_ok(d, c, &[net.to_str().unwrap()]);
    let run_step = &steps(&out)[1];
    assert!(run_step.1.iter().any(|l| l == "eth0") && run_step.1.iter().any(|l| l == "lo"), "{out}");
    let out = build_ok(d, c, &["--no-cache", "--network", "host", net.to_str().unwrap()]);
    let run_step = &steps(&out)[1];
    assert!(run_step.1.iter().any(|l| *l == d.bridge), "host network shows the daemon's bridge {}:\n{out}", d.bridge);
}

/// `berth registry serve` with basic auth on a free loopback port, killed on drop.
struct AuthRegistry {
    host: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl AuthRegistry {
    fn start(user: &str, password: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let entry = std::process::Command::new("htpasswd").args(["-Bbn", user, password]).output().expect("htpasswd (apache2-utils)");
        assert!(entry.status.success());
        std::fs::write(dir.path().join("htpasswd"), &entry.stdout).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let mut child = std::process::Command::new(berth_e2e::berth_bin())
            .args(["registry", "serve", "--addr", &host])
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--htpasswd")
            .arg(dir.path().join("htpasswd"))
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        berth_e2e::wait_until("registry to listen", Duration::from_secs(20), || {
            assert!(child.try_wait().ok().flatten().is_none(), "registry exited early");
            std::net::TcpStream::connect(&host).is_ok()
        });
        Self { host, child, _dir: dir }
    }
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn missing_bases_are_pulled_with_credentials_and_pull_refreshes(d: &Daemon, c: Client) {
    let reg = AuthRegistry::start("builder", "pa55word");
    let login = ["login", reg.host.as_str(), "-u", "builder", "--password-stdin"];
    let out = match c {
        Client::Docker => d.docker_stdin(&login, b"pa55word\n"),
        Client::Berth => d.berth_stdin(&login, b"pa55word\n"),
    };
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let (base, files) = (format!("{}/team/base:1", reg.host), format!("{}/team/files:1", reg.host));
    for image in [&base, &files] {
        d.busybox(c, image);
        d.ok(c, &["push", image]);
        d.ok(c, &["rmi", image]);
    }
    // Both the base and the COPY --from image are missing: the build pulls them, with the
    // credentials the client sends in X-Registry-Config.
    let ctx = context(
        d,
        "pulled",
        &[(
            "Dockerfile",
            &format!("FROM {base}\nCOPY --from={files} /etc/group /group-from-image\nRUN test -e /marker && echo has-marker || echo no-marker\n"),
        )],
    );
    let out = build_ok(d, c, &["-t", "pulled:1", ctx.to_str().unwrap()]);
    assert!(out.contains("Pulling from team/base") && out.contains("Pulling from team/files"), "{out}");
    assert!(out.contains("no-marker"), "{out}");
    let old = inspect(d, c, &base)["Id"].as_str().unwrap().to_string();

    // A newer base in the registry: kept local without --pull, fetched with it.
    let newer = context(d, "newer", &[("Dockerfile", &format!("FROM {base}\nRUN touch /marker\n"))]);
    build_ok(d, c, &["-t", &base, newer.to_str().unwrap()]);
    d.ok(c, &["push", &base]);
    d.ok(c, &["tag", &old, &base]);
    let out = build_ok(d, c, &[ctx.to_str().unwrap()]);
    assert!(!out.contains("Pulling from") && steps(&out).iter().skip(1).all(cached), "{out}");
    let out = build_ok(d, c, &["--pull", ctx.to_str().unwrap()]);
    assert!(out.contains("Pulling from team/base") && out.contains("has-marker"), "{out}");
    assert_ne!(inspect(d, c, &base)["Id"].as_str().unwrap(), old);

    // Without credentials the pull is refused, naming the line; the daemon keeps serving.
    d.ok(c, &["logout", &reg.host]);
    let gone = context(d, "gone", &[("Dockerfile", &format!("FROM busybox\nFROM {}/team/other:1\n", reg.host))]);
    d.busybox(c, "busybox");
    let out = build(d, c, &[gone.to_str().unwrap()]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(!out.status.success() && all.contains("Dockerfile:2") && all.contains("pull access denied"), "{all}");
    d.ok(c, &["version"]);
}

/// A context tar with the given files.
fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, name, data.as_bytes()).unwrap();
    }
    b.into_inner().unwrap()
}

fn post_build(d: &Daemon, query: &str, body: &[u8]) -> http::Response {
    http::request(&d.socket, "POST", &format!("/v1.41/build?{query}"), Some(body), &[("Content-Type", "application/x-tar")]).unwrap()
}

fn json_lines(r: &http::Response) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_slice(&r.body).into_iter::<serde_json::Value>().map(|v| v.unwrap()).collect()
}

/// The classic builder's stream, parsed the way docker-py (`images.build`) and compose 1.29's
/// Python builder parse it, gzip contexts, `q=1`, in-stream errors with codes, HTTP errors
/// before the stream, and `/build/prune`.
#[test]
fn api_stream_is_what_docker_py_and_compose_parse() {
    let d = Daemon::start();
    d.busybox(Client::Docker, "busybox");
    let ctx = tar_of(&[("build/Custom.dockerfile", "FROM busybox\nCOPY msg /msg\nRUN cat /msg\n"), ("msg", "in the stream\n")]);
    let r = post_build(&d, "dockerfile=build%2FCustom.dockerfile&t=api%3A1&t=api%3A2&rm=1", &ctx);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let lines = json_lines(&r);
    assert_eq!(lines[0], serde_json::json!({"stream": "Step 1/3 : FROM busybox\n"}));
    let streams: Vec<&str> = lines.iter().filter_map(|l| l["stream"].as_str()).collect();
    assert!(streams.contains(&"in the stream\n"), "{streams:?}");
    // docker-py: `(^Successfully built |sha256:)([0-9a-f]+)$` on each stripped stream.
    let built = streams.iter().filter_map(|s| s.trim().strip_prefix("Successfully built ")).last().unwrap();
    assert!(built.len() == 12 && built.bytes().all(|b| b.is_ascii_hexdigit()), "{built}");
    let aux = lines.iter().filter_map(|l| l["aux"]["ID"].as_str()).last().unwrap();
    assert!(aux.starts_with(&format!("sha256:{built}")), "{aux} vs {built}");
    assert!(streams.contains(&"Successfully tagged api:1\n") && streams.contains(&"Successfully tagged api:2\n"), "{streams:?}");
    assert!(lines.iter().all(|l| l.get("error").is_none()));

    // gzip context, sniffed; q=1 sends the id alone.
    let dir = d.dir.join("gzctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ctx.tar"), tar_of(&[("Dockerfile", "FROM busybox\nRUN echo quiet\n")])).unwrap();
    let gz = std::process::Command::new("gzip").arg("-c").arg(dir.join("ctx.tar")).output().unwrap();
    let r = post_build(&d, "q=1", &gz.stdout);
    let lines = json_lines(&r);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let id = lines[0]["stream"].as_str().unwrap();
    assert!(id.starts_with("sha256:") && id.ends_with('\n') && id.len() == 72, "{id:?}");

    // A failing RUN: status 200 (the stream started), error and errorDetail with the code.
    let r = post_build(&d, "", &tar_of(&[("Dockerfile", "FROM busybox\nRUN exit 7\n")]));
    assert_eq!(r.status, 200);
    let last = json_lines(&r).pop().unwrap();
    assert_eq!(last["errorDetail"]["code"], 7, "{last}");
    assert_eq!(last["error"], "The command '/bin/sh -c exit 7' returned a non-zero code: 7");
    assert_eq!(last["errorDetail"]["message"], last["error"]);

    // Errors before any output are plain HTTP errors.
    let r = post_build(&d, "", &tar_of(&[("Dockerfile", "FROM busybox\nBOGUS x\n")]));
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("Dockerfile:2"), "{}", String::from_utf8_lossy(&r.body));
    let r = post_build(&d, "dockerfile=nope", &tar_of(&[("Dockerfile", "FROM busybox\n")]));
    assert!(r.json()["message"].as_str().unwrap().contains("Cannot locate specified Dockerfile: nope"));
    let r = post_build(&d, "t=UPPER%3Acase", &tar_of(&[("Dockerfile", "FROM busybox\n")]));
    assert_eq!(r.status, 400);

    // rm=0 keeps the RUN's container.
    let before = d.api("GET", "/containers/json?all=1", None).json().as_array().map(Vec::len).unwrap_or(0);
    let r = post_build(&d, "rm=0&nocache=1", &tar_of(&[("Dockerfile", "FROM busybox\nRUN true\n")]));
    assert!(json_lines(&r).iter().all(|l| l.get("error").is_none()));
    let after = d.api("GET", "/containers/json?all=1", None).json().as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(after, before + 1);

    // The cache lives in the metadata database: it survives a daemon restart; prune forgets it.
    let mut d = d;
    d.kill9_and_restart();
    let again = post_build(&d, "", &ctx_with_default(&ctx));
    assert!(String::from_utf8_lossy(&again.body).contains("Using cache"), "{}", String::from_utf8_lossy(&again.body));
    let r = http::request(&d.socket, "POST", "/build/prune", None, &[]).unwrap();
    assert_eq!(r.status, 200);
    assert!(r.json()["CachesDeleted"].as_array().is_some_and(|a| !a.is_empty()), "{}", String::from_utf8_lossy(&r.body));
    let after = post_build(&d, "", &ctx_with_default(&ctx));
    assert!(!String::from_utf8_lossy(&after.body).contains("Using cache"));
    d.assert_no_leaks_after_cleanup();
}

/// The first test context with its Dockerfile also at the default name.
fn ctx_with_default(_: &[u8]) -> Vec<u8> {
    tar_of(&[("Dockerfile", "FROM busybox\nCOPY msg /msg\nRUN cat /msg\n"), ("msg", "in the stream\n")])
}

/// `docker.APIClient().build(...)` as docker-py 4–7 and compose 1.29 call it: `t`,
/// `buildargs` and `labels` as JSON, `target`, `rm`, `forcerm`, `nocache`, `q`, a
/// `dockerfile` path inside the context; every line a JSON object docker-py's
/// `json_stream` splits, errors as `error` plus `errorDetail`.
#[test]
fn api_docker_py_parameters() {
    let d = Daemon::start();
    d.busybox(Client::Docker, "busybox");
    let df = "ARG V=default\nFROM busybox AS first\nARG V\nRUN echo \"v=$V\" > /v\nFROM first AS second\nRUN exit 9\n";
    let ctx = tar_of(&[("docker/py.Dockerfile", df)]);
    let query = "t=py%3A1&buildargs=%7B%22V%22%3A%22from-py%22%7D&labels=%7B%22com.example.app%22%3A%22py%22%7D&target=first&rm=True&forcerm=True&nocache=True&q=False&dockerfile=docker%2Fpy.Dockerfile";
    let containers = || d.api("GET", "/containers/json?all=1", None).json().as_array().map(Vec::len).unwrap_or(0);
    let before = containers();
    for _ in 0..2 {
        let r = post_build(&d, query, &ctx);
        assert_eq!(r.status, 200);
        let lines = json_lines(&r);
        for l in &lines {
            let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
            assert!(keys.iter().all(|k| ["stream", "aux", "status", "id", "progress", "progressDetail"].contains(&k.as_str())), "{l}");
        }
        let text: String = lines.iter().filter_map(|l| l["stream"].as_str()).collect();
        assert!(!text.contains("Using cache"), "nocache=True: {text}");
        assert!(!text.contains("exit 9"), "target=first stops before the second stage: {text}");
        assert!(text.contains("Step 5/5 : LABEL com.example.app=py") && text.contains("Successfully tagged py:1"), "{text}");
        assert!(lines.iter().any(|l| l["aux"]["ID"].as_str().is_some_and(|id| id.starts_with("sha256:"))));
    }
    assert_eq!(containers(), before, "rm removed the RUN containers");
    assert_eq!(d.ok(Client::Docker, &["run", "--rm", "py:1", "cat", "/v"]), "v=from-py\n");
    assert_eq!(inspect(&d, Client::Docker, "py:1")["Config"]["Labels"]["com.example.app"], "py");

    // The failing stage with forcerm: its container is removed; the error carries the code.
    let r = post_build(&d, "forcerm=1&target=second&dockerfile=docker%2Fpy.Dockerfile", &ctx);
    let last = json_lines(&r).pop().unwrap();
    assert_eq!(last["errorDetail"], serde_json::json!({"code": 9, "message": "The command '/bin/sh -c exit 9' returned a non-zero code: 9"}));
    assert_eq!(last["error"], last["errorDetail"]["message"]);
    assert_eq!(containers(), before, "forcerm removed the failed container");

    // q=1 on failure: the held output, then the error.
    let r = post_build(&d, "q=1&target=second&dockerfile=docker%2Fpy.Dockerfile", &ctx);
    let lines = json_lines(&r);
    assert!(lines.iter().any(|l| l["stream"].as_str().is_some_and(|s| s.starts_with("Step 1/"))), "{lines:?}");
    assert_eq!(lines.last().unwrap()["errorDetail"]["code"], 9);

    // Bad JSON in buildargs is a plain 400 before any output.
    let r = post_build(&d, "buildargs=%7Bnot-json", &ctx);
    assert_eq!(r.status, 400);
    assert!(r.json()["message"].as_str().unwrap().contains("error reading build args"), "{}", String::from_utf8_lossy(&r.body));
    d.ok(Client::Docker, &["version"]);
    d.assert_no_leaks_after_cleanup();
}
