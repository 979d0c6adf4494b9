package seccomp

import (
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/caps"
)

var linux61 = kernelVersion{6, 1}

// defaultFilter compiles the default profile for a container with
// skiff's capabilities and extra ones, on kernel.
func defaultFilter(t *testing.T, kernel kernelVersion, extra ...string) *Filter {
	t.Helper()
	return compileOK(t, defaultProfile().resolve(append(caps.Kept(), extra...), kernel))
}

// TestDefaultNamesEveryCall: every name of the profile is a call of one
// of the tables (no typo), and every call of the tables is named, either
// allowed or denied, so that a call new in tables.go gets a decision
// (and only calls newer than the tables get ENOSYS); no call is both
// allowed to all and denied or left to a capability.
func TestDefaultNamesEveryCall(t *testing.T) {
	rule := map[string]string{} // name: the first kind of rule that names it
	kinds := []struct {
		kind  string
		rules []profileRule
	}{{"everyday", everyday()}, {"conditional", conditional()}, {"capability", capabilityRules()},
		{"never", []profileRule{allow(neverAllowed...)}}}
	for _, k := range kinds {
		for _, r := range k.rules {
			for _, name := range r.Names {
				if first, ok := rule[name]; ok && first != k.kind && !(first == "conditional" && k.kind == "capability") {
					t.Errorf("%s is both %s and %s", name, first, k.kind)
				}
				if _, ok := rule[name]; !ok {
					rule[name] = k.kind
				}
			}
		}
	}
	tables := []*table{tableX86_64, tableI386, tableX32}
	for name := range rule {
		if !slices.ContainsFunc(tables, func(t *table) bool { _, ok := t.lookup(name); return ok }) {
			t.Errorf("%s is no call of x86_64, i386 or x32", name)
		}
	}
	for _, tab := range tables {
		for _, c := range tab.calls {
			if _, ok := rule[c.name]; !ok {
				t.Errorf("the default profile does not name %s (%d)", c.name, c.nr)
			}
		}
	}
	for i, r := range defaultProfile().Syscalls {
		if err := r.check(); err != nil {
			t.Errorf("syscalls[%d]: %v", i, err)
		}
	}
}

// The calls the default profile denies with EPERM whatever the arguments,
// with skiff's capabilities.
var deniedCalls = map[string]uint32{
	"keyctl": unix.SYS_KEYCTL, "add_key": unix.SYS_ADD_KEY, "request_key": unix.SYS_REQUEST_KEY,
	"unshare": unix.SYS_UNSHARE, "setns": unix.SYS_SETNS, "mount": unix.SYS_MOUNT, "umount2": unix.SYS_UMOUNT2,
	"pivot_root": unix.SYS_PIVOT_ROOT, "fsopen": unix.SYS_FSOPEN, "open_tree": unix.SYS_OPEN_TREE,
	"move_mount": unix.SYS_MOVE_MOUNT, "swapon": unix.SYS_SWAPON, "swapoff": unix.SYS_SWAPOFF,
	"init_module": unix.SYS_INIT_MODULE, "finit_module": unix.SYS_FINIT_MODULE, "delete_module": unix.SYS_DELETE_MODULE,
	"kexec_load": unix.SYS_KEXEC_LOAD, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD, "reboot": unix.SYS_REBOOT,
	"clock_settime": unix.SYS_CLOCK_SETTIME, "settimeofday": unix.SYS_SETTIMEOFDAY, "adjtimex": unix.SYS_ADJTIMEX,
	"clock_adjtime": unix.SYS_CLOCK_ADJTIME, "bpf": unix.SYS_BPF, "perf_event_open": unix.SYS_PERF_EVENT_OPEN,
	"userfaultfd": unix.SYS_USERFAULTFD, "open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT,
	"io_uring_setup": unix.SYS_IO_URING_SETUP, "syslog": unix.SYS_SYSLOG, "acct": unix.SYS_ACCT,
	"iopl": unix.SYS_IOPL, "ioperm": unix.SYS_IOPERM, "quotactl": unix.SYS_QUOTACTL, "sethostname": unix.SYS_SETHOSTNAME,
	"vhangup": unix.SYS_VHANGUP, "kcmp": unix.SYS_KCMP, "pidfd_getfd": unix.SYS_PIDFD_GETFD, "mbind": unix.SYS_MBIND,
	"lookup_dcookie": unix.SYS_LOOKUP_DCOOKIE, "_sysctl": unix.SYS__SYSCTL, "uselib": unix.SYS_USELIB,
	"migrate_pages": unix.SYS_MIGRATE_PAGES,
}

const (
	glibcFork   = unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID | uint64(unix.SIGCHLD)
	glibcThread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
		unix.CLONE_SYSVSEM | unix.CLONE_SETTLS | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID
	vfork = unix.CLONE_VM | unix.CLONE_VFORK | uint64(unix.SIGCHLD)
)

// TestDefaultDenies: the calls of the issue fail with EPERM, in the three
// architectures; clone with a namespace flag too; clone3 with ENOSYS;
// personality with a flag that changes the memory layout; socket for
// AF_VSOCK and AF_ALG; ptrace before Linux 4.8.
func TestDefaultDenies(t *testing.T) {
	f := defaultFilter(t, linux61)
	eperm := errno(unix.EPERM)
	for name, nr := range deniedCalls {
		if got := f.Eval(native, nr); got != eperm {
			t.Errorf("%s: action %#x, want EPERM", name, got)
		}
		if x32, ok := tableX32.lookup(name); ok {
			expect(t, f, native, x32Bit|uint32(x32), nil, eperm)
		}
		if i386, ok := tableI386.lookup(name); ok {
			expect(t, f, unix.AUDIT_ARCH_I386, uint32(i386), nil, eperm)
		}
	}
	for _, ns := range []uint64{unix.CLONE_NEWUSER, unix.CLONE_NEWNS, unix.CLONE_NEWPID, unix.CLONE_NEWNET,
		unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWCGROUP} {
		expect(t, f, native, unix.SYS_CLONE, []uint64{glibcFork | ns}, eperm)
		expect(t, f, unix.AUDIT_ARCH_I386, 120, []uint64{glibcFork | ns}, eperm) // i386's clone
		expect(t, f, native, x32Bit|unix.SYS_CLONE, []uint64{glibcFork | ns}, eperm)
	}
	// The upper half of a 64-bit register is no namespace flag, and no
	// way around the mask either.
	expect(t, f, native, unix.SYS_CLONE, []uint64{1<<32 | unix.CLONE_NEWUSER}, eperm)
	expect(t, f, native, unix.SYS_CLONE3, []uint64{0x7ffd0000, 88}, errno(unix.ENOSYS))
	for _, persona := range []uint64{0x0040000 /* ADDR_NO_RANDOMIZE */, 0x0100000 /* MMAP_PAGE_ZERO */, 0x0400000, 1, 0x1_00000000} {
		expect(t, f, native, unix.SYS_PERSONALITY, []uint64{persona}, eperm)
	}
	for _, family := range []uint64{unix.AF_VSOCK, unix.AF_ALG} {
		expect(t, f, native, unix.SYS_SOCKET, []uint64{family, unix.SOCK_STREAM, 0}, eperm)
		expect(t, f, unix.AUDIT_ARCH_I386, 359, []uint64{family, unix.SOCK_STREAM, 0}, eperm) // i386's socket
	}
	old := defaultFilter(t, kernelVersion{4, 4})
	for _, nr := range []uint32{unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV} {
		expect(t, old, native, nr, nil, eperm)
		expect(t, f, native, nr, nil, unix.SECCOMP_RET_ALLOW)
	}
}

// TestDefaultAllows: what ordinary programs do passes.
func TestDefaultAllows(t *testing.T) {
	f := defaultFilter(t, linux61)
	for _, c := range []struct {
		arch, nr uint32
		args     []uint64
	}{
		{native, unix.SYS_READ, nil}, {native, unix.SYS_WRITE, nil}, {native, unix.SYS_OPENAT, nil},
		{native, unix.SYS_EXECVE, nil}, {native, unix.SYS_EXIT_GROUP, nil}, {native, unix.SYS_MMAP, nil},
		{native, unix.SYS_FUTEX, nil}, {native, unix.SYS_EPOLL_PWAIT, nil}, {native, unix.SYS_STATX, nil},
		{native, unix.SYS_MKDIR, nil}, {native, unix.SYS_MKDIRAT, nil}, // chapter 10's exercise 1 blocks them
		{native, unix.SYS_RT_SIGRETURN, nil}, {native, unix.SYS_WAIT4, nil}, {native, unix.SYS_SETUID, nil},
		{native, unix.SYS_CHROOT, nil}, // skiff keeps CAP_SYS_CHROOT
		{native, unix.SYS_CLONE, []uint64{glibcFork}}, {native, unix.SYS_CLONE, []uint64{glibcThread}},
		{native, unix.SYS_CLONE, []uint64{vfork}}, {native, unix.SYS_FORK, nil},
		{native, unix.SYS_PERSONALITY, []uint64{0}}, {native, unix.SYS_PERSONALITY, []uint64{0xffffffff}},
		{native, unix.SYS_PERSONALITY, []uint64{0x0008}},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_DGRAM, 0}},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE}},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_RAW, 0}}, // CAP_NET_RAW decides (skiff drops it)
		{native, unix.SYS_SOCKET, []uint64{unix.AF_NFC, unix.SOCK_SEQPACKET, 0}},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_XDP, unix.SOCK_RAW, 0}},
		{native, unix.SYS_GETXATTRAT, nil}, {native, unix.SYS_SECCOMP, nil}, {native, unix.SYS_PRCTL, nil},
		{unix.AUDIT_ARCH_I386, 3, nil},   // read
		{unix.AUDIT_ARCH_I386, 11, nil},  // execve
		{unix.AUDIT_ARCH_I386, 102, nil}, // socketcall
		{unix.AUDIT_ARCH_I386, 192, nil}, // mmap2
		{unix.AUDIT_ARCH_I386, 120, []uint64{glibcFork}},
		{unix.AUDIT_ARCH_I386, 359, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}}, // socket
		{native, x32Bit | unix.SYS_WRITE, nil}, {native, x32Bit | 520, nil},      // x32's execve
	} {
		expect(t, f, c.arch, c.nr, c.args, unix.SECCOMP_RET_ALLOW)
	}
}

// TestDefaultCapabilities: a call a capability gives a meaning passes
// only when the bounding set has it.
func TestDefaultCapabilities(t *testing.T) {
	for capability, calls := range map[string][]uint32{
		"CAP_SYS_ADMIN": {unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_SETNS, unix.SYS_UNSHARE, unix.SYS_FSOPEN,
			unix.SYS_SETHOSTNAME, unix.SYS_SYSLOG, unix.SYS_BPF},
		"CAP_SYS_PTRACE":      {unix.SYS_KCMP, unix.SYS_PIDFD_GETFD, unix.SYS_PROCESS_MADVISE},
		"CAP_SYS_TIME":        {unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME, unix.SYS_ADJTIMEX, unix.SYS_CLOCK_ADJTIME},
		"CAP_SYS_MODULE":      {unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE},
		"CAP_SYS_BOOT":        {unix.SYS_REBOOT},
		"CAP_SYS_NICE":        {unix.SYS_MBIND, unix.SYS_SET_MEMPOLICY, unix.SYS_GET_MEMPOLICY},
		"CAP_SYS_RAWIO":       {unix.SYS_IOPL, unix.SYS_IOPERM},
		"CAP_SYS_PACCT":       {unix.SYS_ACCT},
		"CAP_SYS_TTY_CONFIG":  {unix.SYS_VHANGUP},
		"CAP_SYSLOG":          {unix.SYS_SYSLOG},
		"CAP_BPF":             {unix.SYS_BPF},
		"CAP_PERFMON":         {unix.SYS_PERF_EVENT_OPEN},
		"CAP_DAC_READ_SEARCH": {unix.SYS_OPEN_BY_HANDLE_AT},
	} {
		without, with := defaultFilter(t, linux61), defaultFilter(t, linux61, capability)
		for _, nr := range calls {
			expect(t, without, native, nr, nil, errno(unix.EPERM))
			expect(t, with, native, nr, nil, unix.SECCOMP_RET_ALLOW)
		}
	}
	admin := defaultFilter(t, linux61, "CAP_SYS_ADMIN")
	expect(t, admin, native, unix.SYS_CLONE, []uint64{glibcFork | unix.CLONE_NEWUSER}, unix.SECCOMP_RET_ALLOW)
	expect(t, admin, native, unix.SYS_CLONE3, nil, unix.SECCOMP_RET_ALLOW)
	for _, nr := range []uint32{unix.SYS_KEYCTL, unix.SYS_PIVOT_ROOT, unix.SYS_SWAPON, unix.SYS_USERFAULTFD} {
		expect(t, admin, native, nr, nil, errno(unix.EPERM)) // never, not even with CAP_SYS_ADMIN
	}
	noChroot := compileOK(t, defaultProfile().resolve(nil, linux61))
	expect(t, noChroot, native, unix.SYS_CHROOT, nil, errno(unix.EPERM))
	expect(t, noChroot, native, unix.SYS_READ, nil, unix.SECCOMP_RET_ALLOW)
}

// TestDefaultUnknown: a call newer than skiff's tables gets ENOSYS, in
// each architecture; the last call of the tables (open_tree_attr, for
// CAP_SYS_ADMIN only) keeps EPERM without it.
func TestDefaultUnknown(t *testing.T) {
	f := defaultFilter(t, linux61)
	last := func(t *table) uint32 {
		var n int
		for _, c := range t.calls {
			n = max(n, c.nr)
		}
		return uint32(n)
	}
	expect(t, f, native, last(tableX86_64), nil, errno(unix.EPERM))
	for _, c := range []struct{ arch, nr uint32 }{{native, last(tableX86_64) + 1}, {native, 1000},
		{unix.AUDIT_ARCH_I386, last(tableI386) + 1}, {native, x32Bit | (last(tableX32) + 1)}} {
		expect(t, f, c.arch, c.nr, nil, errno(unix.ENOSYS))
	}
}

// TestDefaultIsFresh: the caller may change what Default returns.
func TestDefaultIsFresh(t *testing.T) {
	s := Default(nil)
	s.Syscalls[0].Names[0] = "mount"
	*s.DefaultErrnoRet = 0
	s.Syscalls = s.Syscalls[:1]
	again := Default(nil)
	if again.Syscalls[0].Names[0] != "read" || *again.DefaultErrnoRet != uint(unix.EPERM) || len(again.Syscalls) < 10 {
		t.Errorf("Default changed: %v", again.Syscalls[0])
	}
	if !slices.Equal(again.Architectures, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}) {
		t.Errorf("architectures %v", again.Architectures)
	}
}

// TestDefaultSize reports what the default filter costs: instructions
// (the kernel runs a binary search of a few of them per call) and
// compile time, which every skiff-init pays.
func TestDefaultSize(t *testing.T) {
	s := Default(caps.Kept())
	start := time.Now()
	f := compileOK(t, s)
	t.Logf("Default(caps.Kept()): %d rules, %d instructions, compiled in %v", len(s.Syscalls), f.Len(), time.Since(start))
	if f.Len() > 1000 {
		t.Errorf("%d instructions", f.Len())
	}
}

func BenchmarkDefault(b *testing.B) {
	for b.Loop() {
		Default(caps.Kept())
	}
}

func BenchmarkCompileDefault(b *testing.B) {
	s := Default(caps.Kept())
	for b.Loop() {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}
