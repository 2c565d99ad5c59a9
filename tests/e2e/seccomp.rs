//! Seccomp through the real clients: the builtin profile is an allow-list (a call outside it
//! fails with EPERM, `seccomp=unconfined` lets it through), a custom Docker-format profile file
//! is applied, and a bad profile or option is refused before anything is created.
//!
//! busybox makes no call that only an allow-list refuses, so the refused calls are made by
//! probes: tiny static x86_64 programs built here, each making one syscall and exiting with
//! its errno (0 on success).

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use berth_e2e::{stderr, Client, Daemon};

use berth_e2e::both_clients;

both_clients!(allow_list_refuses_calls_outside_it, custom_profile_file_is_applied, bad_profiles_and_options_create_nothing);

/// A static x86_64 ELF that makes syscall `nr` with `arg0`, `arg1` (others zero) and exits with
/// the errno it got, or 0. A child of a fork-like call (return value 0) exits 0 at once.
fn probe_elf(nr: u32, arg0: u64, arg1: u64) -> Vec<u8> {
    const BASE: u64 = 0x40_0000;
    const HEADERS: u64 = 64 + 56;
    let mut code = vec![0x48, 0xbf]; // mov rdi, imm64
    code.extend(arg0.to_le_bytes());
    code.extend([0x48, 0xbe]); // mov rsi, imm64
    code.extend(arg1.to_le_bytes());
    code.extend([0x31, 0xd2, 0x45, 0x31, 0xd2, 0x45, 0x31, 0xc0]); // xor edx, r10d, r8d
    code.push(0xb8); // mov eax, nr
    code.extend(nr.to_le_bytes());
    code.extend([0x0f, 0x05]); // syscall
    code.extend([0x31, 0xff, 0x48, 0x85, 0xc0, 0x79, 0x04]); // xor edi, edi; test rax, rax; jns +4
    code.extend([0xf7, 0xd8, 0x89, 0xc7]); // neg eax; mov edi, eax
    code.extend([0xb8, 231, 0, 0, 0, 0x0f, 0x05]); // exit_group(edi)
    let total = HEADERS + code.len() as u64;
    let mut elf = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    elf.extend(2u16.to_le_bytes()); // ET_EXEC
    elf.extend(0x3eu16.to_le_bytes()); // x86_64
    elf.extend(1u32.to_le_bytes());
    elf.extend((BASE + HEADERS).to_le_bytes()); // entry
    elf.extend(64u64.to_le_bytes()); // program headers
    elf.extend(0u64.to_le_bytes()); // no sections
    elf.extend(0u32.to_le_bytes());
    for v in [64u16, 56, 1, 64, 0, 0] {
        elf.extend(v.to_le_bytes());
    }
    elf.extend(1u32.to_le_bytes()); // PT_LOAD
    elf.extend(5u32.to_le_bytes()); // R+X
    for v in [0, BASE, BASE, total, total, 0x1000] {
        elf.extend(v.to_le_bytes());
    }
    elf.extend(code);
    elf
}

/// Writes the probes into a directory of the daemon's and returns it.
fn probes(d: &Daemon) -> PathBuf {
    const ADDR_NO_RANDOMIZE: u64 = 0x0040000;
    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const SIGCHLD: u64 = 17;
    let dir = d.dir.join("probes");
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, elf: Vec<u8>| {
        let p = dir.join(name);
        std::fs::write(&p, elf).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    write("getpid", probe_elf(39, 0, 0));
    write("no_aslr", probe_elf(135, ADDR_NO_RANDOMIZE, 0));
    write("clone_userns", probe_elf(56, CLONE_NEWUSER | SIGCHLD, 0));
    dir
}

/// Runs each probe (and busybox's `linux32`, an allowed persona) in one container started with
/// `opts`; returns their exit codes.
fn probe_codes(d: &Daemon, c: Client, dir: &Path, opts: &[&str]) -> String {
    let bind = format!("{}:/probe:ro", dir.display());
    let script = "for p in getpid no_aslr clone_userns; do /probe/$p; printf \"$p=$? \"; done; linux32 true; echo linux32=$?";
    let mut args = vec!["run", "--rm", "-v", &bind];
    args.extend_from_slice(opts);
    args.extend(["busybox", "sh", "-c", script]);
    d.ok(c, &args).trim().to_string()
}

fn allow_list_refuses_calls_outside_it(d: &Daemon, c: Client) {
    if std::env::consts::ARCH != "x86_64" {
        eprintln!("probes are x86_64 programs; skipped on {}", std::env::consts::ARCH);
        return;
    }
    d.busybox(c, "busybox");
    let dir = probes(d);
    // personality with a flag outside the allowed personas and clone into a new user namespace
    // (which needs no capability) are refused by the filter alone, with EPERM.
    assert_eq!(probe_codes(d, c, &dir, &[]), "getpid=0 no_aslr=1 clone_userns=1 linux32=0");
    assert_eq!(probe_codes(d, c, &dir, &["--security-opt", "seccomp=builtin"]), "getpid=0 no_aslr=1 clone_userns=1 linux32=0");
    // Without the filter the kernel lets both through.
    assert_eq!(probe_codes(d, c, &dir, &["--security-opt", "seccomp=unconfined"]), "getpid=0 no_aslr=0 clone_userns=0 linux32=0");
    // CAP_SYS_ADMIN lifts the clone flag check, not the persona one.
    assert_eq!(probe_codes(d, c, &dir, &["--cap-add", "SYS_ADMIN"]), "getpid=0 no_aslr=1 clone_userns=0 linux32=0");
    // --privileged runs without a filter.
    assert_eq!(probe_codes(d, c, &dir, &["--privileged"]), "getpid=0 no_aslr=0 clone_userns=0 linux32=0");
    // An exec into a running container is filtered like its first process.
    d.ok(c, &["run", "-d", "--name", "long", "-v", &format!("{}:/probe:ro", dir.display()), "busybox", "sleep", "300"]);
    let out = d.run(c, &["exec", "long", "sh", "-c", "/probe/getpid; printf \"$? \"; /probe/no_aslr; echo $?"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0 1", "{}", stderr(&out));
    d.ok(c, &["rm", "-f", "long"]);
}

fn custom_profile_file_is_applied(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let profile = d.dir.join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{
            "defaultAction": "SCMP_ACT_ALLOW",
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "comment": "no new directories"},
                {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}}
            ]
        }"#,
    )
    .unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = d.run(c, &["run", "--rm", "--security-opt", &opt, "busybox", "mkdir", "/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("Permission denied"), "{}", stderr(&out));
    // The profile replaces the builtin one: what it does not list is allowed, and its
    // capability condition holds.
    d.ok(c, &["run", "--rm", "--security-opt", &opt, "busybox", "sh", "-c", "touch /f && mv /f /g && rm /g && mkfifo /p && rmdir /tmp"]);
    let out = d.run(c, &["run", "--rm", "--cap-add", "SYS_ADMIN", "--security-opt", &opt, "busybox", "rmdir", "/home"]);
    assert!(stderr(&out).contains("Operation not permitted"), "{}", stderr(&out));
    // The builtin profile lets mkdir through.
    d.ok(c, &["run", "--rm", "busybox", "mkdir", "/x"]);
    // The content, not the path, is stored with the container, as Docker does.
    d.ok(c, &["create", "--name", "kept", "--security-opt", &opt, "busybox", "true"]);
    let opts = d.ok(c, &["inspect", "-f", "{{json .HostConfig.SecurityOpt}}", "kept"]);
    assert!(opts.contains("SCMP_ACT_ALLOW") && !opts.contains("no-mkdir.json"), "{opts}");
    d.ok(c, &["rm", "kept"]);
}

fn bad_profiles_and_options_create_nothing(d: &Daemon, c: Client) {
    d.busybox(c, "busybox");
    let bad = d.dir.join("bad.json");
    std::fs::write(&bad, r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_PERHAPS"}]}"#).unwrap();
    let bad_opt = format!("seccomp={}", bad.display());
    let not_json = d.dir.join("not.json");
    std::fs::write(&not_json, "{\"defaultAction\": ").unwrap();
    let not_json_opt = format!("seccomp={}", not_json.display());
    let cases: [(&[&str], &str); 5] = [
        (&["--security-opt", &bad_opt], "unknown action \\\"SCMP_ACT_PERHAPS\\\""),
        (&["--security-opt", "foo=bar"], "invalid --security-opt 2: \"foo=bar\""),
        // The docker CLI refuses this one itself ("Invalid --security-opt: ..."), berth's daemon
        // as Docker's does ("invalid --security-opt 1: ...").
        (&["--security-opt", "nonsense"], "nvalid --security-opt"),
        (&["--security-opt", "no-new-privileges=maybe"], "invalid --security-opt 2"),
        // Refused by the client itself, which cannot compact it.
        (&["--security-opt", &not_json_opt], "compacting json for seccomp profile"),
    ];
    for (opts, want) in cases {
        for verb in ["run", "create"] {
            let mut args = vec![verb, "--name", "never"];
            args.extend_from_slice(opts);
            args.extend(["busybox", "true"]);
            let out = d.run(c, &args);
            // `run` answers 125 for a refused create; docker's `create` exits 1.
            let code = out.status.code();
            assert!(if verb == "run" { code == Some(125) } else { code.is_some_and(|c| c != 0) }, "{args:?}: {code:?} {}", stderr(&out));
            let err = stderr(&out);
            let unescaped = want.replace("\\\"", "\"");
            assert!(err.contains(want) || err.contains(&unescaped), "{args:?}: {err}");
        }
    }
    // Through the API, a profile that is not JSON is a 400 naming the decoding failure.
    let body = br#"{"Image": "busybox", "HostConfig": {"SecurityOpt": ["seccomp={not json"]}}"#;
    let res = d.api("POST", "/containers/create?name=never", Some(body));
    assert_eq!(res.status, 400, "{}", String::from_utf8_lossy(&res.body));
    assert!(String::from_utf8_lossy(&res.body).contains("Decoding seccomp profile failed"), "{}", String::from_utf8_lossy(&res.body));
    let body = br#"{"Image": "busybox", "HostConfig": {"SecurityOpt": ["nonsense"]}}"#;
    let res = d.api("POST", "/containers/create?name=never", Some(body));
    assert_eq!(res.status, 400, "{}", String::from_utf8_lossy(&res.body));
    assert!(String::from_utf8_lossy(&res.body).contains(r#"invalid --security-opt 1: \"nonsense\""#), "{}", String::from_utf8_lossy(&res.body));
    assert_eq!(d.ok(c, &["ps", "-aq"]), "");
}
