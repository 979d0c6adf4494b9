package seccomp

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const native = unix.AUDIT_ARCH_X86_64

func compileOK(t *testing.T, s *specs.LinuxSeccomp) *Filter {
	t.Helper()
	f, err := Compile(s)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return f
}

func errno(e unix.Errno) uint32 { return unix.SECCOMP_RET_ERRNO | uint32(e) }

func ptr(v uint) *uint { return &v }

// expect evaluates calls and compares the actions.
func expect(t *testing.T, f *Filter, arch, nr uint32, args []uint64, want uint32) {
	t.Helper()
	if got := f.Eval(arch, nr, args...); got != want {
		t.Errorf("arch %#x nr %#x args %#x: action %#x, want %#x", arch, nr, args, got, want)
	}
}

func TestActions(t *testing.T) {
	f := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir"}, Action: specs.ActErrno},
		{Names: []string{"chmod"}, Action: specs.ActErrno, ErrnoRet: ptr(38)},
		{Names: []string{"getpid"}, Action: specs.ActKillProcess},
		{Names: []string{"sync"}, Action: specs.ActKill},
		{Names: []string{"syncfs"}, Action: specs.ActKillThread},
		{Names: []string{"kill"}, Action: specs.ActTrap},
		{Names: []string{"ptrace"}, Action: specs.ActTrace, ErrnoRet: ptr(5)},
		{Names: []string{"vhangup"}, Action: specs.ActTrace},
		{Names: []string{"uname"}, Action: specs.ActLog},
		{Names: []string{"read"}, Action: specs.ActAllow}, // the default: dropped
	}})
	for nr, want := range map[uint32]uint32{
		unix.SYS_MKDIR: errno(unix.EPERM), unix.SYS_CHMOD: errno(unix.ENOSYS),
		unix.SYS_GETPID: unix.SECCOMP_RET_KILL_PROCESS, unix.SYS_SYNC: unix.SECCOMP_RET_KILL_THREAD,
		unix.SYS_SYNCFS: unix.SECCOMP_RET_KILL_THREAD, unix.SYS_KILL: unix.SECCOMP_RET_TRAP,
		unix.SYS_PTRACE: unix.SECCOMP_RET_TRACE | 5, unix.SYS_VHANGUP: unix.SECCOMP_RET_TRACE | uint32(unix.EPERM),
		unix.SYS_UNAME: unix.SECCOMP_RET_LOG, unix.SYS_READ: unix.SECCOMP_RET_ALLOW,
		unix.SYS_WRITE: unix.SECCOMP_RET_ALLOW, 0xffffffff: unix.SECCOMP_RET_ALLOW,
	} {
		expect(t, f, native, nr, nil, want)
	}
}

func TestDefaultErrnoRet(t *testing.T) {
	for _, c := range []struct {
		ret  *uint
		want uint32
	}{{nil, errno(unix.EPERM)}, {ptr(38), errno(unix.ENOSYS)}} {
		f := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, DefaultErrnoRet: c.ret,
			Syscalls: []specs.LinuxSyscall{{Names: []string{"read", "write", "openat"}, Action: specs.ActAllow}}})
		expect(t, f, native, unix.SYS_MKDIR, nil, c.want)
		expect(t, f, native, unix.SYS_WRITE, nil, unix.SECCOMP_RET_ALLOW)
	}
}

// TestOperators compares every operator, in BPF and in Go, on 64-bit
// values around word boundaries, on argument 3 with the others set.
func TestOperators(t *testing.T) {
	values := []uint64{0, 1, 5, 0xfffffffe, 0xffffffff, 1 << 32, 1<<32 + 4, 1<<32 + 5, 1<<32 + 6,
		2 << 32, 2<<32 + 5, 0xffffffff_00000000, 0xffffffff_ffffffff}
	ops := map[specs.LinuxSeccompOperator]func(arg, v, v2 uint64) bool{
		specs.OpEqualTo:      func(a, v, _ uint64) bool { return a == v },
		specs.OpNotEqual:     func(a, v, _ uint64) bool { return a != v },
		specs.OpLessThan:     func(a, v, _ uint64) bool { return a < v },
		specs.OpLessEqual:    func(a, v, _ uint64) bool { return a <= v },
		specs.OpGreaterThan:  func(a, v, _ uint64) bool { return a > v },
		specs.OpGreaterEqual: func(a, v, _ uint64) bool { return a >= v },
		specs.OpMaskedEqual:  func(a, v, v2 uint64) bool { return a&v == v2 },
	}
	for op, holds := range ops {
		for _, v := range values {
			v2 := v & (1<<32 + 5) // for MASKED_EQ: the bits of the mask that are set in 1<<32+5
			f := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
				{Names: []string{"mmap"}, Action: specs.ActErrno, ErrnoRet: ptr(99),
					Args: []specs.LinuxSeccompArg{{Index: 3, Value: v, ValueTwo: v2, Op: op}}}}})
			for _, arg := range values {
				want := uint32(unix.SECCOMP_RET_ALLOW)
				if holds(arg, v, v2) {
					want = errno(99)
				}
				if got := f.Eval(native, unix.SYS_MMAP, 7, 1<<40, 3, arg, 9, 11); got != want {
					t.Errorf("%s value %#x valueTwo %#x, arg %#x: action %#x, want %#x", op, v, v2, arg, got, want)
				}
			}
		}
	}
}

// TestRulesAndOr: the conditions of a rule are ANDed, rules are ORed; two
// conditions on one argument are two rules (runc's way); rules with
// conditions come before the rule without.
func TestRulesAndOr(t *testing.T) {
	eq := func(i uint, v uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Value: v, Op: specs.OpEqualTo}
	}
	f := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActKillProcess, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"openat"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{eq(0, 1), eq(1, 2)}},
		{Names: []string{"openat"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{eq(0, 7)}},
		{Names: []string{"openat"}, Action: specs.ActAllow},
		{Names: []string{"mkdir"}, Action: specs.ActErrno},
		{Names: []string{"mkdir"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{eq(1, 0o700)}},
		{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{eq(0, 1), eq(0, 2)}},
	}})
	for _, c := range []struct {
		nr   uint32
		args []uint64
		want uint32
	}{
		{unix.SYS_OPENAT, []uint64{1, 2}, errno(unix.EPERM)},
		{unix.SYS_OPENAT, []uint64{1, 3}, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_OPENAT, []uint64{2, 2}, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_OPENAT, []uint64{7, 0}, errno(unix.EPERM)},
		{unix.SYS_MKDIR, []uint64{0, 0o700}, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_MKDIR, []uint64{0, 0o755}, errno(unix.EPERM)},
		{unix.SYS_SOCKET, []uint64{1}, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_SOCKET, []uint64{2}, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_SOCKET, []uint64{3}, unix.SECCOMP_RET_KILL_PROCESS},
		{unix.SYS_READ, nil, unix.SECCOMP_RET_KILL_PROCESS},
	} {
		expect(t, f, native, c.nr, c.args, c.want)
	}
}

// TestUnknownCalls: under a default action that denies, a call numbered
// above the highest one the profile names for its architecture (x86_64,
// x32 and i386 each have their own) fails with ENOSYS, so that a newer
// libc falls back to an older call; the calls below keep the default
// action, and nr -1 (a call a tracer skipped) too. A permissive default
// lets new calls through.
func TestUnknownCalls(t *testing.T) {
	profile := func(def specs.LinuxSeccompAction, archs ...specs.Arch) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: def, Architectures: archs, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "mkdirat", "execve"}, Action: specs.ActAllow},
			{Names: []string{"newfstatat"}, Action: def}, // dropped, but it counts: 262 on x86_64 and x32
		}}
	}
	const i386MkdirNr, i386MkdiratNr, x32ExecveNr = 39, 296, 520
	enosys, eperm := errno(unix.ENOSYS), errno(unix.EPERM)
	f := compileOK(t, profile(specs.ActErrno, specs.ArchX86_64, specs.ArchX86, specs.ArchX32))
	for _, c := range []struct {
		arch, nr uint32
		want     uint32
	}{
		{native, unix.SYS_MKDIRAT, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_MKDIR, eperm},
		{native, unix.SYS_NEWFSTATAT, eperm},
		{native, unix.SYS_NEWFSTATAT + 1, enosys},
		{native, unix.SYS_CLONE3, enosys},
		{native, 1023, enosys},
		{native, x32Bit | unix.SYS_READ, unix.SECCOMP_RET_ALLOW},
		{native, x32Bit | unix.SYS_MKDIR, eperm},
		{native, x32Bit | unix.SYS_CLONE3, eperm}, // below x32's execve
		{native, x32Bit | x32ExecveNr, unix.SECCOMP_RET_ALLOW},
		{native, x32Bit | (x32ExecveNr + 1), enosys},
		{native, 0xfffffffe, enosys},
		{native, 0xffffffff, eperm},
		{unix.AUDIT_ARCH_I386, i386MkdiratNr, unix.SECCOMP_RET_ALLOW},
		{unix.AUDIT_ARCH_I386, i386MkdirNr, eperm},
		{unix.AUDIT_ARCH_I386, i386MkdiratNr + 1, enosys},
		{unix.AUDIT_ARCH_I386, 0xffffffff, eperm},
	} {
		expect(t, f, c.arch, c.nr, nil, c.want)
	}

	native64 := compileOK(t, profile(specs.ActKillProcess))
	expect(t, native64, native, unix.SYS_MKDIR, nil, unix.SECCOMP_RET_KILL_PROCESS)
	expect(t, native64, native, unix.SYS_CLONE3, nil, enosys)
	expect(t, native64, native, x32Bit|unix.SYS_READ, nil, unix.SECCOMP_RET_KILL_PROCESS) // x32 not listed

	for def, want := range map[specs.LinuxSeccompAction]uint32{specs.ActAllow: unix.SECCOMP_RET_ALLOW,
		specs.ActLog: unix.SECCOMP_RET_LOG, specs.ActTrace: unix.SECCOMP_RET_TRACE | uint32(unix.EPERM)} {
		expect(t, compileOK(t, profile(def)), native, unix.SYS_CLONE3, nil, want)
	}
	// A profile that names no call i386 knows leaves i386 without ENOSYS.
	only64 := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"newfstatat"}, Action: specs.ActAllow}}})
	expect(t, only64, unix.AUDIT_ARCH_I386, 1000, nil, eperm)
	expect(t, only64, native, 1000, nil, enosys)
}

// TestArchitectures: x86_64 always; i386 and x32 only when listed, else
// their calls kill the process.
func TestArchitectures(t *testing.T) {
	profile := func(archs ...specs.Arch) *specs.LinuxSeccomp {
		return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: archs, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"mkdir", "execve", "no_such_call"}, Action: specs.ActErrno}}}
	}
	const i386MkdirNr, x32ExecveNr = 39, 520
	only := compileOK(t, profile())
	expect(t, only, native, unix.SYS_MKDIR, nil, errno(unix.EPERM))
	expect(t, only, unix.AUDIT_ARCH_I386, i386MkdirNr, nil, unix.SECCOMP_RET_KILL_PROCESS)
	expect(t, only, native, x32Bit|unix.SYS_READ, nil, unix.SECCOMP_RET_KILL_PROCESS)
	expect(t, only, unix.AUDIT_ARCH_AARCH64, 1, nil, unix.SECCOMP_RET_KILL_PROCESS)

	all := compileOK(t, profile(specs.ArchX86_64, specs.ArchX86, specs.ArchX32, specs.ArchAARCH64))
	expect(t, all, unix.AUDIT_ARCH_I386, i386MkdirNr, nil, errno(unix.EPERM))
	expect(t, all, unix.AUDIT_ARCH_I386, unix.SYS_MKDIR, nil, unix.SECCOMP_RET_ALLOW) // 83 is symlink on i386
	expect(t, all, native, x32Bit|unix.SYS_MKDIR, nil, errno(unix.EPERM))
	expect(t, all, native, x32Bit|unix.SYS_READ, nil, unix.SECCOMP_RET_ALLOW)
	expect(t, all, native, x32Bit|x32ExecveNr, nil, errno(unix.EPERM))
	expect(t, all, native, unix.SYS_EXECVE, nil, errno(unix.EPERM))
	expect(t, all, unix.AUDIT_ARCH_AARCH64, 1, nil, unix.SECCOMP_RET_KILL_PROCESS)

	// An i386 call's arguments are 32-bit: the upper half of the register
	// is not the argument's.
	args := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86},
		Syscalls: []specs.LinuxSyscall{{Names: []string{"mkdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 1, Value: 5, Op: specs.OpEqualTo}}}, {Names: []string{"rmdir"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{
			{Index: 0, Value: 1<<32 + 5, Op: specs.OpEqualTo}}}}})
	const i386RmdirNr = 40
	expect(t, args, unix.AUDIT_ARCH_I386, i386MkdirNr, []uint64{0, 1<<32 + 5}, errno(unix.EPERM))
	expect(t, args, unix.AUDIT_ARCH_I386, i386RmdirNr, []uint64{1<<32 + 5}, unix.SECCOMP_RET_ALLOW)
	expect(t, args, native, unix.SYS_MKDIR, []uint64{0, 1<<32 + 5}, unix.SECCOMP_RET_ALLOW)
	expect(t, args, native, unix.SYS_RMDIR, []uint64{1<<32 + 5}, errno(unix.EPERM))

	if _, err := Compile(profile("SCMP_ARCH_VAX")); err == nil || !strings.Contains(err.Error(), "SCMP_ARCH_VAX") {
		t.Errorf("an unknown architecture: %v", err)
	}
}

func TestErrors(t *testing.T) {
	bad := map[string]*specs.LinuxSeccomp{
		"SCMP_ACT_NOTIFY":            {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActNotify}}},
		"unknown action":             {DefaultAction: "SCMP_ACT_MAYBE"},
		"errnoRet is only":           {DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActAllow, ErrnoRet: ptr(1)}}},
		"errnoRet 70000":             {DefaultAction: specs.ActErrno, DefaultErrnoRet: ptr(70000)},
		"argument index 6":           {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}},
		"unknown operator":           {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Op: "SCMP_CMP_ABOUT"}}}}},
		"names is empty":             {DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{{Action: specs.ActErrno}}},
		"unknown flag":               {DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{"SECCOMP_FILTER_FLAG_FAST"}},
		"WAIT_KILLABLE_RECV":         {DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagWaitKillableRecv}},
		"listenerPath":               {DefaultAction: specs.ActAllow, ListenerPath: "/run/agent.sock"},
		"unknown architecture \"x\"": {DefaultAction: specs.ActAllow, Architectures: []specs.Arch{"x"}},
	}
	for want, s := range bad {
		_, err := Compile(s)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("want one line about %q, got %v", want, err)
		}
	}
}

// TestAvailable: the host's and the VM's kernels have seccomp filters;
// /proc/self/status shows the field only if the kernel has seccomp.
func TestAvailable(t *testing.T) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := Available(), strings.Contains(string(status), "\nSeccomp:"); got != want || !got {
		t.Errorf("Available() = %v; Seccomp: in /proc/self/status: %v", got, want)
	}
}

func TestFlags(t *testing.T) {
	f := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Flags: []specs.LinuxSeccompFlag{
		"SECCOMP_FILTER_FLAG_TSYNC", specs.LinuxSeccompFlagLog, specs.LinuxSeccompFlagSpecAllow}})
	if f.flags != unix.SECCOMP_FILTER_FLAG_TSYNC|unix.SECCOMP_FILTER_FLAG_LOG|unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW {
		t.Errorf("flags %#x", f.flags)
	}
	if got := SupportedFlags(); len(got) != 3 { // every kernel since 4.17
		t.Errorf("SupportedFlags: %v", got)
	}
}

// TestLongJumps: a rule with a condition for every syscall makes a
// program too long for the 8-bit skips of conditional jumps.
func TestLongJumps(t *testing.T) {
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	known := map[int]bool{}
	for _, c := range tableX86_64.calls {
		known[c.nr] = true
		s.Syscalls = append(s.Syscalls, specs.LinuxSyscall{Names: []string{c.name}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: uint64(c.nr), Op: specs.OpEqualTo}}})
	}
	f := compileOK(t, s)
	if f.Len() < 1000 {
		t.Fatalf("only %d instructions", f.Len())
	}
	for nr := range uint32(unix.SYS_SETXATTRAT) {
		if known[int(nr)] {
			expect(t, f, native, nr, []uint64{uint64(nr)}, errno(unix.EPERM))
			expect(t, f, native, nr, []uint64{uint64(nr) + 1}, unix.SECCOMP_RET_ALLOW)
		}
	}
	for i := range s.Syscalls {
		s.Syscalls[i].Args = append(s.Syscalls[i].Args, specs.LinuxSeccompArg{Index: 1, Op: specs.OpGreaterEqual, Value: 1},
			specs.LinuxSeccompArg{Index: 2, Op: specs.OpLessThan, Value: 9}, specs.LinuxSeccompArg{Index: 3, Op: specs.OpMaskedEqual})
	}
	if _, err := Compile(s); err == nil || !strings.Contains(err.Error(), "over the kernel's limit of 4096") {
		t.Errorf("a profile too big for the kernel: %v", err)
	}
}

func loadProfile(t testing.TB, name string) *specs.LinuxSeccomp {
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.LinuxSeccomp
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// TestDockerLike compiles a profile of the shapes of Docker's default:
// a long allow list, clone without namespace flags, clone3 answering
// ENOSYS, personality values, socket families.
func TestDockerLike(t *testing.T) {
	f := compileOK(t, loadProfile(t, "docker-like.json"))
	t.Logf("%d instructions", f.Len())
	const fork = unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID | uint64(unix.SIGCHLD) // glibc's fork
	const thread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD | unix.CLONE_SYSVSEM
	denied := errno(unix.EPERM)
	for _, c := range []struct {
		arch, nr uint32
		args     []uint64
		want     uint32
	}{
		{native, unix.SYS_CLONE, []uint64{fork}, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_CLONE, []uint64{thread}, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_CLONE, []uint64{fork | unix.CLONE_NEWUSER}, denied},
		{native, unix.SYS_CLONE, []uint64{fork | unix.CLONE_NEWNS}, denied},
		{native, unix.SYS_CLONE3, []uint64{0x7ffd0000, 88}, errno(unix.ENOSYS)},
		{native, unix.SYS_UNSHARE, []uint64{unix.CLONE_NEWUSER}, denied},
		{native, unix.SYS_MOUNT, nil, denied},
		{native, unix.SYS_PERSONALITY, []uint64{0xffffffff}, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_PERSONALITY, []uint64{0x20000}, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_PERSONALITY, []uint64{0x1_ffffffff}, denied},
		{native, unix.SYS_PERSONALITY, []uint64{0x0040000}, denied}, // ADDR_NO_RANDOMIZE
		{native, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_VSOCK, unix.SOCK_STREAM, 0}, denied},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}, errno(unix.EACCES)},
		{native, unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE}, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_REBOOT, nil, unix.SECCOMP_RET_KILL_PROCESS},
		{native, unix.SYS_MKDIRAT, nil, unix.SECCOMP_RET_ALLOW},
		{native, unix.SYS_SETXATTRAT + 100, nil, errno(unix.ENOSYS)}, // newer than the profile
		{unix.AUDIT_ARCH_I386, 102, nil, unix.SECCOMP_RET_ALLOW},     // socketcall
		{unix.AUDIT_ARCH_I386, 21, nil, denied},                      // mount
		{native, x32Bit | unix.SYS_WRITE, nil, unix.SECCOMP_RET_ALLOW},
		{native, x32Bit | unix.SYS_MOUNT, nil, denied},
		{unix.AUDIT_ARCH_ARM, 1, nil, unix.SECCOMP_RET_KILL_PROCESS},
	} {
		expect(t, f, c.arch, c.nr, c.args, c.want)
	}
}

// TestInstall installs a filter on one thread of the test: the calls it
// denies fail there, and only there.
func TestInstall(t *testing.T) {
	f := compileOK(t, &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno, ErrnoRet: ptr(uint(unix.ENOSYS))}}})
	dir := t.TempDir()
	done := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- err
			return
		}
		if err := f.Install(); err != nil {
			done <- err
			return
		}
		done <- unix.Mkdir(filepath.Join(dir, "filtered"), 0o755)
	}()
	if err := <-done; err != unix.ENOSYS {
		t.Errorf("mkdir under the filter: %v, want ENOSYS", err)
	}
	if err := unix.Mkdir(filepath.Join(dir, "free"), 0o755); err != nil {
		t.Errorf("mkdir on another thread: %v", err)
	}
}

func BenchmarkCompileDockerLike(b *testing.B) {
	s := loadProfile(b, "docker-like.json")
	for b.Loop() {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFilterText: a filter survives its text encoding, as init gets it.
func TestFilterText(t *testing.T) {
	f, err := Compile(Default(nil))
	if err != nil {
		t.Fatal(err)
	}
	text, err := f.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var g Filter
	if err := g.UnmarshalText(text); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.prog, g.prog) || f.flags != g.flags {
		t.Error("the decoded filter differs")
	}
	for _, bad := range []string{"", "!!", "AAAA"} {
		if err := g.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q decoded", bad)
		}
	}
}
