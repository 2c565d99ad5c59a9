//! Docker-format seccomp profiles (what `--security-opt seccomp=<file>` sends) and their
//! translation into the OCI spec's `linux.seccomp` for one container on this host.
//!
//! A Docker profile is host-independent: rules carry `includes`/`excludes` conditions on the
//! container's capabilities, the host architecture and the kernel version, and `archMap` lists
//! the ABIs to filter per native architecture. Translation resolves all of that for one
//! container, so the OCI filter is a flat list of rules. Parsing validates everything that could
//! make the runtime refuse the filter later, so a bad profile is refused when the container is
//! created, not when it starts.

use serde::Deserialize;
use serde_json::{json, Map, Value};

/// Why a profile was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("Decoding seccomp profile failed: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("invalid seccomp profile: {0}")]
    Invalid(String),
}

fn invalid(msg: impl Into<String>) -> ProfileError {
    ProfileError::Invalid(msg.into())
}

/// A seccomp profile in Docker's JSON format.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(default)]
    pub default_action: String,
    pub default_errno_ret: Option<u32>,
    #[serde(default)]
    pub architectures: Vec<String>,
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: String,
}

/// The ABIs to filter when the host's native architecture is `architecture`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: String,
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// One rule: an action for some calls, maybe only for some argument values, capabilities,
/// architectures or kernels.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub action: String,
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Vec<Arg>,
    #[serde(default)]
    pub includes: Filter,
    #[serde(default)]
    pub excludes: Filter,
}

/// A comparison on one argument. For `SCMP_CMP_MASKED_EQ`, `value` is the mask and
/// `value_two` the value the masked argument must equal (runc's reading).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Arg {
    pub index: u32,
    pub value: u64,
    #[serde(default)]
    pub value_two: u64,
    pub op: String,
}

/// Conditions on where a rule applies.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Filter {
    #[serde(default)]
    pub arches: Vec<String>,
    #[serde(default)]
    pub caps: Vec<String>,
    #[serde(default)]
    pub min_kernel: Option<String>,
}

const ACTIONS: &[&str] =
    &["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP", "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG"];
const OPS: &[&str] = &["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"];
const ARCHES: &[&str] = &[
    "SCMP_ARCH_NATIVE",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];
const FLAGS: &[&str] = &["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"];

fn check_action(action: &str, what: &str) -> Result<(), ProfileError> {
    if action == "SCMP_ACT_NOTIFY" {
        return Err(invalid(format!("{what}: SCMP_ACT_NOTIFY is not supported (no seccomp listener)")));
    }
    if !ACTIONS.contains(&action) {
        return Err(invalid(format!("{what}: unknown action {action:?}")));
    }
    Ok(())
}

/// Parses "major.minor" (as Docker's minKernel), ignoring anything after the minor number.
pub(crate) fn parse_kernel(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts.next()?.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((major, minor.parse().ok()?))
}

impl Profile {
    /// Decodes and validates a profile's JSON text.
    pub fn parse(text: &str) -> Result<Profile, ProfileError> {
        let profile: Profile = serde_json::from_str(text)?;
        profile.validate()?;
        Ok(profile)
    }

    /// Checks everything the runtime would otherwise refuse at start.
    pub fn validate(&self) -> Result<(), ProfileError> {
        if self.default_action.is_empty() {
            return Err(invalid("defaultAction is required"));
        }
        check_action(&self.default_action, "defaultAction")?;
        if !self.listener_path.is_empty() {
            return Err(invalid("listenerPath is not supported (no seccomp listener)"));
        }
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err(invalid("both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'"));
        }
        let subs = self.arch_map.iter().flat_map(|m| std::iter::once(&m.architecture).chain(m.sub_architectures.iter().flatten()));
        for arch in self.architectures.iter().chain(subs) {
            if !ARCHES.contains(&arch.as_str()) {
                return Err(invalid(format!("unknown architecture {arch:?}")));
            }
        }
        for flag in &self.flags {
            if !FLAGS.contains(&flag.as_str()) {
                return Err(invalid(format!("unknown flag {flag:?}")));
            }
        }
        for (i, rule) in self.syscalls.iter().enumerate() {
            let what = format!("syscalls[{i}]");
            if !rule.name.is_empty() && !rule.names.is_empty() {
                return Err(invalid(format!("{what}: use either 'name' or 'names'")));
            }
            if rule.name.is_empty() && (rule.names.is_empty() || rule.names.iter().any(|n| n.is_empty())) {
                return Err(invalid(format!("{what}: no syscall names")));
            }
            check_action(&rule.action, &what)?;
            for arg in &rule.args {
                if arg.index > 5 {
                    return Err(invalid(format!("{what}: argument index {} out of range (0-5)", arg.index)));
                }
                if !OPS.contains(&arg.op.as_str()) {
                    return Err(invalid(format!("{what}: unknown operator {:?}", arg.op)));
                }
            }
            for min in [&rule.includes.min_kernel, &rule.excludes.min_kernel].into_iter().flatten() {
                if parse_kernel(min).is_none() {
                    return Err(invalid(format!("{what}: invalid kernel version {min:?}")));
                }
            }
        }
        Ok(())
    }
}

/// What translation needs to know about the host and the container.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Go's name for the native architecture (`amd64`, `arm64`...), as profiles name it.
    pub arch: &'a str,
    /// libseccomp's name for it (`SCMP_ARCH_X86_64`...), to pick the `archMap` entry.
    pub scmp_arch: &'a str,
    /// The running kernel; `None` when unreadable, then `minKernel` conditions are taken as met.
    pub kernel: Option<(u32, u32)>,
    /// The container's capabilities (`CAP_...`).
    pub caps: &'a [String],
}

impl Target<'_> {
    fn kernel_at_least(&self, min: &Option<String>) -> Option<bool> {
        let min = parse_kernel(min.as_deref()?)?;
        Some(self.kernel.is_none_or(|k| k >= min))
    }

    fn applies(&self, rule: &SyscallRule) -> bool {
        let has = |c: &String| self.caps.contains(c);
        let (inc, exc) = (&rule.includes, &rule.excludes);
        if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == self.arch) {
            return false;
        }
        if !inc.caps.iter().all(has) {
            return false;
        }
        if self.kernel_at_least(&inc.min_kernel) == Some(false) {
            return false;
        }
        if exc.arches.iter().any(|a| a == self.arch) || exc.caps.iter().any(has) {
            return false;
        }
        self.kernel_at_least(&exc.min_kernel) != Some(true)
    }
}

/// One argument comparison as libcontainer 0.7 reads it. For `SCMP_CMP_MASKED_EQ` it takes
/// `valueTwo` as the mask and `value` as the expected result (runc reads them the other way
/// round), so the two are swapped here; Docker profiles are written for runc.
fn oci_arg(arg: &Arg) -> Value {
    let (value, value_two) = if arg.op == "SCMP_CMP_MASKED_EQ" { (arg.value_two, arg.value) } else { (arg.value, arg.value_two) };
    json!({"index": arg.index, "value": value, "valueTwo": value_two, "op": arg.op})
}

/// Resolves a validated profile for one container into the OCI `linux.seccomp` object.
pub fn translate(profile: &Profile, target: &Target) -> Value {
    let mut out = Map::new();
    out.insert("defaultAction".into(), json!(profile.default_action));
    if let Some(errno) = profile.default_errno_ret {
        out.insert("defaultErrnoRet".into(), json!(errno));
    }
    let arches: Vec<&String> = if profile.arch_map.is_empty() {
        profile.architectures.iter().collect()
    } else {
        profile
            .arch_map
            .iter()
            .filter(|m| m.architecture == target.scmp_arch)
            .flat_map(|m| std::iter::once(&m.architecture).chain(m.sub_architectures.iter().flatten()))
            .collect()
    };
    if !arches.is_empty() {
        out.insert("architectures".into(), json!(arches));
    }
    if !profile.flags.is_empty() {
        out.insert("flags".into(), json!(profile.flags));
    }
    let rules: Vec<Value> = profile
        .syscalls
        .iter()
        .filter(|r| target.applies(r))
        .map(|r| {
            let names = if r.name.is_empty() { r.names.clone() } else { vec![r.name.clone()] };
            let mut rule = json!({"names": names, "action": r.action});
            if let Some(errno) = r.errno_ret {
                rule["errnoRet"] = json!(errno);
            }
            if !r.args.is_empty() {
                rule["args"] = Value::Array(r.args.iter().map(oci_arg).collect());
            }
            rule
        })
        .collect();
    out.insert("syscalls".into(), Value::Array(rules));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(caps: &[String]) -> Target<'_> {
        Target { arch: "amd64", scmp_arch: "SCMP_ARCH_X86_64", kernel: Some((6, 1)), caps }
    }

    #[test]
    fn docker_profile_is_resolved_for_the_container() {
        let text = r#"{
            "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
                        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}],
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"name": "arch_prctl", "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
                {"names": ["set_tls"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}},
                {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
                {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
                {"names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "9.0"}},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]},
                 "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13, "args": [{"index": 1, "value": 448, "op": "SCMP_CMP_EQ"}]}
            ]}"#;
        let p = Profile::parse(text).unwrap();
        let out = translate(&p, &target(&[]));
        assert_eq!(out["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(out["defaultErrnoRet"], 1);
        assert_eq!(out["architectures"], json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]));
        let names: Vec<String> = out["syscalls"].as_array().unwrap().iter().map(|r| r["names"][0].as_str().unwrap().to_string()).collect();
        assert_eq!(names, ["read", "arch_prctl", "ptrace", "clone", "mkdir"]);
        // The masked comparison is written the way libcontainer reads it: mask in valueTwo.
        let clone = &out["syscalls"][3]["args"][0];
        assert_eq!((clone["value"].as_u64(), clone["valueTwo"].as_u64()), (Some(0), Some(2114060288)));
        let mkdir = &out["syscalls"][4];
        assert_eq!((mkdir["errnoRet"].as_u64(), mkdir["args"][0]["value"].as_u64()), (Some(13), Some(448)));
        // And the OCI types accept it.
        let _: oci_spec::runtime::LinuxSeccomp = serde_json::from_value(out).unwrap();

        let admin = ["CAP_SYS_ADMIN".to_string()];
        let out = translate(&p, &target(&admin));
        let text = out.to_string();
        assert!(text.contains("\"mount\"") && !text.contains("\"clone\""), "{text}");
    }

    #[test]
    fn bad_profiles_are_refused_with_a_reason() {
        let cases = [
            ("{not json", "Decoding seccomp profile failed"),
            (r#"{"syscalls": []}"#, "defaultAction is required"),
            (r#"{"defaultAction": "SCMP_ACT_BOGUS"}"#, "unknown action"),
            (r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#, "not supported"),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"], "action": "NOPE"}]}"#, "syscalls[0]: unknown action"),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO"}]}"#, "no syscall names"),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ERRNO"}]}"#, "either 'name' or 'names'"),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "LIKE"}]}]}"#,
                "unknown operator",
            ),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
                "out of range",
            ),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]}"#, "unknown architecture"),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}"#, "either"),
            (
                r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "new"}}]}"#,
                "kernel version",
            ),
            (r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": "mkdir"}"#, "Decoding"),
        ];
        for (text, want) in cases {
            let err = Profile::parse(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn kernel_versions_parse_like_docker() {
        assert_eq!(parse_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_kernel("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(parse_kernel("5.10-rc1"), Some((5, 10)));
        assert_eq!(parse_kernel("6"), None);
    }
}
