package nsenter

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Joining a user namespace is the one thing the thread trick of Start
// cannot do: setns(2) refuses CLONE_NEWUSER to a process with more than
// one thread, and a Go program always has several. runc joins it from C,
// in a constructor that runs before the Go runtime starts its threads.
// skiff does what Go's own os/exec does between fork and exec, where a
// process is briefly a single thread: it forks by hand, and the child,
// which may only make raw system calls (no memory allocation, no stack
// growth: it is a copy of one thread of a Go program whose other threads
// are gone), joins the user namespace, becomes its root, makes the new
// namespaces the command asks for (they then belong to the user
// namespace it joined), puts its files in place and execs.
//
// Its root, not only a process in it: setns gives all capabilities in
// the namespace but keeps the host's IDs, and to the namespace the host's
// root is nobody, whose capabilities execve(2) takes away. As root of the
// namespace (UID and GID 0 in it, with no supplementary groups: the
// host's root's groups would still open the host's files a group may
// read), the process keeps them. Everything else was done before the
// fork, on the thread, and is inherited: the other namespaces, the
// cgroup (clone3's CLONE_INTO_CGROUP, or the thread's own on v1).
//
// A new PID namespace holds the children of whoever makes it, not the
// maker: then the child forks once more, with CLONE_PARENT so that the
// grandchild is this process's child, reports the grandchild's PID and
// exits. The grandchild is PID 1 of the new namespace and becomes the
// command; cmd.Process is that process.

// The runtime's hooks around a fork, which package syscall uses: before,
// signals are blocked and the stack may not grow; in the child, signal
// handlers are reset and the mask restored; in the parent, all undone.
// (They are part of the runtime's promised interface for this purpose:
// gVisor calls them too.)
//
//go:linkname beforeFork syscall.runtime_BeforeFork
func beforeFork()

//go:linkname afterFork syscall.runtime_AfterFork
func afterFork()

//go:linkname afterForkInChild syscall.runtime_AfterForkInChild
func afterForkInChild()

// cloneArgs is struct clone_args of clone3(2), the fields skiff sets.
type cloneArgs struct {
	flags, pidfd, childTID, parentTID, exitSignal, stack, stackSize, tls, setTID, setTIDSize, cgroup uint64
}

// forkArgs is everything the child needs, made before the fork.
type forkArgs struct {
	clone   cloneArgs // the fork
	again   cloneArgs // the second one, with a new PID namespace
	userns  uintptr   // a file descriptor of the user namespace to join
	unshare uintptr   // the CLONE_NEW* flags of the new namespaces
	setsid  bool
	ctty    int   // with Setctty: the controlling terminal, a child's fd
	fds     []int // fds[i] becomes the child's file descriptor i
	above   int   // a file descriptor number above all of fds
	path    *byte
	argv    []*byte // nil-terminated
	env     []*byte
	report  uintptr   // a pipe's write end, close-on-exec
	message [2]uint32 // what the child writes to report: a step and a number
}

// The steps a child reports: a failed one with its errno, or forked with
// the grandchild's PID.
const (
	stepSetgroups uint32 = iota + 1
	stepSetns
	stepSetresgid
	stepSetresuid
	stepUnshare
	stepFork
	stepSetsid
	stepDup
	stepCtty
	stepExec
	stepForked
)

var stepNames = map[uint32]string{stepSetgroups: "setgroups", stepSetns: "setns CLONE_NEWUSER",
	stepSetresgid: "setresgid 0 (does the user namespace map group 0?)",
	stepSetresuid: "setresuid 0 (does the user namespace map user 0?)", stepUnshare: "unshare", stepFork: "clone3",
	stepSetsid: "setsid", stepDup: "dup3", stepCtty: "ioctl TIOCSCTTY", stepExec: "execve"}

// startInUser starts cmd in the user namespace userns, on top of the
// namespaces the calling thread has joined. It supports what skiff's
// callers set: Path, Args, Env, Stdin, Stdout, Stderr (*os.File or nil),
// ExtraFiles, and of SysProcAttr Cloneflags, Setsid, Setctty, Ctty and
// UseCgroupFD.
func startInUser(cmd *exec.Cmd, userns *os.File) error {
	a, opened, err := forkArgsOf(cmd, userns)
	for _, f := range opened {
		defer f.Close()
	}
	if err != nil {
		return err
	}
	// The report pipe's write end goes above the files and the places
	// they pass through, so that putting them in place cannot close it.
	var pipe [2]int
	if err := unix.Pipe2(pipe[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("pipe: %w", err)
	}
	defer unix.Close(pipe[0])
	report, err := unix.FcntlInt(uintptr(pipe[1]), unix.F_DUPFD_CLOEXEC, a.above+len(a.fds))
	unix.Close(pipe[1])
	if err != nil {
		return fmt.Errorf("fcntl F_DUPFD_CLOEXEC: %w", err)
	}
	a.report = uintptr(report)

	syscall.ForkLock.Lock()
	pid, errno := forkExec(a)
	syscall.ForkLock.Unlock()
	unix.Close(report)
	runtime.KeepAlive(cmd)
	if errno != 0 {
		return fmt.Errorf("clone3: %w", errno)
	}
	if pid, err = readReport(pipe[0], pid); err != nil {
		return err
	}
	cmd.Process, err = os.FindProcess(pid)
	return err
}

// forkArgsOf prepares the child's work; opened are the files it opened
// for the child (/dev/null), to close once it has its copies.
func forkArgsOf(cmd *exec.Cmd, userns *os.File) (a *forkArgs, opened []*os.File, err error) {
	sys := cmd.SysProcAttr
	if sys == nil {
		sys = &syscall.SysProcAttr{}
	}
	if sys.Cloneflags&unix.CLONE_NEWUSER != 0 {
		return nil, nil, errors.New("cannot both join a user namespace and make one")
	}
	a = &forkArgs{userns: userns.Fd(), unshare: sys.Cloneflags, setsid: sys.Setsid, ctty: -1}
	a.clone.exitSignal = uint64(unix.SIGCHLD)
	if sys.UseCgroupFD {
		a.clone.flags |= unix.CLONE_INTO_CGROUP
		a.clone.cgroup = uint64(sys.CgroupFD)
	}
	a.again.flags = unix.CLONE_PARENT // and the exit signal of the child, SIGCHLD
	if sys.Setctty {
		a.ctty = sys.Ctty
	}
	if a.path, err = unix.BytePtrFromString(cmd.Path); err == nil {
		if a.argv, err = cStrings(cmd.Args); err == nil {
			a.env, err = cStrings(cmd.Environ())
		}
	}
	if err != nil {
		return nil, nil, err
	}

	for i, f := range append([]any{cmd.Stdin, cmd.Stdout, cmd.Stderr}, filesOf(cmd.ExtraFiles)...) {
		file, ok := f.(*os.File)
		if f == nil || (ok && file == nil) {
			var err error
			if file, err = os.OpenFile(os.DevNull, os.O_RDWR, 0); err != nil {
				return nil, opened, err
			}
			opened = append(opened, file)
		} else if !ok {
			return nil, opened, fmt.Errorf("file %d of %s is a %T, not an *os.File", i, cmd.Path, f)
		}
		a.fds = append(a.fds, int(file.Fd()))
		a.above = max(a.above, int(file.Fd())+1)
	}
	a.above = max(a.above, len(a.fds))
	return a, opened, nil
}

// cStrings is execve's form of a list: C strings, then nil.
func cStrings(list []string) ([]*byte, error) {
	out := make([]*byte, 0, len(list)+1)
	for _, s := range list {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return append(out, nil), nil
}

func filesOf(list []*os.File) []any {
	var out []any
	for _, f := range list {
		out = append(out, f)
	}
	return out
}

// forkExec forks; the child does its steps and execs, or reports why
// not. In the parent it returns the child's PID.
//
//go:norace
//go:nocheckptr
//go:noinline
func forkExec(a *forkArgs) (int, unix.Errno) {
	beforeFork()
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&a.clone)), unsafe.Sizeof(a.clone), 0)
	if errno != 0 || pid != 0 {
		afterFork()
		return int(pid), errno
	}
	afterForkInChild()
	a.message[0], a.message[1] = childSteps(a)
	unix.RawSyscall(unix.SYS_WRITE, a.report, uintptr(unsafe.Pointer(&a.message)), unsafe.Sizeof(a.message))
	unix.RawSyscall(unix.SYS_EXIT_GROUP, 253, 0, 0)
	return 0, 0
}

// childSteps runs in the child, and returns only on failure: the step
// and its errno. It may only make raw system calls.
//
//go:nosplit
//go:norace
//go:nocheckptr
func childSteps(a *forkArgs) (uint32, uint32) {
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, 0, 0, 0); e != 0 {
		return stepSetgroups, uint32(e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETNS, a.userns, unix.CLONE_NEWUSER, 0); e != 0 {
		return stepSetns, uint32(e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, 0, 0, 0); e != 0 {
		return stepSetresgid, uint32(e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, 0, 0, 0); e != 0 {
		return stepSetresuid, uint32(e)
	}
	if a.unshare != 0 {
		if _, _, e := unix.RawSyscall(unix.SYS_UNSHARE, a.unshare, 0, 0); e != 0 {
			return stepUnshare, uint32(e)
		}
	}
	if a.unshare&unix.CLONE_NEWPID != 0 {
		pid, _, e := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(&a.again)), unsafe.Sizeof(a.again), 0)
		if e != 0 {
			return stepFork, uint32(e)
		}
		if pid != 0 { // the parent of PID 1: its work is done
			return stepForked, uint32(pid)
		}
	}
	if a.setsid {
		if _, _, e := unix.RawSyscall(unix.SYS_SETSID, 0, 0, 0); e != 0 {
			return stepSetsid, uint32(e)
		}
	}
	// Each file first above all of them (a target may be another's
	// source), then down into place, no longer close-on-exec.
	for i, fd := range a.fds {
		if _, _, e := unix.RawSyscall(unix.SYS_DUP3, uintptr(fd), uintptr(a.above+i), unix.O_CLOEXEC); e != 0 {
			return stepDup, uint32(e)
		}
	}
	for i := range a.fds {
		if _, _, e := unix.RawSyscall(unix.SYS_DUP3, uintptr(a.above+i), uintptr(i), 0); e != 0 {
			return stepDup, uint32(e)
		}
	}
	if a.ctty >= 0 {
		if _, _, e := unix.RawSyscall(unix.SYS_IOCTL, uintptr(a.ctty), unix.TIOCSCTTY, 1); e != 0 {
			return stepCtty, uint32(e)
		}
	}
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(a.path)),
		uintptr(unsafe.Pointer(&a.argv[0])), uintptr(unsafe.Pointer(&a.env[0])))
	return stepExec, uint32(e)
}

// readReport reads what the child (and grandchild) wrote until the pipe
// closes, at the exec, and returns the PID of the process that execs.
// The intermediate child of a new PID namespace is collected here.
func readReport(pipe int, child int) (int, error) {
	pid := child
	var failed error
	for {
		var msg [8]byte
		if n, err := unix.Read(pipe, msg[:]); n != len(msg) || err != nil {
			break
		}
		step, value := binary.NativeEndian.Uint32(msg[:4]), binary.NativeEndian.Uint32(msg[4:])
		if step == stepForked {
			pid = int(value)
		} else {
			failed = fmt.Errorf("%s: %w", stepNames[step], unix.Errno(value))
		}
	}
	var ws unix.WaitStatus
	if pid != child {
		unix.Wait4(child, &ws, 0, nil)
	}
	if failed != nil {
		unix.Wait4(pid, &ws, 0, nil)
		return 0, failed
	}
	return pid, nil
}

// NewUserNamespace makes a user namespace with these maps and returns a
// descriptor that holds it: what mount_setattr(2) takes to make an
// idmapped mount, before the container's own user namespace exists. A
// child forked by hand into a new user namespace pauses while its maps
// are written and the namespace is opened, and is then killed.
func NewUserNamespace(uids, gids []syscall.SysProcIDMap) (*os.File, error) {
	args := &cloneArgs{flags: unix.CLONE_NEWUSER, exitSignal: uint64(unix.SIGCHLD)}
	pid, errno := forkPause(args)
	if errno != 0 {
		return nil, fmt.Errorf("clone3 CLONE_NEWUSER: %w", errno)
	}
	defer func() {
		unix.Kill(pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
	}()
	for file, maps := range map[string][]syscall.SysProcIDMap{"uid_map": uids, "gid_map": gids} {
		var text strings.Builder
		for _, m := range maps {
			fmt.Fprintf(&text, "%d %d %d\n", m.ContainerID, m.HostID, m.Size)
		}
		path := fmt.Sprintf("/proc/%d/%s", pid, file)
		if err := os.WriteFile(path, []byte(text.String()), 0); err != nil {
			return nil, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
}

// forkPause forks a child that only waits to be killed.
//
//go:norace
//go:nocheckptr
//go:noinline
func forkPause(args *cloneArgs) (int, unix.Errno) {
	beforeFork()
	pid, _, errno := unix.RawSyscall(unix.SYS_CLONE3, uintptr(unsafe.Pointer(args)), unsafe.Sizeof(*args), 0)
	if errno != 0 || pid != 0 {
		afterFork()
		return int(pid), errno
	}
	afterForkInChild()
	for {
		unix.RawSyscall(unix.SYS_PAUSE, 0, 0, 0)
	}
}
