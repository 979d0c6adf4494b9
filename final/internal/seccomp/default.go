package seccomp

import (
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Default is skiff's seccomp profile for a container whose bounding set
// is caps, on this kernel: in effect Docker's default. It is an allow
// list: the calls ordinary programs make pass, every other call fails
// with EPERM, and a call newer than skiff's syscall tables with ENOSYS
// (unknownCalls), so that a newer libc falls back to an older call.
//
// Why filter calls the kernel already guards with capabilities? The
// kernel's own checks run inside each call, after its code has started:
// a bug in that code (and the rarely used calls have had many) is a way
// out of the container for any process that may make the call. The
// filter stops the call at the door. And some calls are dangerous
// whatever the capabilities: the keyrings (keyctl, add_key, request_key)
// are the host's, not the container's; userfaultfd and the io_uring
// calls have been exploits' favourite tools; clone or unshare with a new
// user namespace gives a process every capability inside it, the way in
// to the code capabilities guard.
//
// The profile is data in Docker's format (profile): a rule can hold only
// with capabilities (includes) or only without (excludes). The calls a
// capability makes meaningful (mount with CAP_SYS_ADMIN, ptrace with
// CAP_SYS_PTRACE, settimeofday with CAP_SYS_TIME...) pass only when the
// container has it, so that --cap-add works without seccomp=unconfined.
func Default(caps []string) *specs.LinuxSeccomp {
	return defaultProfile().resolve(caps, runningKernel())
}

var eperm, enosys = uint(unix.EPERM), uint(unix.ENOSYS)

// defaultProfile is built when asked for, not when a program that links
// the package starts (skiff-init compiles profiles, never makes one).
func defaultProfile() *profile {
	return &profile{
		LinuxSeccomp: specs.LinuxSeccomp{
			DefaultAction: specs.ActErrno, DefaultErrnoRet: &eperm,
			// The calls of 32-bit programs go through their own tables
			// (int 0x80, and x32's numbers): a filter for x86_64 alone
			// would kill them.
			Architectures: []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32},
		},
		Syscalls: slices.Concat(everyday(), conditional(), capabilityRules(), []profileRule{denied()}),
	}
}

// everyday are the calls every program may make. Calls of the 32-bit
// tables only (the *64, *32 and *_time64 variants, socketcall, ipc) are
// listed with those of x86_64: a name a table does not have is skipped.
func everyday() []profileRule {
	return []profileRule{
		// Files: descriptors, paths, metadata, extended attributes, watches.
		allow("read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2", "pwritev2",
			"open", "openat", "openat2", "creat", "close", "close_range", "lseek", "_llseek", "dup", "dup2", "dup3",
			"fcntl", "fcntl64", "ioctl", "flock", "pipe", "pipe2", "sendfile", "sendfile64", "splice", "tee", "vmsplice",
			"copy_file_range", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "readahead", "fadvise64",
			"fadvise64_64", "fallocate", "truncate", "truncate64", "ftruncate", "ftruncate64", "cachestat",
			"stat", "fstat", "lstat", "newfstatat", "statx", "stat64", "fstat64", "lstat64", "fstatat64",
			"statfs", "fstatfs", "statfs64", "fstatfs64", "statmount", "listmount",
			"access", "faccessat", "faccessat2", "getdents", "getdents64", "getcwd", "chdir", "fchdir",
			"mkdir", "mkdirat", "rmdir", "mknod", "mknodat", "rename", "renameat", "renameat2",
			"link", "linkat", "unlink", "unlinkat", "symlink", "symlinkat", "readlink", "readlinkat",
			"chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
			"chown32", "fchown32", "lchown32", "umask", "utime", "utimes", "futimesat", "utimensat", "utimensat_time64",
			"name_to_handle_at", // its counterpart, open_by_handle_at, needs CAP_DAC_READ_SEARCH
			"getxattr", "lgetxattr", "fgetxattr", "getxattrat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat",
			"listxattr", "llistxattr", "flistxattr", "listxattrat", "removexattr", "lremovexattr", "fremovexattr",
			"removexattrat", "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark"),
		// Waiting: poll, select, epoll, descriptors for events, signals and
		// timers, asynchronous I/O (not io_uring: denied).
		allow("poll", "ppoll", "ppoll_time64", "select", "_newselect", "pselect6", "pselect6_time64",
			"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_wait", "epoll_wait_old", "epoll_pwait",
			"epoll_pwait2", "eventfd", "eventfd2", "signalfd", "signalfd4", "timerfd_create", "timerfd_settime",
			"timerfd_settime64", "timerfd_gettime", "timerfd_gettime64", "io_setup", "io_destroy", "io_submit",
			"io_cancel", "io_getevents", "io_pgetevents", "io_pgetevents_time64"),
		// Memory.
		allow("brk", "mmap", "mmap2", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2",
			"munlock", "mlockall", "munlockall", "remap_file_pages", "membarrier", "memfd_create", "memfd_secret",
			"pkey_alloc", "pkey_free", "pkey_mprotect", "map_shadow_stack", "mseal", "process_mrelease"),
		// Processes and threads: fork (clone is below), exec, wait, futexes,
		// scheduling, limits.
		allow("fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "waitpid",
			"getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address",
			"set_robust_list", "get_robust_list", "futex", "futex_time64", "futex_waitv", "futex_wait", "futex_wake",
			"futex_requeue", "rseq", "restart_syscall", "arch_prctl", "set_thread_area", "get_thread_area",
			"modify_ldt", "prctl", "seccomp", "uretprobe", "pidfd_open", "pidfd_send_signal", "getcpu", "sched_yield",
			"sched_getaffinity", "sched_setaffinity", "sched_getattr", "sched_setattr", "sched_getparam",
			"sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
			"sched_get_priority_min", "sched_rr_get_interval", "sched_rr_get_interval_time64", "getpriority",
			"setpriority", "ioprio_get", "ioprio_set", "getrlimit", "ugetrlimit", "setrlimit", "prlimit64",
			"getrusage", "times"),
		// Identity: users, groups, capabilities, Landlock.
		allow("getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid",
			"setreuid", "setregid", "setresuid", "setresgid", "setfsuid", "setfsgid", "setgroups",
			"getuid32", "geteuid32", "getgid32", "getegid32", "getresuid32", "getresgid32", "getgroups32",
			"setuid32", "setgid32", "setreuid32", "setregid32", "setresuid32", "setresgid32", "setfsuid32",
			"setfsgid32", "setgroups32", "capget", "capset",
			"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"),
		// Signals and interval timers.
		allow("kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
			"rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
			"sigaltstack", "sigreturn", "sigprocmask", "pause", "alarm", "getitimer", "setitimer"),
		// Clocks: reading them, sleeping, timers (setting them: CAP_SYS_TIME).
		allow("time", "gettimeofday", "clock_gettime", "clock_gettime64", "clock_getres", "clock_getres_time64",
			"nanosleep", "clock_nanosleep", "clock_nanosleep_time64", "timer_create", "timer_delete", "timer_settime",
			"timer_settime64", "timer_gettime", "timer_gettime64", "timer_getoverrun"),
		allow("uname", "sysinfo", "getrandom"),
		// Sockets (socket itself is below). socketcall is i386's older way to
		// every socket call: its arguments are in memory, which a filter
		// cannot read, so it cannot check the family as socket's rules do.
		allow("socketpair", "bind", "listen", "connect", "accept", "accept4", "shutdown", "getsockname",
			"getpeername", "getsockopt", "setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg",
			"recvmmsg", "recvmmsg_time64", "socketcall"),
		// System V and POSIX IPC: the container has its own IPC namespace.
		allow("shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semtimedop_time64", "semctl",
			"msgget", "msgsnd", "msgrcv", "msgctl", "ipc", "mq_open", "mq_unlink", "mq_timedsend",
			"mq_timedsend_time64", "mq_timedreceive", "mq_timedreceive_time64", "mq_notify", "mq_getsetattr"),
	}
}

// namespaceFlags are the clone flags that make new namespaces
// (CLONE_NEWTIME, 0x80, is part of clone's exit signal: unshare only).
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWUSER |
	unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWCGROUP

// personality(2) values a program may set: Linux's own (0), a 32-bit
// uname (PER_LINUX32), a 2.6 uname (UNAME26), both, and the query
// 0xffffffff. The other flags change how the kernel lays out a program's
// memory: no address randomization (ADDR_NO_RANDOMIZE), a page mapped at
// address 0 (MMAP_PAGE_ZERO, once a way around mmap_min_addr to exploit
// a kernel NULL dereference).
const perLinux32, uname26, perQuery = 0x8, 0x20000, 0xffffffff

// conditional are the calls allowed with some arguments only.
func conditional() []profileRule {
	return []profileRule{
		// clone makes threads and processes, and, with namespace flags,
		// namespaces: a user namespace gives root inside it every
		// capability, the way to the kernel code capabilities guard.
		// Without CAP_SYS_ADMIN, no namespace flag may be set.
		allow("clone").where(specs.LinuxSeccompArg{Index: 0, Op: specs.OpMaskedEqual, Value: namespaceFlags, ValueTwo: 0}).
			excludes("CAP_SYS_ADMIN"),
		// clone3 has its flags in memory, where a filter cannot read them:
		// ENOSYS makes glibc (2.34 and later) fall back to clone.
		{LinuxSyscall: specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
			Excludes: &condition{Caps: []string{"CAP_SYS_ADMIN"}}},
		allow("personality").where(equal(0, 0)), allow("personality").where(equal(0, perLinux32)),
		allow("personality").where(equal(0, uname26)), allow("personality").where(equal(0, uname26|perLinux32)),
		allow("personality").where(equal(0, perQuery)),
		// Every socket family but two: AF_VSOCK reaches the hypervisor
		// and the host's VMs, whatever the network namespace; AF_ALG is the
		// kernel's crypto API, a large attack surface no ordinary program
		// needs (Docker blocks both). Three rules, as two conditions on one
		// argument make two rules that either may match (syscallRules).
		allow("socket").where(specs.LinuxSeccompArg{Index: 0, Op: specs.OpLessThan, Value: unix.AF_ALG}),
		allow("socket").where(equal(0, unix.AF_NFC)), // between AF_ALG and AF_VSOCK
		allow("socket").where(specs.LinuxSeccompArg{Index: 0, Op: specs.OpGreaterThan, Value: unix.AF_VSOCK}),
	}
}

// capabilityRules are the calls allowed only to a container whose
// bounding set has the capability that gives them a meaning.
func capabilityRules() []profileRule {
	return []profileRule{
		allow("mount", "umount", "umount2", "mount_setattr", "move_mount", "open_tree", "open_tree_attr", "fsopen",
			"fsconfig", "fsmount", "fspick", "clone", "clone3", "unshare", "setns", "sethostname", "setdomainname",
			"quotactl", "quotactl_fd", "lookup_dcookie", "fanotify_init", "syslog", "bpf", "perf_event_open",
			"lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules").includes("CAP_SYS_ADMIN"),
		// Before Linux 4.8 a tracer could change a call after the filter had
		// seen it: ptrace was a way around seccomp.
		allow("ptrace", "process_vm_readv", "process_vm_writev").minKernel("4.8"),
		allow("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "process_madvise").
			includes("CAP_SYS_PTRACE"),
		allow("settimeofday", "stime", "clock_settime", "clock_settime64", "adjtimex", "clock_adjtime",
			"clock_adjtime64").includes("CAP_SYS_TIME"), // the clock is the host's
		allow("init_module", "finit_module", "delete_module").includes("CAP_SYS_MODULE"),
		allow("reboot").includes("CAP_SYS_BOOT"), // in a PID namespace, it ends the container
		allow("chroot").includes("CAP_SYS_CHROOT"),
		allow("acct").includes("CAP_SYS_PACCT"),
		allow("iopl", "ioperm").includes("CAP_SYS_RAWIO"),
		allow("vhangup").includes("CAP_SYS_TTY_CONFIG"),
		allow("mbind", "set_mempolicy", "get_mempolicy", "set_mempolicy_home_node").includes("CAP_SYS_NICE"),
		allow("syslog").includes("CAP_SYSLOG"),
		allow("bpf").includes("CAP_BPF"),
		allow("perf_event_open").includes("CAP_PERFMON"),
		// The "shocker" escape: a file handle opens any file of the host's
		// filesystem, outside the container's root.
		allow("open_by_handle_at").includes("CAP_DAC_READ_SEARCH"),
	}
}

// neverAllowed are calls no container makes, whatever its capabilities:
// the keyrings, which are the host's; swap and kexec, the host's
// business; pivot_root (the runtime's job, done); userfaultfd, which
// stalls the kernel in the middle of a copy for as long as an exploit
// wants; io_uring, which does system calls' work outside of them and had
// many bugs; NUMA page moves; and calls no current program makes: 2.4's
// module loading, nfsservctl, _sysctl, uselib, ustat, sysfs, the unused
// slots of x86_64, and i386's relics (vm86, old stat and signal calls).
var neverAllowed = []string{
	"keyctl", "add_key", "request_key", "swapon", "swapoff", "kexec_load", "kexec_file_load", "pivot_root",
	"userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register", "migrate_pages", "move_pages",
	"create_module", "get_kernel_syms", "query_module", "nfsservctl", "_sysctl", "uselib", "ustat", "sysfs",
	"afs_syscall", "tuxcall", "security", "vserver", "getpmsg", "putpmsg",
	"vm86", "vm86old", "break", "stty", "gtty", "ftime", "prof", "profil", "lock", "mpx", "idle", "ulimit",
	"nice", "bdflush", "readdir", "oldstat", "oldfstat", "oldlstat", "olduname", "oldolduname", "signal",
	"sigaction", "sigsuspend", "sigpending", "sgetmask", "ssetmask",
}

// denied names every call that is not allowed to all, with the default
// action: the rule changes no call (the compiler drops it; an allowing
// rule wins), but with every call of the tables named, only a call newer
// than them is unknown and gets ENOSYS (unknownCalls): without
// CAP_SYS_ADMIN, open_tree_attr, the last call of the tables, gets EPERM.
func denied() profileRule {
	names := slices.Clone(neverAllowed)
	for _, r := range capabilityRules() {
		names = append(names, r.Names...)
	}
	return profileRule{LinuxSyscall: specs.LinuxSyscall{Names: names, Action: specs.ActErrno, ErrnoRet: &eperm}}
}

// The rules' vocabulary.
func allow(names ...string) profileRule {
	return profileRule{LinuxSyscall: specs.LinuxSyscall{Names: names, Action: specs.ActAllow}}
}

func (r profileRule) where(args ...specs.LinuxSeccompArg) profileRule {
	r.Args = args
	return r
}

func (r profileRule) includes(caps ...string) profileRule {
	r.Includes = &condition{Caps: caps}
	return r
}

func (r profileRule) excludes(caps ...string) profileRule {
	r.Excludes = &condition{Caps: caps}
	return r
}

func (r profileRule) minKernel(version string) profileRule {
	r.Includes = &condition{MinKernel: version}
	return r
}

func equal(index uint, value uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Op: specs.OpEqualTo, Value: value}
}
