//! The default seccomp profile.
//!
//! Docker's profile is an allow-list; ours is a deny-list of the same dangerous calls (kernel
//! modules, kexec, mount and namespace manipulation, keyrings, BPF, clock setting, raw IO...),
//! each re-allowed when the container holds the capability Docker ties it to. The calls it blocks
//! fail with EPERM, as under Docker. `clone3` fails with ENOSYS so libc falls back to `clone`,
//! whose namespace flags can be filtered.

use serde_json::{json, Value};

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// Calls no container may make, whatever its capabilities (short of `--privileged`, which drops
/// the profile altogether).
const ALWAYS_DENIED: &[&str] = &[
    "kexec_load",
    "kexec_file_load",
    "create_module",
    "get_kernel_syms",
    "query_module",
    "nfsservctl",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "vm86",
    "vm86old",
    "lookup_dcookie",
    "userfaultfd",
    "keyctl",
    "add_key",
    "request_key",
    "swapon",
    "swapoff",
    "quotactl_fd",
    // io_uring reaches kernel paths a filter cannot see into (its operations are not
    // syscalls), and it has been a steady source of container escapes; Docker blocks it too.
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
];

/// Calls allowed only with a given capability.
const CAPABILITY_GATED: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "setns",
            "unshare",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "open_tree",
            "move_mount",
            "mount_setattr",
            "quotactl",
            "name_to_handle_at",
            "setdomainname",
            "sethostname",
            "lsm_set_self_attr",
            "fanotify_init",
        ],
    ),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64", "clock_adjtime", "clock_adjtime64"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_PTRACE", &["process_vm_readv", "process_vm_writev", "kcmp"]),
    ("CAP_SYS_NICE", &["mbind", "get_mempolicy", "set_mempolicy", "move_pages"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Namespace flags `clone` may not carry without CAP_SYS_ADMIN.
const CLONE_NAMESPACE_FLAGS: &[u64] = &[
    0x0002_0000, // CLONE_NEWNS
    0x0200_0000, // CLONE_NEWCGROUP
    0x0400_0000, // CLONE_NEWUTS
    0x0800_0000, // CLONE_NEWIPC
    0x1000_0000, // CLONE_NEWUSER
    0x2000_0000, // CLONE_NEWPID
    0x4000_0000, // CLONE_NEWNET
];

fn deny(names: &[&str], errno: u32) -> Value {
    json!({"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno})
}

/// The profile for a container holding `caps` (names like `CAP_SYS_ADMIN`).
pub fn default_profile(caps: &[String]) -> Value {
    let has = |c: &str| caps.iter().any(|x| x == c);
    let mut rules = vec![deny(ALWAYS_DENIED, EPERM), deny(&["clone3"], ENOSYS)];
    for (cap, names) in CAPABILITY_GATED {
        if !has(cap) {
            rules.push(deny(names, EPERM));
        }
    }
    if !has("CAP_SYS_ADMIN") {
        for flag in CLONE_NAMESPACE_FLAGS {
            rules.push(json!({
                "names": ["clone"],
                "action": "SCMP_ACT_ERRNO",
                "errnoRet": EPERM,
                "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}],
            }));
        }
    }
    // No "architectures": the filter then covers the native ABI only, and calls through a foreign
    // ABI (x86 `int 0x80` on x86_64) hit libseccomp's bad-arch action, which kills, so the
    // deny-list cannot be side-stepped.
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_lift_their_rules() {
        let without = default_profile(&[]);
        let with = default_profile(&["CAP_SYS_ADMIN".to_string()]);
        let text = |v: &Value| v.to_string();
        assert!(text(&without).contains("\"mount\""));
        assert!(!text(&with).contains("\"mount\""));
        assert!(text(&without).contains("SCMP_CMP_MASKED_EQ"));
        assert!(!text(&with).contains("SCMP_CMP_MASKED_EQ"));
    }

    #[test]
    fn io_uring_is_denied_even_to_capable_containers() {
        let everything: Vec<String> = CAPABILITY_GATED.iter().map(|(c, _)| c.to_string()).collect();
        let text = default_profile(&everything).to_string();
        assert!(text.contains("\"io_uring_setup\""), "{text}");
    }
}
