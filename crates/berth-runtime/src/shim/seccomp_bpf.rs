//! Seccomp filters compiled once and reused.
//!
//! libseccomp turns the builtin allow-list (~360 calls, for x86_64, x86 and x32) into BPF in
//! about 11 ms, and libcontainer does that again in every container's init and every exec'd
//! process. The program depends only on the filter and the library, so a shim compiles it once
//! into a cache under the exec root (runtime state, gone at reboot) and every later container
//! with the same filter loads the cached program with one `seccomp(2)` call.
//!
//! Only filters libcontainer would load the same way are compiled here: no filter flags, no
//! notify actions, no listener. Anything else goes through libcontainer as before.

use std::collections::HashSet;
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use libseccomp::{ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall};
use sha2::{Digest, Sha256};

/// Bumped whenever the translation below changes, so older cached programs are not reused.
const TRANSLATION: &str = "berth-seccomp-bpf-1";

/// Whether `filter` can be compiled ahead and loaded as a plain program.
pub fn precompilable(filter: &LinuxSeccomp) -> bool {
    let notify = |a: LinuxSeccompAction| a == LinuxSeccompAction::ScmpActNotify;
    filter.flags().as_ref().is_none_or(|f| f.is_empty())
        && filter.listener_path().is_none()
        && !notify(filter.default_action())
        && !filter.syscalls().iter().flatten().any(|s| notify(s.action()))
}

/// The compiled program for `filter`, from `cache_dir` when an earlier shim compiled it.
pub fn compiled(filter: &LinuxSeccomp, cache_dir: &Path) -> Result<Vec<u8>, String> {
    let path = cache_path(filter, cache_dir)?;
    if let Ok(bpf) = std::fs::read(&path) {
        if valid_program(&bpf) {
            return Ok(bpf);
        }
    }
    let bpf = compile(filter)?;
    // A cache we cannot write only costs the next container the compile again.
    let _ = std::fs::create_dir_all(cache_dir).and_then(|()| crate::status::write_runtime(&path, &bpf));
    Ok(bpf)
}

fn cache_path(filter: &LinuxSeccomp, cache_dir: &Path) -> Result<PathBuf, String> {
    let json = serde_json::to_vec(filter).map_err(|e| format!("encode seccomp filter: {e}"))?;
    let lib = libseccomp::ScmpVersion::current().map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro)).unwrap_or_default();
    let mut h = Sha256::new();
    h.update(TRANSLATION.as_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(lib.as_bytes());
    h.update(&json);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(cache_dir.join(format!("{hex}.bpf")))
}

/// A classic BPF program is a whole number of 8-byte instructions, at most 4096 of them.
fn valid_program(bpf: &[u8]) -> bool {
    !bpf.is_empty() && bpf.len() % 8 == 0 && bpf.len() / 8 <= 4096
}

fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => ScmpAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(u16::try_from(errno).map_err(|_| format!("trace action value {errno} out of range"))?),
        LinuxSeccompAction::ScmpActNotify => return Err("notify actions are not precompiled".into()),
    })
}

/// Comparison as libcontainer reads it (for a masked compare, `valueTwo` is the mask).
fn compare(op: LinuxSeccompOperator, value_two: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(value_two.unwrap_or(0)),
    }
}

fn arch(arch: Arch) -> Option<ScmpArch> {
    Some(match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        _ => return None,
    })
}

/// Builds the filter with libseccomp the way libcontainer's loader does (same default action,
/// architectures, rules; names this libseccomp does not know are skipped; a rule whose action is
/// the default is redundant; several comparisons of one argument become separate rules) and
/// exports it as BPF instead of loading it.
fn compile(filter: &LinuxSeccomp) -> Result<Vec<u8>, String> {
    let default = action(filter.default_action(), filter.default_errno_ret())?;
    let mut ctx = ScmpFilterContext::new(default).map_err(|e| format!("seccomp filter: {e}"))?;
    for a in filter.architectures().iter().flatten() {
        let a = arch(*a).ok_or_else(|| format!("architecture {a:?} is not precompiled"))?;
        ctx.add_arch(a).map_err(|e| format!("seccomp architecture: {e}"))?;
    }
    ctx.set_ctl_nnp(false).map_err(|e| format!("seccomp nnp attribute: {e}"))?;
    for rule in filter.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let args: Vec<ScmpArgCompare> =
            rule.args().iter().flatten().map(|a| ScmpArgCompare::new(a.index() as u32, compare(a.op(), a.value_two()), a.value())).collect();
        let mut seen = HashSet::new();
        let split = !rule.args().iter().flatten().all(|a| seen.insert(a.index()));
        for name in rule.names() {
            let Ok(call) = ScmpSyscall::from_name(name) else { continue };
            let added = if args.is_empty() {
                ctx.add_rule(act, call).map(|_| ())
            } else if split {
                args.iter().try_for_each(|c| ctx.add_rule_conditional(act, call, std::slice::from_ref(c)).map(|_| ()))
            } else {
                ctx.add_rule_conditional(act, call, &args).map(|_| ())
            };
            added.map_err(|e| format!("seccomp rule for {name}: {e}"))?;
        }
    }
    let mut out = tempfile_in_memory()?;
    ctx.export_bpf(&out).map_err(|e| format!("export seccomp program: {e}"))?;
    let mut bpf = Vec::new();
    out.rewind().and_then(|()| out.read_to_end(&mut bpf)).map_err(|e| format!("read seccomp program: {e}"))?;
    if !valid_program(&bpf) {
        return Err(format!("libseccomp exported a malformed program ({} bytes)", bpf.len()));
    }
    Ok(bpf)
}

fn tempfile_in_memory() -> Result<std::fs::File, String> {
    let fd = nix::sys::memfd::memfd_create(c"berth-seccomp", nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC).map_err(|e| format!("memfd: {e}"))?;
    Ok(std::fs::File::from(fd))
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const u8,
}

/// Installs `bpf` on the calling thread. Needs CAP_SYS_ADMIN or no_new_privs, like any filter.
#[allow(unsafe_code)]
pub fn load(bpf: &[u8]) -> std::io::Result<()> {
    if !valid_program(bpf) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed seccomp program"));
    }
    let prog = SockFprog { len: (bpf.len() / 8) as u16, filter: bpf.as_ptr() };
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    // SAFETY: `prog` points at `bpf`, which outlives the call; the kernel copies the program.
    let rc = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0 as libc::c_ulong, &prog as *const SockFprog) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn filter(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn programs_are_compiled_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let f = filter(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["read", "write", "no_such_call"], "action": "SCMP_ACT_ALLOW"},
                         {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]}"#,
        );
        assert!(precompilable(&f));
        let first = compiled(&f, dir.path()).unwrap();
        assert!(valid_program(&first));
        let cached: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(cached.len(), 1);
        assert_eq!(compiled(&f, dir.path()).unwrap(), first);
        // A different filter is a different program under a different name.
        let g = filter(r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#);
        assert_ne!(compiled(&g, dir.path()).unwrap(), first);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_damaged_cache_entry_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let f = filter(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#);
        let good = compiled(&f, dir.path()).unwrap();
        let path = cache_path(&f, dir.path()).unwrap();
        std::fs::write(&path, b"short").unwrap();
        assert_eq!(compiled(&f, dir.path()).unwrap(), good);
        assert!(!valid_program(b"short") && load(b"short").is_err());
    }

    #[test]
    fn notify_and_flags_stay_with_libcontainer() {
        assert!(!precompilable(&filter(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}"#)));
        assert!(!precompilable(&filter(r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}"#)));
        assert!(precompilable(&filter(r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": []}"#)));
    }

    #[test]
    fn a_loaded_program_filters_like_its_profile() {
        // In a child: refuse mkdir with EACCES, then try it.
        let f = filter(r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#);
        let dir = tempfile::tempdir().unwrap();
        let bpf = compiled(&f, dir.path()).unwrap();
        let target = dir.path().join("x");
        let c_target = std::ffi::CString::new(target.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: the child makes plain syscalls only (no allocation, the test harness has other
        // threads) and leaves with _exit.
        #[allow(unsafe_code)]
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let code = if nix::sys::prctl::set_no_new_privs().is_err() || load(&bpf).is_err() {
                    3
                } else if unsafe { libc::mkdir(c_target.as_ptr(), 0o755) } == 0 {
                    2
                } else if std::io::Error::last_os_error().raw_os_error() == Some(libc::EACCES) {
                    0
                } else {
                    4
                };
                // SAFETY: _exit ends the forked child without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
                assert!(!target.exists());
            }
        }
    }
}
