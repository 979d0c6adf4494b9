// Package seccomp compiles the OCI runtime spec's linux.seccomp profile
// into a classic BPF program and installs it with seccomp(2), as runc
// does through libseccomp, in pure Go (skiff is built without cgo). The
// syscall tables come from go-seccomp-bpf (tables.go); the compiler is ours, since
// go-seccomp-bpf's knows neither errnoRet, SCMP_CMP_MASKED_EQ nor a
// filter for several architectures. Default is skiff's own profile
// (Docker's default in effect), LoadProfile reads one in Docker's format,
// Available says whether the kernel filters at all.
//
// The semantics are libseccomp's, as runc uses it:
//   - every listed architecture gets its own section; the native one
//     (x86_64) is always there. A call from an architecture that is not
//     listed, and an x32 call (syscall number with bit 30 set) when
//     SCMP_ARCH_X32 is not, kill the whole process: libseccomp kills the
//     thread, but a thread killed alone leaves a half-dead program.
//     Known names of other architectures are accepted and left out: an
//     x86_64 kernel never reports them.
//   - a name an architecture does not know is skipped, as runc does for
//     syscalls the kernel or libseccomp lacks.
//   - the conditions of a rule are ANDed; several rules for a syscall are
//     ORed. As runc does, a rule with two conditions on the same argument
//     becomes one rule per condition (ORed), and a rule whose action is
//     the default action is dropped. Rules with conditions are tried
//     before one without, in the profile's order.
//   - arguments are compared as 64-bit unsigned numbers; those of i386
//     calls are 32-bit, their high word 0.
//   - under a default action that denies, a call numbered above the
//     highest one the profile names for its architecture fails with
//     ENOSYS, as runc makes it, so that a libc newer than the profile
//     falls back to an older call (unknownCalls).
package seccomp

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"unsafe"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Filter is a compiled profile, ready to be installed.
type Filter struct {
	prog  []unix.SockFilter
	flags uintptr
}

// Compile checks a profile and compiles it. Every error is one line that
// names what is wrong, for the caller to prefix with linux.seccomp.
func Compile(s *specs.LinuxSeccomp) (*Filter, error) {
	if runtime.GOARCH != "amd64" {
		return nil, fmt.Errorf("skiff compiles profiles for x86_64 only, not %s", runtime.GOARCH)
	}
	if s.ListenerPath != "" || s.ListenerMetadata != "" {
		return nil, errors.New("listenerPath: skiff has no seccomp notify support")
	}
	flags, err := filterFlags(s.Flags)
	if err != nil {
		return nil, err
	}
	prog, err := compile(s)
	if err != nil {
		return nil, err
	}
	return &Filter{prog: prog, flags: flags}, nil
}

// Len is the program's length in instructions.
func (f *Filter) Len() int { return len(f.prog) }

// Install applies the filter to the calling thread, for good, and to
// every process it starts from then on (filters are inherited across
// fork and execve); with SECCOMP_FILTER_FLAG_TSYNC, to every thread of
// the process. The caller locks its goroutine to the thread. The kernel
// demands no_new_privs or CAP_SYS_ADMIN.
func (f *Filter) Install() error {
	prog := unix.SockFprog{Len: uint16(len(f.prog)), Filter: &f.prog[0]}
	tid, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, f.flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(f)
	if errno != 0 {
		if errno == unix.EACCES {
			return fmt.Errorf("seccomp SECCOMP_SET_MODE_FILTER: %w (it needs no_new_privs or CAP_SYS_ADMIN)", errno)
		}
		return fmt.Errorf("seccomp SECCOMP_SET_MODE_FILTER: %w", errno)
	}
	if tid != 0 { // TSYNC: a thread that has a filter of its own
		return fmt.Errorf("seccomp SECCOMP_SET_MODE_FILTER: thread %d could not be synchronized", tid)
	}
	return nil
}

// Eval runs the filter, as the kernel would, on a call: its
// architecture (unix.AUDIT_ARCH_*), number and arguments. It returns the
// action with its data, a unix.SECCOMP_RET_* value.
func (f *Filter) Eval(arch, nr uint32, args ...uint64) uint32 {
	// struct seccomp_data as x86_64 lays it out, but each 32-bit word
	// big-endian: the kernel loads words in the host's order, the VM (made
	// for packets) in the network's.
	data := make([]byte, 64)
	be := binary.BigEndian
	be.PutUint32(data[offNr:], nr)
	be.PutUint32(data[offArch:], arch)
	for i, a := range args {
		be.PutUint32(data[offArgs+8*i:], uint32(a))
		be.PutUint32(data[offArgs+8*i+4:], uint32(a>>32))
	}
	raw := make([]bpf.RawInstruction, len(f.prog))
	for i, in := range f.prog {
		raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
	}
	prog, _ := bpf.Disassemble(raw)
	vm, err := bpf.NewVM(prog)
	if err != nil {
		panic(err) // the compiler made a program the kernel would refuse
	}
	ret, _ := vm.Run(data)
	return uint32(ret)
}

// Allows says whether the filter lets a native (x86_64) call through.
func (f *Filter) Allows(nr uint32, args ...uint64) bool {
	ret := f.Eval(unix.AUDIT_ARCH_X86_64, nr, args...) & unix.SECCOMP_RET_ACTION_FULL
	return ret == unix.SECCOMP_RET_ALLOW || ret == unix.SECCOMP_RET_LOG
}

// actions are the spec's actions and the kernel's return values.
var actions = map[specs.LinuxSeccompAction]uint32{
	specs.ActAllow: unix.SECCOMP_RET_ALLOW, specs.ActErrno: unix.SECCOMP_RET_ERRNO,
	specs.ActKill: unix.SECCOMP_RET_KILL_THREAD, specs.ActKillThread: unix.SECCOMP_RET_KILL_THREAD,
	specs.ActKillProcess: unix.SECCOMP_RET_KILL_PROCESS, specs.ActTrap: unix.SECCOMP_RET_TRAP,
	specs.ActTrace: unix.SECCOMP_RET_TRACE, specs.ActLog: unix.SECCOMP_RET_LOG,
}

// action is the return value of an action: SCMP_ACT_ERRNO and
// SCMP_ACT_TRACE carry errnoRet (EPERM if not given), as runc does.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	if a == specs.ActNotify {
		return 0, errors.New("SCMP_ACT_NOTIFY: skiff has no seccomp notify support")
	}
	ret, ok := actions[a]
	if !ok {
		return 0, fmt.Errorf("unknown action %q", a)
	}
	if ret != unix.SECCOMP_RET_ERRNO && ret != unix.SECCOMP_RET_TRACE {
		if errnoRet != nil {
			return 0, fmt.Errorf("%s: errnoRet is only for SCMP_ACT_ERRNO and SCMP_ACT_TRACE", a)
		}
		return ret, nil
	}
	errno := uint(unix.EPERM)
	if errnoRet != nil {
		errno = *errnoRet
	}
	if errno > unix.SECCOMP_RET_DATA {
		return 0, fmt.Errorf("%s: errnoRet %d is over %d", a, errno, unix.SECCOMP_RET_DATA)
	}
	return ret | uint32(errno), nil
}

// flagBits are the filter flags skiff passes to seccomp(2).
var flagBits = map[specs.LinuxSeccompFlag]uintptr{
	"SECCOMP_FILTER_FLAG_TSYNC":     unix.SECCOMP_FILTER_FLAG_TSYNC,
	specs.LinuxSeccompFlagLog:       unix.SECCOMP_FILTER_FLAG_LOG,
	specs.LinuxSeccompFlagSpecAllow: unix.SECCOMP_FILTER_FLAG_SPEC_ALLOW,
}

func filterFlags(list []specs.LinuxSeccompFlag) (uintptr, error) {
	var flags uintptr
	for _, name := range list {
		bit, ok := flagBits[name]
		if !ok {
			if name == specs.LinuxSeccompFlagWaitKillableRecv {
				return 0, fmt.Errorf("flag %s: skiff has no seccomp notify support", name)
			}
			return 0, fmt.Errorf("unknown flag %q", name)
		}
		flags |= bit
	}
	return flags, nil
}

// Actions, Operators, Archs and KnownFlags are what Compile accepts, as
// `features` lists them.
func Actions() []string   { return sortedKeys(actions) }
func Operators() []string { return sortedKeys(conditionCode) }
func Archs() []string     { return sortedKeys(archs) }
func KnownFlags() []string {
	return sortedKeys(flagBits)
}

func sortedKeys[K ~string, V any](m map[K]V) []string {
	var list []string
	for k := range m {
		list = append(list, string(k))
	}
	slices.Sort(list)
	return list
}

// Available says whether this kernel filters system calls with seccomp
// (CONFIG_SECCOMP_FILTER): seccomp(2) without a program fails with EFAULT
// when it would take one; EINVAL (filters not built in) or ENOSYS (no
// seccomp at all) say it would not.
func Available() bool {
	_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, 0)
	return errno == unix.EFAULT
}

// SupportedFlags are the known flags this kernel takes: seccomp(2) with
// a flag and no program fails with EFAULT if it knows the flag, EINVAL if
// not (runc asks the same way).
func SupportedFlags() []string {
	var list []string
	for _, name := range KnownFlags() {
		bit := flagBits[specs.LinuxSeccompFlag(name)]
		_, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, bit, 0)
		if errno == unix.EFAULT {
			list = append(list, name)
		}
	}
	return list
}

// Program is the filter as an assembler listing, one instruction a line,
// numbered: what the kernel runs at every system call of the container.
func (f *Filter) Program() []string {
	var lines []string
	for i, in := range f.prog {
		raw := bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		lines = append(lines, fmt.Sprintf("%4d  %s", i, raw.Disassemble()))
	}
	return lines
}

// MarshalText encodes the compiled filter (its flags, then each
// instruction's 8 bytes) in base64, for the runtime to hand init a
// program instead of a profile to compile again.
func (f *Filter) MarshalText() ([]byte, error) {
	raw := binary.LittleEndian.AppendUint64(nil, uint64(f.flags))
	for _, in := range f.prog {
		raw = binary.LittleEndian.AppendUint16(raw, in.Code)
		raw = append(raw, in.Jt, in.Jf)
		raw = binary.LittleEndian.AppendUint32(raw, in.K)
	}
	return []byte(base64.StdEncoding.EncodeToString(raw)), nil
}

// UnmarshalText is MarshalText's other half.
func (f *Filter) UnmarshalText(text []byte) error {
	raw, err := base64.StdEncoding.DecodeString(string(text))
	if err != nil || len(raw) < 8 || (len(raw)-8)%8 != 0 || (len(raw)-8)/8 > maxInsns {
		return errors.New("seccomp: not an encoded filter")
	}
	f.flags, f.prog = uintptr(binary.LittleEndian.Uint64(raw)), nil
	for b := raw[8:]; len(b) > 0; b = b[8:] {
		f.prog = append(f.prog, unix.SockFilter{Code: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])})
	}
	return nil
}
