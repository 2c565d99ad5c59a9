//! Seccomp: the builtin profile and custom Docker-format ones.
//!
//! The builtin profile is an allow-list, as Docker's is: any call not listed fails with EPERM,
//! so calls added to future kernels stay out until someone looks at them. It is built as a
//! Docker-format [`Profile`] from the tables in [`table`] and goes through the same translation
//! as a profile a user passes with `--security-opt seccomp=<file>`, so both take one path into
//! the OCI spec.

mod profile;
mod table;

pub use profile::{Profile, ProfileError};

use profile::{ArchMap, Arg, Filter, SyscallRule, Target};
use serde_json::Value;
use table::{AF_VSOCK, CLONE_NAMESPACE_FLAGS, ENOSYS, EPERM, PERSONAS};

/// Which filter a container runs under.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Seccomp {
    /// The builtin allow-list.
    #[default]
    Builtin,
    /// No filter (`seccomp=unconfined`).
    Unconfined,
    /// A user's Docker-format profile, already validated.
    Custom(Box<Profile>),
}

const ALLOW: &str = "SCMP_ACT_ALLOW";

fn allow(names: &[&str]) -> SyscallRule {
    SyscallRule { names: names.iter().map(|n| n.to_string()).collect(), action: ALLOW.into(), ..Default::default() }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The builtin profile, host-independent (conditions still unresolved).
pub fn builtin() -> Profile {
    let mut rules: Vec<SyscallRule> = table::ALLOWED.iter().map(|(_, names)| allow(names)).collect();
    for (arches, names) in table::ARCH_ONLY {
        rules.push(SyscallRule { includes: Filter { arches: strings(arches), ..Default::default() }, ..allow(names) });
    }
    for (min, names) in table::MIN_KERNEL {
        rules.push(SyscallRule { includes: Filter { min_kernel: Some(min.to_string()), ..Default::default() }, ..allow(names) });
    }
    for (cap, names) in table::BY_CAPABILITY {
        rules.push(SyscallRule { includes: Filter { caps: vec![cap.to_string()], ..Default::default() }, ..allow(names) });
    }
    let without_admin = Filter { caps: vec!["CAP_SYS_ADMIN".into()], ..Default::default() };
    // Plain fork-like clones only: the namespace flags are CAP_SYS_ADMIN's.
    rules.push(SyscallRule {
        args: vec![Arg { index: 0, value: CLONE_NAMESPACE_FLAGS, value_two: 0, op: "SCMP_CMP_MASKED_EQ".into() }],
        excludes: without_admin.clone(),
        ..allow(&["clone"])
    });
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to
    // clone, whose flags the rule above checks.
    rules.push(SyscallRule {
        names: vec!["clone3".into()],
        action: "SCMP_ACT_ERRNO".into(),
        errno_ret: Some(ENOSYS),
        excludes: without_admin,
        ..Default::default()
    });
    for persona in PERSONAS {
        rules.push(SyscallRule { args: vec![Arg { index: 0, value: *persona, value_two: 0, op: "SCMP_CMP_EQ".into() }], ..allow(&["personality"]) });
    }
    rules.push(SyscallRule { args: vec![Arg { index: 0, value: AF_VSOCK, value_two: 0, op: "SCMP_CMP_NE".into() }], ..allow(&["socket"]) });
    Profile {
        default_action: "SCMP_ACT_ERRNO".into(),
        default_errno_ret: Some(EPERM),
        // The native ABI and the others its CPU runs, so a call through a compat ABI (x86
        // `int 0x80` on x86_64) meets the same list instead of libseccomp's bad-arch action.
        arch_map: vec![
            ArchMap { architecture: "SCMP_ARCH_X86_64".into(), sub_architectures: Some(strings(&["SCMP_ARCH_X86", "SCMP_ARCH_X32"])) },
            ArchMap { architecture: "SCMP_ARCH_AARCH64".into(), sub_architectures: Some(strings(&["SCMP_ARCH_ARM"])) },
        ],
        syscalls: rules,
        ..Default::default()
    }
}

/// This host's architecture as Go (`amd64`) and libseccomp (`SCMP_ARCH_X86_64`) name it.
fn host_arch() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "SCMP_ARCH_X86_64"),
        "x86" => ("386", "SCMP_ARCH_X86"),
        "aarch64" => ("arm64", "SCMP_ARCH_AARCH64"),
        "arm" => ("arm", "SCMP_ARCH_ARM"),
        "riscv64" => ("riscv64", "SCMP_ARCH_RISCV64"),
        "s390x" => ("s390x", "SCMP_ARCH_S390X"),
        "powerpc64" => ("ppc64le", "SCMP_ARCH_PPC64LE"),
        "loongarch64" => ("loong64", "SCMP_ARCH_LOONGARCH64"),
        other => (other, "SCMP_ARCH_NATIVE"),
    }
}

fn host_kernel() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    profile::parse_kernel(&release)
}

/// Resolves `profile` for a container holding `caps` on this host.
pub fn resolve(profile: &Profile, caps: &[String]) -> Value {
    let (arch, scmp_arch) = host_arch();
    profile::translate(profile, &Target { arch, scmp_arch, kernel: host_kernel(), caps })
}

/// The builtin profile for a container holding `caps` (names like `CAP_SYS_ADMIN`).
pub fn default_profile(caps: &[String]) -> Value {
    resolve(&builtin(), caps)
}

/// The `linux.seccomp` object for `choice`, or `None` for no filter.
pub fn for_container(choice: &Seccomp, caps: &[String]) -> Option<Value> {
    match choice {
        Seccomp::Builtin => Some(default_profile(caps)),
        Seccomp::Unconfined => None,
        Seccomp::Custom(p) => Some(resolve(p, caps)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_for<'a>(v: &'a Value, name: &str) -> Vec<&'a Value> {
        v["syscalls"].as_array().unwrap().iter().filter(|r| r["names"].as_array().unwrap().iter().any(|n| n == name)).collect()
    }

    fn allowed_plainly(v: &Value, name: &str) -> bool {
        rules_for(v, name).iter().any(|r| r["action"] == ALLOW && r.get("args").is_none())
    }

    #[test]
    fn builtin_profile_is_valid_and_an_allow_list() {
        builtin().validate().unwrap();
        let p = default_profile(&crate::spec::default_capabilities());
        assert_eq!(p["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(p["defaultErrnoRet"], EPERM);
        for name in ["read", "execve", "capset", "setresuid", "close_range", "chroot", "wait4", "rt_sigreturn", "exit_group"] {
            assert!(allowed_plainly(&p, name), "{name} not allowed");
        }
        for name in ["mount", "unshare", "setns", "kexec_load", "init_module", "io_uring_setup", "keyctl", "bpf", "reboot", "syslog", "ustat"] {
            assert!(rules_for(&p, name).is_empty(), "{name} has a rule");
        }
        let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(p).unwrap();
        if std::env::consts::ARCH == "x86_64" {
            let p = default_profile(&[]);
            assert_eq!(p["architectures"], serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
            assert!(allowed_plainly(&p, "arch_prctl"));
            assert!(rules_for(&p, "set_tls").is_empty());
        }
    }

    #[test]
    fn clone_is_filtered_without_sys_admin() {
        let p = default_profile(&[]);
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1, "{clone:?}");
        let arg = &clone[0]["args"][0];
        assert_eq!(arg["op"], "SCMP_CMP_MASKED_EQ");
        // libcontainer reads valueTwo as the mask: (flags & namespaces) == 0.
        assert_eq!((arg["value"].as_u64(), arg["valueTwo"].as_u64()), (Some(0), Some(CLONE_NAMESPACE_FLAGS)));
        let clone3 = rules_for(&p, "clone3");
        assert_eq!((clone3.len(), &clone3[0]["action"], &clone3[0]["errnoRet"]), (1, &serde_json::json!("SCMP_ACT_ERRNO"), &serde_json::json!(ENOSYS)));

        let admin = default_profile(&["CAP_SYS_ADMIN".into()]);
        assert!(allowed_plainly(&admin, "clone") && allowed_plainly(&admin, "clone3") && allowed_plainly(&admin, "mount"));
        assert!(rules_for(&admin, "clone").iter().all(|r| r.get("args").is_none()));
        assert!(rules_for(&admin, "clone3").iter().all(|r| r["action"] == ALLOW));
    }

    #[test]
    fn capabilities_add_their_calls() {
        let none = default_profile(&[]);
        let cases = [
            ("CAP_SYS_TIME", "clock_settime"),
            ("CAP_SYS_PTRACE", "kcmp"),
            ("CAP_SYS_MODULE", "finit_module"),
            ("CAP_SYS_BOOT", "reboot"),
            ("CAP_SYS_CHROOT", "chroot"),
            ("CAP_SYSLOG", "syslog"),
            ("CAP_DAC_READ_SEARCH", "open_by_handle_at"),
            ("CAP_SYS_NICE", "mbind"),
            ("CAP_SYS_TTY_CONFIG", "vhangup"),
        ];
        for (cap, call) in cases {
            assert!(!allowed_plainly(&none, call), "{call} allowed without {cap}");
            assert!(allowed_plainly(&default_profile(&[cap.into()]), call), "{call} not allowed with {cap}");
        }
    }

    #[test]
    fn personality_and_socket_are_conditional() {
        let p = default_profile(&[]);
        let personas: Vec<u64> = rules_for(&p, "personality").iter().map(|r| r["args"][0]["value"].as_u64().unwrap()).collect();
        assert_eq!(personas, PERSONAS);
        assert!(!personas.contains(&0x0004_0000), "ADDR_NO_RANDOMIZE must stay refused");
        let socket = rules_for(&p, "socket");
        assert_eq!((socket.len(), &socket[0]["args"][0]["op"]), (1, &serde_json::json!("SCMP_CMP_NE")));
    }

    #[test]
    fn choices_map_to_filters() {
        assert!(for_container(&Seccomp::Unconfined, &[]).is_none());
        assert_eq!(for_container(&Seccomp::Builtin, &[]), Some(default_profile(&[])));
        let custom = Profile::parse(r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#).unwrap();
        let v = for_container(&Seccomp::Custom(Box::new(custom)), &[]).unwrap();
        assert_eq!(v["defaultAction"], ALLOW);
        assert_eq!(v["syscalls"][0]["names"], serde_json::json!(["mkdir", "mkdirat"]));
    }
}
