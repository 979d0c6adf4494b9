package oci

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/cgroups"
	"skiff/internal/exit"
	"skiff/internal/initproc"
	"skiff/internal/nsenter"
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
	Init  string      // the skiff-init binary, which becomes the process
	Stdio [3]*os.File // nil: /dev/null
	// ConsoleSocket, with p.Terminal, is where the pty's master goes;
	// without one, Process.Master holds it.
	ConsoleSocket *os.File
}

// Exec starts the process p in the running container, as runc's exec and
// `docker exec` do. skiff-init is born in the container's namespaces (on
// one OS thread, package nsenter explains how) and its cgroup; it
// receives p and the container's seccomp profile on its sync socket,
// becomes p (its working folder, limits, capabilities, user, no_new_privs
// and seccomp filter, in init's order) and execs p's command. With
// p.Terminal it gets a pty of the container's own devpts. Exec returns
// once the command runs; one that cannot be run gives Docker's statuses
// (126, 127) in an exit.Error.
func (c *Container) Exec(p *specs.Process, opts ExecOptions) (*Process, error) {
	if s := c.Status(); s != specs.StateRunning {
		return nil, fmt.Errorf("container %s is %s, not running", c.ID, s)
	}
	if err := c.LoadSpec(); err != nil {
		return nil, err
	}
	if err := checkProcess(p); err != nil {
		return nil, fmt.Errorf("exec: %w", err)
	}
	binary, err := sealedCopy(opts.Init)
	if err != nil {
		return nil, err
	}
	defer binary.Close()
	sync, child, err := SocketPair()
	if err != nil {
		return nil, err
	}
	defer sync.Close()
	// The path of skiff-init means nothing once the process has joined the
	// container's mount namespace: it runs its sealed copy, as its fd 4.
	run := exec.Command("/proc/self/fd/4")
	run.Args = []string{"skiff-init"}
	run.Stdin, run.Stdout, run.Stderr = opts.Stdio[0], opts.Stdio[1], opts.Stdio[2]
	run.ExtraFiles = []*os.File{child, binary} // initproc.SyncFd, then fd 4
	run.SysProcAttr = &unix.SysProcAttr{}
	proc := &Process{cmd: run}
	if p.Terminal {
		if proc.Master, err = attachContainerTTY(c.Pid, run); err != nil {
			child.Close()
			return nil, err
		}
		defer proc.sendMaster(opts.ConsoleSocket)
	}
	err = c.startExec(run, child)
	if err == nil {
		err = c.sendExec(sync, p)
	}
	if err == nil {
		if err = execResult(bufio.NewReader(sync)); err != nil {
			run.Wait()
		}
	}
	if err != nil {
		if proc.Master != nil {
			proc.Master.Close()
		}
		return nil, err
	}
	return proc, nil
}

// startExec starts skiff-init in the container's namespaces and cgroup.
func (c *Container) startExec(run *exec.Cmd, child *os.File) error {
	defer child.Close()
	intoCgroup, done, err := cgroups.OpenPath(c.Cgroup).ForkInto(run)
	if err != nil {
		return err
	}
	defer done()
	if err := nsenter.Start(run, c.namespaces(), intoCgroup); err != nil {
		return &exit.Error{Code: exit.CannotExec, Msg: fmt.Sprintf("exec: enter container %s: %v", c.ID, err)}
	}
	return nil
}

// sendExec tells init which process to become.
func (c *Container) sendExec(sync *os.File, p *specs.Process) error {
	spec := &specs.Spec{Version: specs.Version, Process: p, Linux: &specs.Linux{Seccomp: c.Spec.Linux.Seccomp}}
	line, err := json.Marshal(initproc.Config{Spec: spec, Exec: true})
	if err != nil {
		return err
	}
	if _, err := sync.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("exec: send the process to skiff-init: %w", err)
	}
	return nil
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

// namespaces are the container's namespaces, to join: the mount
// namespace last (nsenter explains why); a user namespace is joined by
// the new process itself, which becomes its root.
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
