package oci

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/cgroups"
	"skiff/internal/cgroups/devices"
	"skiff/internal/hooks"
	"skiff/internal/initproc"
	"skiff/internal/nsenter"
	"skiff/internal/rootfs"
)

// CreateOptions are how a container is created, beyond its spec.
type CreateOptions struct {
	Init  string      // the skiff-init binary
	Stdio [3]*os.File // the container's stdin, stdout, stderr (nil: /dev/null)
	// ConsoleSocket, with process.terminal, is a unix socket init sends
	// the pty's master through (runc's --console-socket).
	ConsoleSocket *os.File
	NoPivot       bool
	// Prepare runs once init is born in its namespaces and cgroup, after
	// the createRuntime hooks and before init builds the root: `skiff
	// run` attaches the container's network there, as dockerd does with
	// a hook.
	Prepare func(pid int) error
	// CgroupParent holds the container's cgroup when the spec gives no
	// linux.cgroupsPath.
	CgroupParent string
	// InProcess: this process starts the container too (Start on the
	// Container that Create returns); if it dies first, init gives up.
	InProcess bool
}

// Create sets a container up from its spec and leaves its init waiting
// for Start: the cgroup with the spec's limits and device rules, the
// namespaces, the hooks that run outside, then init's mounts and root.
// dir is the container's state folder, which must exist. On failure,
// everything made is taken down again.
func Create(dir, id, bundle string, spec *specs.Spec, opts CreateOptions) (*Container, error) {
	filter, err := validate(spec)
	if err != nil {
		return nil, err
	}
	c := &Container{ID: id, Bundle: bundle, Spec: spec, Dir: dir, Created: time.Now().UTC(),
		Cgroup: spec.Linux.CgroupsPath, Annotations: spec.Annotations, filter: filter}
	if h := spec.Hooks; h != nil && (len(h.Poststart) > 0 || len(h.Poststop) > 0) {
		c.Hooks = &specs.Hooks{Poststart: h.Poststart, Poststop: h.Poststop}
	}
	if c.Cgroup == "" {
		c.Cgroup = opts.CgroupParent + "/" + id
	}
	if err := c.create(opts); err != nil {
		c.destroy()
		return nil, err
	}
	return c, nil
}

func (c *Container) create(opts CreateOptions) error {
	cg, err := cgroups.New(c.Cgroup, c.Spec.Linux.Resources)
	if err != nil {
		return err
	}
	if err := cg.Set(c.Spec.Linux.Resources); err != nil {
		return err
	}
	if err := devices.Set(cg, deviceRules(c.Spec)); err != nil {
		return err
	}
	if err := unix.Mkfifo(c.fifo(), 0o600); err != nil {
		return fmt.Errorf("mkfifo %s: %w", c.fifo(), err)
	}
	if err := c.startInit(cg, opts); err != nil {
		return err
	}
	if err := c.giveFifo(); err != nil {
		return err
	}
	if err := c.sendConfig(opts.NoPivot, opts.InProcess); err != nil {
		return err
	}
	state := c.State()
	if h := c.Spec.Hooks; h != nil {
		state.Status = specs.StateCreated // prestart is older than the creating status
		if err := hooks.Run("prestart", h.Prestart, state); err != nil {
			return err
		}
		state.Status = specs.StateCreating
		if err := hooks.Run("createRuntime", h.CreateRuntime, state); err != nil {
			return err
		}
	}
	if opts.Prepare != nil {
		if err := opts.Prepare(c.Pid); err != nil {
			return err
		}
	}
	if _, err := c.sync.Write([]byte{1}); err != nil { // init may go on
		return fmt.Errorf("the container's init exited: %w", err)
	}
	return c.waitReady()
}

// startInit starts skiff-init in the container's new namespaces (and
// those it joins), born in its cgroup.
func (c *Container) startInit(cg cgroups.Manager, opts CreateOptions) error {
	sync, child, err := SocketPair()
	if err != nil {
		return err
	}
	c.sync, c.syncIn = sync, bufio.NewReader(sync)
	defer child.Close()

	flags, join := namespaces(c.Spec)
	cmd := exec.Command(opts.Init)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdio[0], opts.Stdio[1], opts.Stdio[2]
	cmd.ExtraFiles = []*os.File{child} // initproc.SyncFd
	if c.Spec.Process != nil && c.Spec.Process.Terminal {
		if opts.ConsoleSocket == nil {
			return errors.New("process.terminal is set but there is no console socket to send the terminal to")
		}
		cmd.ExtraFiles = append(cmd.ExtraFiles, opts.ConsoleSocket) // initproc.ConsoleFd
	}
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: flags}
	var inRoot nsenter.Step
	if initproc.HasUserNamespace(c.Spec) {
		step, held, err := c.holdFiles(cmd)
		if err != nil {
			return err
		}
		defer held()
		inRoot = step
	}
	intoCgroup, done, err := cg.ForkInto(cmd)
	if err != nil {
		return err
	}
	defer done()
	if err := nsenter.Start(cmd, join, intoCgroup, inRoot); err != nil {
		return fmt.Errorf("start the container's init %s: %w", opts.Init, err)
	}
	c.init, c.Pid = cmd, cmd.Process.Pid
	c.PidStart, _ = ProcessStart(c.Pid)
	return nil
}

// giveFifo makes exec.fifo the container's root's, in a user namespace:
// init reopens it as that user to wait for start. Nothing in the
// container can reach it: the state folder is root's, mode 0700.
func (c *Container) giveFifo() error {
	if c.held == nil {
		return nil
	}
	uid, gid, err := hostRoot(c.Pid)
	if err != nil {
		return err
	}
	if err := os.Lchown(c.fifo(), uid, gid); err != nil {
		return fmt.Errorf("chown %s: %w", c.fifo(), err)
	}
	return nil
}

// sendConfig tells init what to do, while its Go runtime starts.
func (c *Container) sendConfig(noPivot, inProcess bool) error {
	cfg := initproc.Config{Spec: c.Spec, Root: rootPath(c.Bundle, c.Spec), Bundle: c.Bundle,
		Fifo: c.fifo(), State: c.State(), NoPivot: noPivot, InProcess: inProcess, Held: c.held, Seccomp: c.filter}
	cfg.State.Status = specs.StateCreated
	line, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if _, err := c.sync.Write(append(line, '\n')); err != nil {
		return fmt.Errorf("send the config to the container's init: %w", err)
	}
	return nil
}

// waitReady waits for init to report that the container is set up.
func (c *Container) waitReady() error {
	line, err := c.syncIn.ReadBytes('\n')
	var m initproc.Message
	if err == nil && json.Unmarshal(line, &m) == nil && m.Ready {
		return nil
	}
	return initError(line, err)
}

// SocketPair makes two connected unix sockets, close-on-exec: one for
// this process, one to hand to a child.
func SocketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "socket"), os.NewFile(uintptr(fds[1]), "socket"), nil
}

// destroy takes down what a failed create made.
func (c *Container) destroy() {
	if c.init != nil {
		c.init.Process.Kill()
		c.init.Wait()
	}
	if c.sync != nil {
		c.sync.Close()
	}
	cgroups.OpenPath(c.Cgroup).Destroy()
	os.Remove(c.fifo())
}

// deviceRules are the cgroup's device rules, in runc's order: everything
// denied; the spec's rules; then mknod of any node, so that init can make
// the spec's devices (opening one still needs a rule of the spec), and
// the default devices, which a container always gets.
func deviceRules(spec *specs.Spec) []specs.LinuxDeviceCgroup {
	rules := []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	if r := spec.Linux.Resources; r != nil {
		rules = append(rules, r.Devices...)
	}
	rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: "c", Access: "m"}, specs.LinuxDeviceCgroup{Allow: true, Type: "b", Access: "m"})
	for _, d := range rootfs.DefaultDevices {
		major, minor := d.Major, d.Minor
		rules = append(rules, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: "rwm"})
	}
	return append(rules, cgroups.DefaultDevices[len(cgroups.DefaultDevices)-4:]...) // tty, console, ptmx, pts
}
