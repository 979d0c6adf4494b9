// Package lifecycle is the runtime's side of a container, outside it:
// Start sets up its cgroup and network and starts its init (package
// initproc, the inside), Wait waits for it and records how it ended,
// Cleanup and Remove take everything down. The foreground `skiff run` and
// the monitor of a detached container make the same calls.
package lifecycle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/cgroups"
	"skiff/internal/cgroups/devices"
	"skiff/internal/container"
	"skiff/internal/network"
	"skiff/internal/nsenter"
	"skiff/internal/terminal"
)

// Runtime starts, watches and cleans up containers.
type Runtime struct {
	Store    *container.Store
	Networks *network.Store
	Init     string // the skiff-init binary, started as the container's first process
	// CgroupParent holds one cgroup per container: "skiff", or a name of
	// this data root's own when there are several (network.InstanceTag).
	CgroupParent string
}

// IO is where a container's stdio goes. With a terminal the container
// gets a pty instead, whose master Start returns.
type IO struct {
	Stdin          *os.File // nil: /dev/null
	Stdout, Stderr *os.File
}

// Process is a started container.
type Process struct {
	cmd     *exec.Cmd
	cgroup  cgroups.Manager
	network *network.Attachment // holds the published host ports while the container runs
	Master  *os.File            // the terminal's master, with -t
}

// Start sets up and starts a created container, and returns once its
// command runs (or failed to start: then everything is cleaned up and the
// error carries Docker's status, 125, 126 or 127).
func (r *Runtime) Start(c *container.Container, stdio IO) (*Process, error) {
	p, err := r.start(c, stdio)
	if err != nil {
		r.Cleanup(c)
		c.State.Status, c.State.Error, c.State.FinishedAt = container.Exited, err.Error(), time.Now()
		c.State.ExitCode = container.ExitRuntime
		var se *container.StatusError
		if errors.As(err, &se) {
			c.State.ExitCode = se.Code
		}
		c.SaveState()
		return nil, err
	}
	return p, nil
}

func (r *Runtime) start(c *container.Container, stdio IO) (_ *Process, err error) {
	cg, err := cgroups.New(r.CgroupParent, c.Config.ID)
	if err != nil {
		return nil, err
	}
	c.State.Cgroup = cg.Paths()
	if err := cg.Set(c.Config.Limits); err != nil {
		return nil, err
	}
	if err := devices.Set(cg, cgroups.DefaultDevices); err != nil {
		return nil, err
	}
	join, err := r.sharedNamespaces(c)
	if err != nil {
		return nil, err
	}
	child, err := newChildPipes(c.Config.Process.Terminal)
	if err != nil {
		return nil, err
	}
	defer child.closeParentEnds()
	cmd := exec.Command(r.Init, c.Dir)
	cmd.ExtraFiles = child.files()
	cmd.SysProcAttr = &unix.SysProcAttr{Cloneflags: cloneFlags(c.Config)}
	intoCgroup, done, err := cg.ForkInto(cmd)
	if err != nil {
		return nil, err
	}
	defer done()
	if !c.Config.Process.Terminal {
		cmd.Stdin, cmd.Stdout, cmd.Stderr = stdio.Stdin, stdio.Stdout, stdio.Stderr
	}
	err = nsenter.Start(cmd, join, intoCgroup)
	child.closeChildEnds()
	if err != nil {
		return nil, fmt.Errorf("start the container's init: %w", err)
	}
	p := &Process{cmd: cmd, cgroup: cg}
	defer func() {
		if err != nil {
			p.network.Close()
		}
	}()
	c.State.Pid = cmd.Process.Pid
	c.State.PidStart, _ = container.ProcessStart(c.State.Pid)
	// The rest is done while init's Go runtime starts; init waits for
	// the sync byte before it mounts anything.
	if err := r.setUpOutside(c, p); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	c.State.Status, c.State.StartedAt = container.Running, time.Now()
	if err := c.SaveState(); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	child.sync.Write([]byte{1}) // init may go on
	if err := child.initError(); err != nil {
		cmd.Wait()
		return nil, err
	}
	if c.Config.Process.Terminal {
		if p.Master, err = terminal.ReceiveFile(child.console, "pty"); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, err
		}
	}
	return p, nil
}

// setUpOutside prepares what init needs from outside: the files of the
// init layer, the overlay's folders and the network.
func (r *Runtime) setUpOutside(c *container.Container, p *Process) error {
	if err := r.writeInitLayer(c); err != nil {
		return err
	}
	for _, sub := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(c.Path(sub), 0o755); err != nil {
			return err
		}
	}
	switch c.Config.Network.Mode {
	case container.BridgeNetwork:
		n, err := r.Networks.Get(c.Config.Network.Name)
		if err != nil {
			return err
		}
		ep := network.Endpoint{ID: c.Config.ID, Name: c.Config.Name, HostsFile: c.Path("hosts"), Hostname: c.Config.Hostname}
		a, err := r.Networks.Attach(n, c.State.Pid, ep, c.Config.Network.Ports)
		if err != nil {
			return err
		}
		c.State.IP, c.State.HostVeth, p.network = a.IP, a.HostVeth, a
	}
	return nil
}

// Wait waits for the container's command to end, records how it ended and
// cleans up. It returns the exit status.
func (r *Runtime) Wait(c *container.Container, p *Process) int {
	status := p.WaitStatus()
	p.network.Close() // before Cleanup frees the ports for others
	c.State.OOMKilled = p.cgroup.OOMKills() > 0
	r.Cleanup(c)
	if c.Config.AutoRemove { // nothing to record: the folder goes
		r.Store.Remove(c)
		return status
	}
	c.State.Status, c.State.ExitCode, c.State.FinishedAt = container.Exited, status, time.Now()
	c.SaveState()
	return status
}

// Cleanup takes down everything set up for the container outside it: its
// processes, cgroup and network, and the containers that share its
// namespaces (a pod's members go with the container whose namespaces
// they joined). Every step tolerates what is already gone, so that `rm
// -f` can finish the job of a runtime that died. Killing the processes
// first also ends the container's namespaces, and with its network
// namespace the kernel deletes its veth pair. The caller owns the
// container.
func (r *Runtime) Cleanup(c *container.Container) {
	r.stopMembers(c)
	cgroups.Open(r.CgroupParent, c.Config.ID).Destroy() // kills what is left first
	switch {
	case c.Broken != "": // where it was attached is unknown: look everywhere
		r.Networks.DetachContainer(c.Config.ID)
	case c.Config.Network.Mode == container.BridgeNetwork:
		if n, err := r.Networks.Get(c.Config.Network.Name); err == nil {
			r.Networks.Detach(n, c.Config.ID, c.State.IP)
		}
	}
	os.RemoveAll(c.Path("work"))
	os.RemoveAll(c.Path("merged"))
}

// stopMembers kills the running containers that joined c's network, IPC
// or PID namespace, and waits until they are gone: c's address must not
// be given to another container while they still use it. Their monitors
// record them as killed (137) and clean up the rest.
func (r *Runtime) stopMembers(c *container.Container) {
	all, _ := r.Store.List()
	for _, m := range all {
		cfg := m.Config
		if m.Config.ID == c.Config.ID || (cfg.Network.Join != c.Config.ID && cfg.IPC != c.Config.ID && cfg.PID != c.Config.ID) {
			continue
		}
		if m.Kill(unix.SIGKILL) == nil {
			m.WaitGone(10 * time.Second)
		}
	}
}

// cloneFlags are the namespaces the container gets of its own; the ones
// it shares with another container are joined instead.
func cloneFlags(cfg container.Config) uintptr {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWUTS)
	if cfg.IPC == "" {
		flags |= unix.CLONE_NEWIPC
	}
	if cfg.PID == "" {
		flags |= unix.CLONE_NEWPID
	}
	if cfg.Network.Mode.OwnNamespace() {
		flags |= unix.CLONE_NEWNET
	}
	return flags
}

// sharedNamespaces lists the namespaces of other containers to join:
// --network, --ipc and --pid container:NAME, the makings of a pod.
func (r *Runtime) sharedNamespaces(c *container.Container) ([]nsenter.Namespace, error) {
	var join []nsenter.Namespace
	for kind, id := range map[string]string{"net": c.Config.Network.Join, "ipc": c.Config.IPC, "pid": c.Config.PID} {
		if id == "" {
			continue
		}
		other, err := r.Store.Get(id)
		if err != nil {
			return nil, err
		}
		if !other.State.Alive() {
			return nil, fmt.Errorf("cannot join the %s namespace of container %s: it is not running", kind, other.Config.Name)
		}
		join = append(join, nsenter.Of(other.State.Pid, kind)...)
		if kind == "net" {
			copyFile(other.Path("hosts"), c.Path("hosts"))
		}
	}
	return join, nil
}

// Spec is the container's configuration as an OCI runtime spec (see
// container.Config.Spec), with the namespaces it joins as paths while the
// containers that own them run.
func (r *Runtime) Spec(c *container.Container) *specs.Spec {
	joined := map[specs.LinuxNamespaceType]string{}
	for kind, id := range map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: c.Config.Network.Join,
		specs.IPCNamespace: c.Config.IPC, specs.PIDNamespace: c.Config.PID} {
		if id == "" {
			continue
		}
		if other, err := r.Store.Get(id); err == nil && other.State.Alive() {
			joined[kind] = container.JoinPath(other.State.Pid, kind)
		}
	}
	return c.Config.Spec(c.Dir, r.CgroupParent+"/"+c.Config.ID, joined)
}

// writeInitLayer writes the container's own /etc/hostname, /etc/hosts and
// /etc/resolv.conf.
func (r *Runtime) writeInitLayer(c *container.Container) error {
	files := map[string]string{
		"hostname":    c.Config.Hostname + "\n",
		"resolv.conf": resolvConf(),
	}
	if _, err := os.Stat(c.Path("hosts")); err != nil {
		files["hosts"] = fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", c.Config.Hostname)
		if c.Config.Network.Mode == container.HostNetwork {
			host, _ := os.ReadFile("/etc/hosts")
			files["hosts"] = string(host)
		}
	}
	for name, content := range files {
		if err := os.WriteFile(c.Path(name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// resolvConf is the host's resolver configuration, less the nameservers
// on 127.0.0.0/8: they are the host's own loopback, unreachable from a
// container's network namespace.
func resolvConf() string {
	data, _ := os.ReadFile("/etc/resolv.conf")
	var b strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "nameserver 127.") || line == "" {
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func copyFile(src, dst string) {
	if data, err := os.ReadFile(src); err == nil {
		os.WriteFile(dst, data, 0o644)
	}
}

// childPipes are the channels between the runtime and init, passed as
// file descriptors 3, 4 and 5 (see package initproc).
type childPipes struct {
	sync, syncChild       *os.File // runtime → init: "go on"
	errors, errorsChild   *os.File // init → runtime: what failed, EOF on exec
	console, consoleChild *os.File // init → runtime: the pty master
}

func newChildPipes(withConsole bool) (*childPipes, error) {
	p := &childPipes{}
	var err error
	if p.syncChild, p.sync, err = os.Pipe(); err != nil {
		return nil, err
	}
	if p.errors, p.errorsChild, err = os.Pipe(); err != nil {
		return nil, err
	}
	if withConsole {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		p.console, p.consoleChild = os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console")
	}
	return p, nil
}

func (p *childPipes) files() []*os.File {
	files := []*os.File{p.syncChild, p.errorsChild}
	if p.consoleChild != nil {
		files = append(files, p.consoleChild)
	}
	return files
}

func (p *childPipes) closeChildEnds() {
	for _, f := range []*os.File{p.syncChild, p.errorsChild, p.consoleChild} {
		if f != nil {
			f.Close()
		}
	}
}

func (p *childPipes) closeParentEnds() {
	for _, f := range []*os.File{p.sync, p.errors, p.console} {
		if f != nil {
			f.Close()
		}
	}
}

// initError reads what init reports: nothing before EOF means its exec
// succeeded; else "STATUS message".
func (p *childPipes) initError() error {
	msg, _ := io.ReadAll(p.errors)
	if len(msg) == 0 {
		return nil
	}
	code, text, _ := strings.Cut(string(msg), " ")
	status, err := strconv.Atoi(code)
	if err != nil {
		status = container.ExitRuntime
	}
	return &container.StatusError{Code: status, Msg: text}
}

// Remove deletes a container. A running one, one a live runtime is still
// starting and a broken one only with force: it is killed, and whatever
// its runtime did not clean up (the runtime may have died) is taken down
// here.
func (r *Runtime) Remove(c *container.Container, force bool) error {
	if err := removable(c, force); err != nil {
		return err
	}
	if force {
		// Through its cgroup too: a broken container's state does not
		// say which process is its own, and one being started has none
		// yet. Its monitor, if alive, then sees it exit.
		c.Kill(unix.SIGKILL)
		cgroups.Open(r.CgroupParent, c.Config.ID).Destroy()
		c.WaitGone(10 * time.Second)
	}
	// Its monitor, if alive, records the exit and cleans up first: give
	// it time, many may be exiting at once on a busy host.
	if err := c.Claim(30 * time.Second); err != nil {
		if errors.Is(err, container.ErrNotFound) {
			return nil // its monitor removed it (--rm)
		}
		return err
	}
	defer c.Release()
	if !force && c.Broken == "" && c.State.Status == container.Running && c.State.Alive() {
		return fmt.Errorf("container %s is running: stop it first, or use rm -f", c.Config.Name) // it started meanwhile
	}
	if !cleanedUp(c) {
		r.Cleanup(c)
	}
	return r.Store.Remove(c)
}

// cleanedUp tells whether whoever recorded the container's exit took
// everything down first, as Wait and a failed Start do.
func cleanedUp(c *container.Container) bool {
	return c.Broken == "" && c.State.Status == container.Exited
}

// removable checks that rm without -f may remove the container.
func removable(c *container.Container, force bool) error {
	if force {
		return nil
	}
	switch c.Status() {
	case container.Created:
		return fmt.Errorf("container %s is being started by process %d: wait, or use rm -f", c.Config.Name, c.State.MonitorPid)
	case container.Running:
		return fmt.Errorf("container %s is running: stop it first, or use rm -f", c.Config.Name)
	case container.Broken:
		return fmt.Errorf("container %s is broken (%s): use rm -f", c.Name(), c.Broken)
	}
	return nil
}

// Prune removes every container that is neither running nor owned by a
// live skiff process (being started, or monitored), whatever state a
// killed runtime left it in, broken ones included. It returns the names
// of those it removed.
func (r *Runtime) Prune() ([]string, error) {
	claimed, err := r.Store.ClaimUnowned()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, c := range claimed {
		if c.Broken == "" && c.State.Status == container.Running && c.State.Alive() {
			c.Release() // its monitor died, but it runs: rm -f it
			continue
		}
		if !cleanedUp(c) {
			r.Cleanup(c)
		}
		err := r.Store.Remove(c)
		c.Release()
		if err != nil {
			return removed, err
		}
		removed = append(removed, c.Name())
	}
	return removed, nil
}
