package lifecycle

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
	"skiff/internal/container"
	"skiff/internal/nsenter"
	"skiff/internal/terminal"
)

// Exec starts the process p in the running container c, as `docker exec`
// and runc's exec do: it joins every namespace of c on one OS thread
// (package nsenter explains how), is born in c's cgroup, drops to
// Docker's capabilities and becomes p.User in p.Cwd. With p.Terminal it
// gets a pty of the container's own devpts, whose master the returned
// Process holds; else stdio is its stdin, stdout and stderr. A command
// that cannot be run gives Docker's statuses (126, 127) in a
// container.StatusError.
func (r *Runtime) Exec(c *container.Container, p specs.Process, stdio IO) (*Process, error) {
	if !c.State.Alive() {
		return nil, fmt.Errorf("container %s is not running", c.Name())
	}
	if mode, err := statInRoot(fmt.Sprintf("/proc/%d/root", c.State.Pid), p.Cwd); err != nil || mode&unix.S_IFMT != unix.S_IFDIR {
		if err == nil {
			err = unix.ENOTDIR
		}
		return nil, &container.StatusError{Code: container.ExitCannotExec, Msg: fmt.Sprintf("exec: working folder %s: %v", p.Cwd, err)}
	}
	bin, err := lookPathIn(c.State.Pid, p.Args[0], p.Env)
	if err != nil {
		return nil, &container.StatusError{Code: container.ExitStatus(err), Msg: err.Error()}
	}
	run := exec.Command(bin)
	run.Args, run.Env, run.Dir = p.Args, p.Env, p.Cwd
	run.SysProcAttr = &unix.SysProcAttr{Credential: &syscall.Credential{Uid: p.User.UID, Gid: p.User.GID}}
	run.Stdin, run.Stdout, run.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	proc := &Process{cmd: run}
	if p.Terminal {
		if proc.Master, err = attachContainerTTY(c.State.Pid, run); err != nil {
			return nil, err
		}
	}
	intoCgroup, done, err := cgroups.Open(r.CgroupParent, c.Config.ID).ForkInto(run)
	if err != nil {
		return nil, err
	}
	defer done()
	dropCaps := func() (func(), error) { return nil, caps.Drop() }
	if err := nsenter.Start(run, nsenter.Of(c.State.Pid, execNamespaces...), dropCaps, intoCgroup); err != nil {
		if proc.Master != nil {
			proc.Master.Close()
		}
		return nil, &container.StatusError{Code: container.ExitCannotExec, Msg: fmt.Sprintf("exec %s: %v", p.Args[0], err)}
	}
	return proc, nil
}

// Signal sends sig to the process.
func (p *Process) Signal(sig os.Signal) { p.cmd.Process.Signal(sig) }

// WaitStatus waits for the process to end and returns its exit status,
// 128+N when signal N killed it.
func (p *Process) WaitStatus() int {
	p.cmd.Wait()
	ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return container.WaitStatusCode(unix.WaitStatus(ws))
}

// execNamespaces are the namespaces an exec'd process joins: every one
// the container has, the mount namespace last (nsenter explains why).
var execNamespaces = []string{"ipc", "uts", "net", "pid", "mnt"}

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
				return "", &container.ExecError{Name: name, Err: unix.EACCES}
			}
			return candidate, nil
		}
	}
	return "", &container.ExecError{Name: name, Err: exec.ErrNotFound}
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
