//! The builtin profile's tables: which calls a container may make, grouped by purpose.
//!
//! The semantics follow Docker's default profile (an allow-list; more calls with given
//! capabilities; `clone` without namespace flags; `clone3` answered with ENOSYS; `personality`
//! with a few known personas; no AF_VSOCK sockets), but the grouping and the list are ours.
//! Names the host's libseccomp does not know (calls newer than it) are skipped by libcontainer
//! when it loads the filter, so listing a recent call here is harmless on an older host.

/// Calls every container may make, by purpose.
#[rustfmt::skip]
pub const ALLOWED: &[(&str, &[&str])] = &[
    (
        "process lifecycle and scheduling",
        &[
            "exit", "exit_group", "fork", "vfork", "execve", "execveat", "wait4", "waitid", "waitpid", "kill", "tkill", "tgkill", "getpid",
            "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address", "set_robust_list", "get_robust_list",
            "restart_syscall", "rseq", "prctl", "capget", "capset", "getpriority", "setpriority", "sched_yield", "sched_getaffinity",
            "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
            "sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64", "getcpu", "getrusage",
            "times", "prlimit64", "getrlimit", "setrlimit", "ugetrlimit", "ioprio_get", "ioprio_set", "pidfd_open", "pidfd_send_signal",
            "process_mrelease", "uname", "sysinfo", "umask", "membarrier", "get_thread_area", "set_thread_area",
        ],
    ),
    (
        // Self-confinement: a process may always restrict itself further.
        "self-confinement",
        &["seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "mseal"],
    ),
    (
        "user and group identity (the kernel checks CAP_SETUID/CAP_SETGID)",
        &[
            "getuid", "getuid32", "geteuid", "geteuid32", "getgid", "getgid32", "getegid", "getegid32", "getresuid", "getresuid32", "getresgid",
            "getresgid32", "getgroups", "getgroups32", "setuid", "setuid32", "setgid", "setgid32", "setreuid", "setreuid32", "setregid",
            "setregid32", "setresuid", "setresuid32", "setresgid", "setresgid32", "setgroups", "setgroups32", "setfsuid", "setfsuid32", "setfsgid",
            "setfsgid32",
        ],
    ),
    (
        "signals",
        &[
            "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend", "rt_sigpending", "rt_sigtimedwait", "rt_sigtimedwait_time64",
            "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "sigreturn", "sigprocmask", "signalfd", "signalfd4", "pause", "alarm",
        ],
    ),
    (
        "memory",
        &[
            "brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2", "mlockall", "munlock",
            "munlockall", "remap_file_pages", "memfd_create", "memfd_secret", "pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack",
        ],
    ),
    (
        // Reading clocks and timers; setting the clock is CAP_SYS_TIME's (adjtimex and
        // clock_adjtime only read without it, the kernel checks).
        "time and timers",
        &[
            "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64", "clock_nanosleep", "clock_nanosleep_time64", "nanosleep",
            "gettimeofday", "time", "adjtimex", "clock_adjtime", "clock_adjtime64", "getitimer", "setitimer", "timer_create", "timer_delete",
            "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
            "timerfd_gettime64", "timerfd_settime", "timerfd_settime64",
        ],
    ),
    (
        "file descriptors and IO",
        &[
            "open", "openat", "openat2", "creat", "close", "close_range", "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv",
            "pwritev", "preadv2", "pwritev2", "lseek", "_llseek", "dup", "dup2", "dup3", "fcntl", "fcntl64", "ioctl", "flock", "fsync", "fdatasync",
            "sync", "syncfs", "sync_file_range", "fallocate", "fadvise64", "fadvise64_64", "readahead", "truncate", "truncate64", "ftruncate",
            "ftruncate64", "sendfile", "sendfile64", "splice", "tee", "vmsplice", "copy_file_range", "pipe", "pipe2", "cachestat",
        ],
    ),
    (
        "file metadata",
        &[
            "stat", "stat64", "lstat", "lstat64", "fstat", "fstat64", "fstatat64", "newfstatat", "statx", "statfs", "statfs64", "fstatfs",
            "fstatfs64", "access", "faccessat", "faccessat2", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "chown32", "fchown", "fchown32",
            "lchown", "lchown32", "fchownat", "utime", "utimes", "utimensat", "utimensat_time64", "futimesat", "getxattr", "lgetxattr", "fgetxattr",
            "getxattrat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat", "listxattr", "llistxattr", "flistxattr", "listxattrat", "removexattr",
            "lremovexattr", "fremovexattr", "removexattrat", "name_to_handle_at",
        ],
    ),
    (
        "directories and names",
        &[
            "getcwd", "chdir", "fchdir", "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "rename", "renameat", "renameat2", "link", "linkat",
            "symlink", "symlinkat", "unlink", "unlinkat", "readlink", "readlinkat", "mknod", "mknodat",
        ],
    ),
    ("file change notification", &["inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark"]),
    (
        "waiting on events",
        &[
            "poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64", "epoll_create", "epoll_create1", "epoll_ctl",
            "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "futex", "futex_time64",
            "futex_waitv", "futex_wake", "futex_wait", "futex_requeue",
        ],
    ),
    // io_uring is left out on purpose: its operations are not syscalls a filter can see, and it
    // has been a steady source of escapes. Docker dropped it from its list too.
    ("asynchronous IO", &["io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64"]),
    (
        "System V and POSIX IPC (the container has its own IPC namespace)",
        &[
            "ipc", "msgctl", "msgget", "msgrcv", "msgsnd", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "shmat", "shmctl",
            "shmdt", "shmget", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64",
            "mq_notify", "mq_getsetattr",
        ],
    ),
    (
        // `socket` itself is a conditional rule (no AF_VSOCK), see the builder.
        "sockets",
        &[
            "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername", "getsockopt", "setsockopt", "sendto",
            "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "recvmmsg_time64", "send", "recv", "shutdown", "socketcall",
        ],
    ),
    ("randomness", &["getrandom"]),
];

/// Calls allowed only on the given architectures (Go names, as in Docker profiles).
pub const ARCH_ONLY: &[(&[&str], &[&str])] = &[
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86", "386"], &["modify_ldt"]),
    (&["arm", "arm64"], &["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"]),
];

/// Calls allowed on kernels new enough to check them properly: before 4.8 ptrace could be used
/// to bypass seccomp.
pub const MIN_KERNEL: &[(&str, &[&str])] = &[("4.8", &["ptrace", "process_vm_readv", "process_vm_writev"])];

/// Calls allowed when the container holds a capability.
#[rustfmt::skip]
pub const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        // Namespaces, mounts, quotas, host and domain names. `clone`/`clone3` are allowed
        // whole here; without the capability `clone` is conditional (see the builder).
        // pivot_root is not in Docker's list; it was allowed with the capability before this
        // profile was an allow-list, so it stays.
        "CAP_SYS_ADMIN",
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick", "lookup_dcookie", "mount", "mount_setattr",
            "move_mount", "open_tree", "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
            "umount2", "unshare", "pivot_root",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["init_module", "finit_module", "delete_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node", "move_pages"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
];

/// `personality` values allowed: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and
/// 0xffffffff (query the current persona). Flags such as ADDR_NO_RANDOMIZE are refused.
pub const PERSONAS: &[u64] = &[0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// Namespace flags `clone` may not carry without CAP_SYS_ADMIN: NEWNS, NEWCGROUP, NEWUTS,
/// NEWIPC, NEWUSER, NEWPID, NEWNET.
pub const CLONE_NAMESPACE_FLAGS: u64 = 0x0002_0000 | 0x0200_0000 | 0x0400_0000 | 0x0800_0000 | 0x1000_0000 | 0x2000_0000 | 0x4000_0000;

/// The address family refused to `socket`: AF_VSOCK reaches the hypervisor.
pub const AF_VSOCK: u64 = 40;

pub const EPERM: u32 = 1;
pub const ENOSYS: u32 = 38;
