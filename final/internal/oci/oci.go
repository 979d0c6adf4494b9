// Package oci is skiff's OCI runtime: it runs a bundle (a config.json in
// the format of the OCI runtime spec, and a root filesystem) as runc
// does, through the life the spec defines: create sets the container up
// and leaves its init waiting, start lets it exec the command, kill
// signals it, delete takes it down. skiff-runtime (runc's command line,
// for containerd and Docker) and `skiff run` both drive it; the spec is
// all it reads.
//
// The container's side, the process inside the new namespaces, is
// package initproc (skiff-init).
package oci

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/cgroups"
	"skiff/internal/exit"
	"skiff/internal/hooks"
	"skiff/internal/initproc"
	"skiff/internal/safefile"
	"skiff/internal/seccomp"
)

// Paused is the status of a frozen container: runc's word, not the spec's.
const Paused specs.ContainerState = "paused"

// ErrNotRunning is an operation that needs the container's init alive.
var ErrNotRunning = errors.New("the container is not running")

// Container is one container of this runtime, as create recorded it.
type Container struct {
	ID       string    `json:"id"`
	Bundle   string    `json:"bundle"`
	Pid      int       `json:"pid"`      // host PID of init, then of the command
	PidStart uint64    `json:"pidStart"` // its start time, to tell a reused PID
	Created  time.Time `json:"created"`
	Cgroup   string    `json:"cgroup"` // linux.cgroupsPath, or the default
	// What start, state and delete need of the spec, so that they do not
	// decode all of it (encoding/json's first decode of the spec's types
	// costs about a millisecond): its annotations, and the hooks that run
	// after create.
	Annotations map[string]string `json:"annotations,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`

	// Spec is the whole spec: in the process that created the container,
	// or after LoadSpec, from spec.json in the state folder.
	Spec *specs.Spec `json:"-"`
	Dir  string      `json:"-"` // its state folder: state.json, spec.json and the start FIFO

	// Only in the process that created it: init is its child.
	init   *exec.Cmd
	sync   *os.File
	syncIn *bufio.Reader
	held   *initproc.Held  // in a user namespace, what init gets of the host's files
	filter *seccomp.Filter // linux.seccomp, compiled once, sent to init
}

func (c *Container) fifo() string { return filepath.Join(c.Dir, "exec.fifo") }

// Status is the container's status now, read from the kernel.
func (c *Container) Status() specs.ContainerState {
	if !c.alive() {
		return specs.StateStopped
	}
	if _, err := os.Lstat(c.fifo()); err == nil {
		return specs.StateCreated
	}
	if cgroups.OpenPath(c.Cgroup).Frozen() {
		return Paused
	}
	return specs.StateRunning
}

func (c *Container) alive() bool {
	return Alive(c.Pid, c.PidStart)
}

// State is the spec's state of the container, as `state` prints it and
// hooks read it on their stdin.
func (c *Container) State() specs.State {
	return specs.State{Version: specs.Version, ID: c.ID, Status: c.Status(), Bundle: c.Bundle, Pid: c.Pid,
		Annotations: c.Annotations}
}

// Save records the container in its folder, for the runtime's later
// commands (skiff-runtime start, kill, delete, exec): the spec as it was
// created, whatever happens to the bundle's config.json afterwards, and
// the state.
func (c *Container) Save() error {
	if err := safefile.WriteJSON(filepath.Join(c.Dir, "spec.json"), c.Spec, 0o600); err != nil {
		return err
	}
	return safefile.WriteJSON(filepath.Join(c.Dir, "state.json"), c, 0o600)
}

// LoadSpec reads the whole spec that Save recorded, for exec.
func (c *Container) LoadSpec() error {
	if c.Spec != nil {
		return nil
	}
	var spec specs.Spec
	if err := safefile.ReadJSON(filepath.Join(c.Dir, "spec.json"), &spec); err != nil {
		return err
	}
	c.Spec = &spec
	return nil
}

// Load reads what Save recorded.
func Load(dir string) (*Container, error) {
	var c Container
	if err := safefile.ReadJSON(filepath.Join(dir, "state.json"), &c); err != nil {
		return nil, err
	}
	c.Dir = dir
	return &c, nil
}

// Start lets a created container's init exec the command: it opens the
// FIFO init is blocked on. In the process that created the container, it
// also waits for the exec and returns its error, with Docker's status
// (126, 127). Then it runs the poststart hooks.
func (c *Container) Start() error {
	if s := c.Status(); s != specs.StateCreated {
		return fmt.Errorf("container %s is %s: only a created container can be started", c.ID, s)
	}
	if err := c.openGate(); err != nil {
		return err
	}
	if c.sync != nil {
		if err := c.execResult(); err != nil {
			return err
		}
	}
	if c.Hooks != nil {
		if err := hooks.RunEach("poststart", c.Hooks.Poststart, c.State()); err != nil {
			warn(err)
		}
	}
	return nil
}

// openGate reads the byte init writes into the FIFO once a reader opens
// it. The open does not block (O_NONBLOCK), so a dead init is noticed.
func (c *Container) openGate() error {
	fd, err := unix.Open(c.fifo(), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", c.fifo(), err)
	}
	defer unix.Close(fd)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && err != unix.EINTR {
			return fmt.Errorf("poll %s: %w", c.fifo(), err)
		}
		if n > 0 {
			got, err := unix.Read(fd, make([]byte, 1))
			if got == 1 {
				return os.Remove(c.fifo())
			}
			if err != unix.EAGAIN {
				return fmt.Errorf("container %s: its init exited before start", c.ID)
			}
		}
		if !c.alive() {
			return fmt.Errorf("container %s: its init exited before start", c.ID)
		}
	}
}

func (c *Container) execResult() error {
	defer c.sync.Close()
	return execResult(c.syncIn)
}

// execResult waits for init's exec: EOF on the sync socket means it
// happened, a message says why not.
func execResult(sync *bufio.Reader) error {
	line, err := sync.ReadBytes('\n')
	if err == io.EOF && len(line) == 0 {
		return nil
	}
	return initError(line, err)
}

// initError reads a failure init reported.
func initError(line []byte, err error) error {
	var m initproc.Message
	if err == nil || len(line) > 0 {
		err = json.Unmarshal(line, &m)
	}
	if err != nil {
		return fmt.Errorf("the container's init exited without saying why (%v)", err)
	}
	return &exit.Error{Code: m.Status, Msg: m.Error}
}

// Wait waits for the command of a container this process created to end
// and returns its exit status, 128+N when signal N killed it.
func (c *Container) Wait() int { return waitCode(c.init) }

// Kill sends sig to the container's init, or with all to every process
// in its cgroup. A frozen container is thawed after SIGKILL, so that it
// can die.
func (c *Container) Kill(sig unix.Signal, all bool) error {
	cg := cgroups.OpenPath(c.Cgroup)
	if all {
		pids, err := cg.Procs()
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, pid := range pids {
			unix.Kill(pid, sig)
		}
	} else {
		if !c.alive() {
			return ErrNotRunning
		}
		if err := unix.Kill(c.Pid, sig); err != nil {
			return fmt.Errorf("kill %d: %w", c.Pid, err)
		}
	}
	if sig == unix.SIGKILL && cg.Frozen() {
		return cg.Freeze(false)
	}
	return nil
}

// Delete takes a stopped container down, or with force one that is
// created, runs or is paused. Its processes are killed with its cgroup, then the
// poststop hooks run. The container's folder is the caller's.
func (c *Container) Delete(force bool) error {
	status := c.Status()
	if status != specs.StateStopped && !force {
		return fmt.Errorf("container %s is %s: stop it first, or delete --force", c.ID, status)
	}
	if err := cgroups.OpenPath(c.Cgroup).Destroy(); err != nil { // kills what is left first
		return err
	}
	os.Remove(c.fifo())
	if c.Hooks != nil {
		state := c.State()
		state.Status = specs.StateStopped
		if err := hooks.RunEach("poststop", c.Hooks.Poststop, state); err != nil {
			warn(err)
		}
	}
	return nil
}

// Pause freezes every process of the container; Resume thaws them.
func (c *Container) Pause() error  { return c.freeze(true) }
func (c *Container) Resume() error { return c.freeze(false) }

func (c *Container) freeze(frozen bool) error {
	want := map[bool]specs.ContainerState{true: specs.StateRunning, false: Paused}[frozen]
	if s := c.Status(); s != want {
		return fmt.Errorf("container %s is %s, not %s", c.ID, s, want)
	}
	return cgroups.OpenPath(c.Cgroup).Freeze(frozen)
}

// Processes lists the host PIDs of the container's processes.
func (c *Container) Processes() ([]int, error) {
	pids, err := cgroups.OpenPath(c.Cgroup).Procs()
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return pids, err
}

// Update changes the container's limits.
func (c *Container) Update(r *specs.LinuxResources) error {
	if !c.alive() {
		return ErrNotRunning
	}
	return cgroups.OpenPath(c.Cgroup).Set(r)
}

// Warn reports what the spec says must not stop the container's life (a
// failed poststart or poststop hook). skiff-runtime sends it to its log.
var Warn = func(err error) { fmt.Fprintln(os.Stderr, "warning:", err) }

func warn(err error) { Warn(err) }
