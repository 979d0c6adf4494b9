package oci

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"strings"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/caps"
	"skiff/internal/cgroups"
	"skiff/internal/exit"
	"skiff/internal/nsenter"
	"skiff/internal/seccomp"
	"skiff/internal/terminal"
)

// Process is a process started in a container: its command, as `skiff
// run` waits for it, or one started by Exec.
type Process struct {
	cmd    *exec.Cmd
	Master *os.File // with a terminal and no console socket: the pty's master
}

// ExecOptions are how Exec starts a process, beyond its spec.
type ExecOptions struct {
	Stdio [3]*os.File // nil: /dev/null
	// ConsoleSocket, with p.Terminal, is where the pty's master goes;
	// without one, Process.Master holds it.
	ConsoleSocket *os.File
}

// Exec starts the process p in the running container, as runc's exec and
// `docker exec` do: it joins every namespace of the container on one OS
// thread (package nsenter explains how), is born in its cgroup, gets p's
// bounding set and no_new_privs there, and the container's seccomp
// filter, and becomes p.User in p.Cwd. With
// p.Terminal it gets a pty of the container's own devpts. A command that
// cannot be run gives Docker's statuses (126, 127) in an exit.Error.
func (c *Container) Exec(p *specs.Process, opts ExecOptions) (*Process, error) {
	if s := c.Status(); s != specs.StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running", c.ID, s)
	}
	if len(p.Args) == 0 {
		return nil, fmt.Errorf("exec: the process has no args")
	}
	sets, err := caps.ParseSets(p.Capabilities)
	if err != nil {
		return nil, fmt.Errorf("exec: process.capabilities: %w", err)
	}
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if mode, err := statInRoot(fmt.Sprintf("/proc/%d/root", c.Pid), cwd); err != nil || mode&unix.S_IFMT != unix.S_IFDIR {
		if err == nil {
			err = unix.ENOTDIR
		}
		return nil, &exit.Error{Code: exit.CannotExec, Msg: fmt.Sprintf("exec: working folder %s: %v", cwd, err)}
	}
	bin, err := lookPathIn(c.Pid, p.Args[0], p.Env)
	if err != nil {
		return nil, &exit.Error{Code: exit.Code(err), Msg: err.Error()}
	}
	run := exec.Command(bin)
	run.Args, run.Env, run.Dir = p.Args, p.Env, cwd
	run.SysProcAttr = &unix.SysProcAttr{Credential: credential(p.User)}
	if p.User.UID != 0 {
		run.SysProcAttr.AmbientCaps = sets.Ambient.List()
	}
	run.Stdin, run.Stdout, run.Stderr = opts.Stdio[0], opts.Stdio[1], opts.Stdio[2]
	intoCgroup, done, err := cgroups.OpenPath(c.Cgroup).ForkInto(run)
	if err != nil {
		return nil, err
	}
	defer done()
	confine, err := c.seccompStep(run)
	if err != nil {
		return nil, &exit.Error{Code: exit.CannotExec, Msg: fmt.Sprintf("exec %s: %v", p.Args[0], err)}
	}
	proc := &Process{cmd: run}
	if p.Terminal {
		if proc.Master, err = attachContainerTTY(c.Pid, run); err != nil {
			return nil, err
		}
		defer proc.sendMaster(opts.ConsoleSocket)
	}
	restrict := func() (func(), error) { return nil, restrictThread(p, sets) }
	if err := nsenter.Start(run, c.namespaces(), restrict, intoCgroup, confine); err != nil {
		if proc.Master != nil {
			proc.Master.Close()
		}
		return nil, &exit.Error{Code: exit.CannotExec, Msg: fmt.Sprintf("exec %s: %v", p.Args[0], err)}
	}
	return proc, nil
}

// sendMaster passes the pty's master to the console socket, if there is
// one: then this process keeps no copy.
func (p *Process) sendMaster(socket *os.File) {
	if socket == nil || p.Master == nil {
		return
	}
	terminal.SendFile(socket, p.Master)
	p.Master.Close()
	p.Master = nil
}

// restrictThread gives the thread that forks the process's bounding set
// and no_new_privs, which the child inherits.
func restrictThread(p *specs.Process, sets caps.Sets) error {
	if p.Capabilities != nil {
		if err := caps.LimitBounding(sets.Bounding); err != nil {
			return err
		}
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl PR_SET_NO_NEW_PRIVS: %w", err)
		}
	}
	return nil
}

// seccompStep installs the container's seccomp filter, as runc applies
// it to exec'd processes too, on the thread that forks the process: the
// process inherits it. It is nsenter's last step, but nsenter joins the
// namespaces and forks after its steps: the filter must let that thread
// call setns, and clone3 (clone on cgroup v1). A profile that does not
// (Docker's default without CAP_SYS_ADMIN) is refused here, by running
// the filter on those calls, rather than fail half-way.
func (c *Container) seccompStep(run *exec.Cmd) (nsenter.Step, error) {
	if c.Spec.Linux.Seccomp == nil {
		return nil, nil
	}
	filter, err := seccomp.Compile(c.Spec.Linux.Seccomp)
	if err != nil {
		return nil, fmt.Errorf("linux.seccomp: %w", err)
	}
	for _, ns := range c.Spec.Linux.Namespaces {
		if !filter.Allows(unix.SYS_SETNS, 0, uint64(cloneFlags[ns.Type])) {
			return nil, fmt.Errorf("linux.seccomp denies setns(%s), which skiff calls under the filter to enter the container", ns.Type)
		}
	}
	fork, forkName := filter.Allows(unix.SYS_CLONE, unix.CLONE_VFORK|unix.CLONE_VM|unix.CLONE_PIDFD|uint64(unix.SIGCHLD)), "clone"
	if run.SysProcAttr.UseCgroupFD {
		fork, forkName = filter.Allows(unix.SYS_CLONE3), "clone3"
	}
	if !fork {
		return nil, fmt.Errorf("linux.seccomp denies %s, which skiff calls under the filter to start the process", forkName)
	}
	return func() (func(), error) { return nil, filter.Install() }, nil
}

func credential(u specs.User) *syscall.Credential {
	cred := &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.AdditionalGids}
	if cred.Groups == nil {
		cred.Groups = []uint32{}
	}
	return cred
}

// namespaces are the container's namespaces, to join: the mount
// namespace last (nsenter explains why).
func (c *Container) namespaces() []nsenter.Namespace {
	var list []nsenter.Namespace
	mount := false
	for _, ns := range c.Spec.Linux.Namespaces {
		if ns.Type == specs.MountNamespace {
			mount = true
			continue
		}
		list = append(list, nsenter.Of(c.Pid, nsNames[ns.Type])...)
	}
	if mount {
		list = append(list, nsenter.Of(c.Pid, "mnt")...)
	}
	return list
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) { p.cmd.Process.Signal(sig) }

// Pid is the process's host PID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Wait waits for the process to end and returns its exit status, 128+N
// when signal N killed it.
func (p *Process) Wait() int { return waitCode(p.cmd) }

// waitCode waits for cmd's process and returns its exit status.
func waitCode(cmd *exec.Cmd) int {
	cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	return exit.WaitCode(unix.WaitStatus(ws))
}

// attachContainerTTY opens a pty on the container's own devpts, from
// outside through /proc/PID/root, and makes its slave the command's
// controlling terminal.
func attachContainerTTY(pid int, run *exec.Cmd) (*os.File, error) {
	master, slave, err := terminal.OpenPTY(fmt.Sprintf("/proc/%d/root/dev/ptmx", pid))
	if err != nil {
		return nil, err
	}
	tty, err := os.OpenFile(slave, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, err
	}
	run.Stdin, run.Stdout, run.Stderr = tty, tty, tty
	run.SysProcAttr.Setsid, run.SysProcAttr.Setctty, run.SysProcAttr.Ctty = true, true, 0
	return master, nil
}

// lookPathIn finds a command in the container's PATH, looking through
// /proc/PID/root, and returns its path as the container sees it.
func lookPathIn(pid int, name string, env []string) (string, error) {
	root := fmt.Sprintf("/proc/%d/root", pid)
	candidates := []string{name}
	if !strings.Contains(name, "/") {
		candidates = nil
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, "PATH="); ok {
				for _, dir := range strings.Split(v, ":") {
					candidates = append(candidates, path.Join(dir, name))
				}
			}
		}
	}
	for _, candidate := range candidates {
		mode, err := statInRoot(root, candidate)
		if err == nil && mode&unix.S_IFMT != unix.S_IFDIR {
			if mode&0o111 == 0 {
				return "", &exit.ExecError{Name: name, Err: unix.EACCES}
			}
			return candidate, nil
		}
	}
	return "", &exit.ExecError{Name: name, Err: exec.ErrNotFound}
}

// statInRoot stats path as the container sees it: openat2 with
// RESOLVE_IN_ROOT resolves symlinks (/bin/sh -> /bin/busybox) inside
// root, not on the host.
func statInRoot(root, path string) (uint32, error) {
	dir, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat2(dir, path, &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	return st.Mode, nil
}
