// Package lifecycle is the runtime's side of a container, outside it:
// Start sets up its cgroup and network and starts its init (package
// initproc, the inside), Wait waits for it and records how it ended,
// Cleanup and Remove take everything down. The foreground `skiff run` and
// the monitor of a detached container make the same calls.
package lifecycle

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/cgroups"
	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/network"
	"skiff/internal/oci"
	"skiff/internal/safefile"
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
	oci     *oci.Container
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
		c.State.ExitCode = exit.Runtime
		var se *exit.Error
		if errors.As(err, &se) {
			c.State.ExitCode = se.Code
		}
		c.SaveState()
		return nil, err
	}
	return p, nil
}

// start writes the container's bundle, its folder: the spec as
// config.json, the init layer's files and the overlay's folders; then
// creates and starts it with skiff's OCI runtime (package oci), in this
// process, and attaches its network in between.
func (r *Runtime) start(c *container.Container, stdio IO) (_ *Process, err error) {
	spec, err := r.writeBundle(c)
	if err != nil {
		return nil, err
	}
	p := &Process{}
	defer func() {
		if err != nil {
			p.network.Close()
		}
	}()
	opts := oci.CreateOptions{Init: r.Init, CgroupParent: r.CgroupParent, InProcess: true,
		Prepare: func(pid int) error { return r.attach(c, p, pid) }}
	if !c.Config.Process.Terminal {
		opts.Stdio = [3]*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr}
	}
	var console *os.File
	if c.Config.Process.Terminal {
		if console, opts.ConsoleSocket, err = oci.SocketPair(); err != nil {
			return nil, err
		}
		defer console.Close()
	}
	p.oci, err = oci.Create(c.Dir, c.Config.ID, c.Dir, spec, opts)
	if opts.ConsoleSocket != nil {
		opts.ConsoleSocket.Close()
	}
	if err != nil {
		return nil, err
	}
	if console != nil {
		if p.Master, err = terminal.ReceiveFile(console, "pty"); err != nil {
			p.oci.Kill(unix.SIGKILL, false)
			p.oci.Wait()
			return nil, err
		}
	}
	if err := p.oci.Start(); err != nil {
		p.oci.Wait()
		return nil, err
	}
	return p, nil
}

// attach runs once the container's init is born, before it builds the
// root: it records the container as running and attaches its network.
func (r *Runtime) attach(c *container.Container, p *Process, pid int) error {
	c.State.Pid = pid
	c.State.PidStart, _ = oci.ProcessStart(pid)
	c.State.Cgroup = cgroups.Open(r.CgroupParent, c.Config.ID).Paths()
	if c.Config.Network.Mode == container.BridgeNetwork {
		n, err := r.Networks.Get(c.Config.Network.Name)
		if err != nil {
			return err
		}
		ep := network.Endpoint{ID: c.Config.ID, Name: c.Config.Name, HostsFile: c.Path("hosts"), Hostname: c.Config.Hostname,
			IP: c.Config.Network.IP, ExtraHosts: c.Config.Network.ExtraHosts}
		a, err := r.Networks.Attach(n, pid, ep, c.Config.Network.Ports)
		if err != nil {
			return err
		}
		c.State.IP, c.State.HostVeth, c.State.Ports, p.network = a.IP, a.HostVeth, a.Ports, a
	}
	c.State.Status, c.State.StartedAt = container.Running, time.Now()
	return c.SaveState()
}

// writeBundle makes the container's folder a bundle: the files of its
// init layer, the overlay's folders, and config.json, its spec.
func (r *Runtime) writeBundle(c *container.Container) (*specs.Spec, error) {
	spec, err := r.Spec(c)
	if err != nil {
		return nil, err
	}
	if err := r.writeInitLayer(c); err != nil {
		return nil, err
	}
	for _, sub := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(c.Path(sub), 0o755); err != nil {
			return nil, err
		}
	}
	if c.Config.UserNS != nil {
		if err := r.userNSRoot(c, spec); err != nil {
			return nil, err
		}
	}
	if err := safefile.WriteJSON(c.Path("config.json"), spec, 0o600); err != nil {
		return nil, err
	}
	return spec, nil
}

// LoadSpec reads the spec the container runs with, from its bundle.
func (r *Runtime) LoadSpec(c *container.Container) (*specs.Spec, error) {
	return oci.LoadBundle(c.Dir)
}

// ociContainer is the running container as the OCI runtime sees it.
func (r *Runtime) ociContainer(c *container.Container) (*oci.Container, error) {
	spec, err := r.LoadSpec(c)
	if err != nil {
		return nil, err
	}
	return &oci.Container{ID: c.Config.ID, Bundle: c.Dir, Dir: c.Dir, Pid: c.State.Pid, PidStart: c.State.PidStart,
		Cgroup: r.CgroupParent + "/" + c.Config.ID, Spec: spec}, nil
}

// Exec starts the process p in the running container c (see
// oci.Container.Exec), with stdio as its stdin, stdout and stderr.
func (r *Runtime) Exec(c *container.Container, p *specs.Process, stdio IO) (*oci.Process, error) {
	if !c.State.Alive() {
		return nil, fmt.Errorf("container %s is not running", c.Name())
	}
	ctr, err := r.ociContainer(c)
	if err != nil {
		return nil, err
	}
	return ctr.Exec(p, oci.ExecOptions{Init: r.Init, Stdio: [3]*os.File{stdio.Stdin, stdio.Stdout, stdio.Stderr}})
}

// Signal sends sig to the container's command.
func (p *Process) Signal(sig os.Signal) { p.oci.Kill(sig.(unix.Signal), false) }

// WaitStatus waits for the container's command to end and returns its
// exit status.
func (p *Process) WaitStatus() int { return p.oci.Wait() }

// Wait waits for the container's command to end, records how it ended and
// cleans up. It returns the exit status.
func (r *Runtime) Wait(c *container.Container, p *Process) int {
	return r.recordExit(c, r.ended(c, p))
}

// recordExit records that the container exited with status, for good,
// or removes it (--rm). It returns the status.
func (r *Runtime) recordExit(c *container.Container, status int) int {
	if c.Config.AutoRemove { // nothing to record: the folder goes
		r.Store.Remove(c)
		return status
	}
	c.State.Status, c.State.ExitCode, c.State.FinishedAt = container.Exited, status, time.Now()
	c.SaveState()
	return status
}

// ended waits for the container's command to end and takes down what
// was set up for it, without recording anything yet. It returns the exit
// status.
func (r *Runtime) ended(c *container.Container, p *Process) int {
	status := p.WaitStatus()
	p.network.Close() // before Cleanup frees the ports for others
	c.State.OOMKilled = cgroups.Open(r.CgroupParent, c.Config.ID).OOMKills() > 0
	r.Cleanup(c)
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
	os.Remove(c.Path("exec.fifo")) // the OCI runtime's, left by a start that was killed: start may use the folder again
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

// Spec is the container's configuration as an OCI runtime spec (see
// container.Config.Spec), with the namespaces it joins (--network, --ipc
// and --pid container:NAME, the makings of a pod) as the paths of the
// running containers that own them. Sharing another's network, it shares
// its /etc/hosts too.
func (r *Runtime) Spec(c *container.Container) (*specs.Spec, error) {
	joined := map[specs.LinuxNamespaceType]string{}
	var others []*container.Container
	for kind, id := range map[specs.LinuxNamespaceType]string{specs.NetworkNamespace: c.Config.Network.Join,
		specs.IPCNamespace: c.Config.IPC, specs.PIDNamespace: c.Config.PID} {
		if id == "" || id == container.HostNamespace {
			continue
		}
		other, err := r.Store.Get(id)
		if err != nil {
			return nil, err
		}
		if !other.State.Alive() {
			return nil, fmt.Errorf("cannot join the %s namespace of container %s: it is not running", kind, other.Config.Name)
		}
		joined[kind] = container.JoinPath(other.State.Pid, kind)
		switch kind {
		case specs.NetworkNamespace:
			copyFile(other.Path("hosts"), c.Path("hosts"))
		case specs.IPCNamespace:
			if err := checkSharedShm(other.State.Pid); err != nil {
				return nil, fmt.Errorf("--ipc container:%s: %w", other.Config.Name, err)
			}
		}
		others = append(others, other)
	}
	if err := joinUserNamespace(c, others, joined); err != nil {
		return nil, err
	}
	return c.Config.Spec(c.Dir, r.CgroupParent+"/"+c.Config.ID, joined), nil
}

// checkSharedShm checks that the /dev/shm of the container whose first
// process is pid, which a container that joins its IPC namespace gets
// (container.SharedShm), is what skiff mounted there: a tmpfs, reached
// without a symlink. Init clones it in that container's mount namespace,
// where a symlink could lead only into that container's own files; the
// check keeps it to the shared memory, as the joiner asked.
func checkSharedShm(pid int) error {
	root, err := os.Open(fmt.Sprintf("/proc/%d/root", pid))
	if err != nil {
		return err
	}
	defer root.Close()
	fd, err := unix.Openat2(int(root.Fd()), "dev/shm", &unix.OpenHow{
		Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS})
	if err != nil {
		return fmt.Errorf("openat2 /dev/shm: %w", err)
	}
	defer unix.Close(fd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(fd, &fs); err != nil {
		return fmt.Errorf("statfs /dev/shm: %w", err)
	}
	if fs.Type != unix.TMPFS_MAGIC {
		return errors.New("its /dev/shm is not a tmpfs")
	}
	return nil
}

// writeInitLayer writes the container's own /etc/hostname, /etc/hosts and
// /etc/resolv.conf.
func (r *Runtime) writeInitLayer(c *container.Container) error {
	files := map[string]string{
		"hostname":    c.Config.Hostname + "\n",
		"resolv.conf": resolvConf(c.Config.Network),
	}
	if _, err := os.Stat(c.Path("hosts")); err != nil {
		files["hosts"] = fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n", c.Config.Hostname)
		if c.Config.Network.Mode == container.HostNetwork {
			host, _ := os.ReadFile("/etc/hosts")
			files["hosts"] = string(host)
		}
		files["hosts"] += network.ExtraHostsLines(c.Config.Network.ExtraHosts)
	}
	for name, content := range files {
		if err := os.WriteFile(c.Path(name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// resolvConf is the host's resolver configuration, with the container's
// --dns and --dns-search (see network.ResolvConf).
func resolvConf(n container.NetworkConfig) string {
	data, _ := os.ReadFile("/etc/resolv.conf")
	return network.ResolvConf(string(data), n.DNS, n.DNSSearch)
}

func copyFile(src, dst string) {
	if data, err := os.ReadFile(src); err == nil {
		os.WriteFile(dst, data, 0o644)
	}
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
		c.MarkStopped() // else its monitor would start it again (--restart)
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
		if c.State.AwaitsStart {
			return nil
		}
		return fmt.Errorf("container %s is being started by process %d: wait, or use rm -f", c.Config.Name, c.State.MonitorPid)
	case container.Running, container.Restarting:
		return fmt.Errorf("container %s is %s: stop it first, or use rm -f", c.Config.Name, c.Status())
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

// Pause freezes every process of a running container (docker pause).
func (r *Runtime) Pause(c *container.Container) error {
	ctr, err := r.running(c)
	if err != nil {
		return err
	}
	return ctr.Pause()
}

// Unpause thaws a paused container.
func (r *Runtime) Unpause(c *container.Container) error {
	ctr, err := r.running(c)
	if err != nil {
		return err
	}
	return ctr.Resume()
}

// Paused tells whether the container is frozen.
func (r *Runtime) Paused(c *container.Container) bool {
	return c.Status() == container.Running && cgroups.Open(r.CgroupParent, c.Config.ID).Frozen()
}

// Kill sends sig to the container's first process; after SIGKILL a
// paused container is thawed, so that it can die, as Docker does.
func (r *Runtime) Kill(c *container.Container, sig unix.Signal) error {
	if err := c.Kill(sig); err != nil {
		return err
	}
	if sig == unix.SIGKILL && r.Paused(c) {
		return cgroups.Open(r.CgroupParent, c.Config.ID).Freeze(false)
	}
	return nil
}

// Stop is docker stop: SIGTERM, then SIGKILL after timeout. A paused
// container is thawed first, to be able to handle the SIGTERM; one with a
// restart policy stays stopped.
func (r *Runtime) Stop(c *container.Container, timeout time.Duration) error {
	if err := r.stopForGood(c); err != nil {
		return err
	}
	if r.Paused(c) {
		if err := cgroups.Open(r.CgroupParent, c.Config.ID).Freeze(false); err != nil {
			return err
		}
	}
	return c.Stop(timeout)
}

// running is a running container as the OCI runtime sees it.
func (r *Runtime) running(c *container.Container) (*oci.Container, error) {
	if c.Status() != container.Running {
		return nil, fmt.Errorf("container %s is not running", c.Name())
	}
	return r.ociContainer(c)
}
