// Package initproc is the container's side of an OCI runtime: the first
// process inside the new namespaces (runc calls it "init"), the program
// skiff-init (final/cmd/skiff-init). The runtime (package oci) sends it
// the container's spec, sets up the cgroup and runs its hooks outside;
// init then builds the mount table and root, sets the hostname and
// terminal, says it is ready, and waits for `start`. Then it becomes the
// spec's user, with its capabilities, limits and environment, and execs
// the command, which becomes the container's PID 1. With skiff's --init
// it stays PID 1 itself, as a reaper.
package initproc

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/exit"
	"skiff/internal/hooks"
	"skiff/internal/seccomp"
)

// The file descriptors the runtime passes to init.
const (
	// SyncFd is a socket to the runtime. The runtime writes a Config as
	// one JSON line, then one byte when init may go on; init writes
	// Messages. It is closed on exec: EOF tells the runtime the command
	// runs.
	SyncFd = 3
	// ConsoleFd is, with a terminal, a unix socket for the pty's master.
	ConsoleFd = 4
	// BinaryFd is, for exec, the sealed copy of skiff-init this process
	// runs from (see oci's sealedCopy).
	BinaryFd = 4
)

// Config is what init is told to do.
type Config struct {
	Spec    *specs.Spec `json:"spec"`
	Root    string      `json:"root"` // the root filesystem, an absolute path
	Bundle  string      `json:"bundle"`
	Fifo    string      `json:"fifo"`    // opened for writing once ready: it blocks until `start`
	State   specs.State `json:"state"`   // for the hooks init runs
	NoPivot bool        `json:"noPivot"` // runc's --no-pivot
	// Exec: the container runs already, and this process, started in
	// its namespaces and cgroup, is to become spec.process only (exec).
	Exec bool `json:"exec,omitempty"`
	// InProcess: the runtime that creates the container starts it too,
	// and holds the sync socket until the exec (skiff run). If it dies
	// before start, init gives up rather than wait for a start that
	// will never come. skiff-runtime's create exits after create.
	InProcess bool `json:"inProcess,omitempty"`
	// Seccomp is linux.seccomp as the runtime compiled it, so that init
	// does not compile it again.
	Seccomp *seccomp.Filter `json:"seccomp,omitempty"`
	// Held: in a user namespace, the host's files init needs, which the
	// runtime opened for it (userns.go).
	Held *Held `json:"held,omitempty"`
}

// Message is one line init writes to the runtime.
type Message struct {
	Ready  bool   `json:"ready,omitempty"` // set up, waiting for start
	Status int    `json:"status,omitempty"`
	Error  string `json:"error,omitempty"`
}

// ReaperAnnotation, set to "true" in the spec, is skiff's --init: init
// stays PID 1 and reaps orphans, as Docker's docker-init does.
const ReaperAnnotation = "org.skiff.init"

// Main runs init and does not return.
func Main() {
	// The capability sets belong to a thread, and only the thread that
	// execs passes its own on: keep this goroutine on one.
	runtime.LockOSThread()
	// Not dumpable: root in the container cannot open this process's
	// /proc files (its exe, its fds) while it works among them.
	unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
	unix.CloseOnExec(SyncFd)
	sync := os.NewFile(SyncFd, "sync")
	err := run(sync)
	status := exit.Of(err)
	tell(sync, Message{Status: status, Error: err.Error()})
	os.Exit(status)
}

// tell writes a message to the runtime. After `start` the runtime may be
// gone (a separate skiff-runtime create): then an error goes to stderr,
// the container's output, where whoever runs it sees it.
func tell(sync *os.File, m Message) {
	line, _ := json.Marshal(m)
	if _, err := sync.Write(append(line, '\n')); err != nil && m.Error != "" {
		fmt.Fprintln(os.Stderr, "skiff-init:", m.Error)
	}
}

func run(sync *os.File) error {
	in := bufio.NewReader(sync)
	cfg, err := readConfig(in)
	if err != nil {
		return err
	}
	if cfg.Exec {
		unix.CloseOnExec(BinaryFd)
		p, err := prepareProcess(cfg.Spec, false, nil)
		if err != nil {
			return err
		}
		return p.start(sync)
	}
	// The runtime puts this process in its cgroup, runs its hooks and
	// sets up the network while our Go runtime starts; EOF without the
	// byte means it failed or died: do not run unconfined.
	if b, err := in.ReadByte(); err != nil || b != 1 {
		return errors.New("the runtime did not finish setting up the container")
	}
	gate, err := openGate(cfg)
	if err != nil {
		return err
	}
	if err := setUpRoot(cfg); err != nil {
		return err
	}
	if err := setUpNamespaces(cfg.Spec); err != nil {
		return err
	}
	p, err := prepareProcess(cfg.Spec, true, cfg.Seccomp)
	if err != nil {
		return err
	}
	tell(sync, Message{Ready: true})
	var started atomic.Bool
	if cfg.InProcess {
		go giveUpWithRuntime(in, &started)
	}
	if err := waitForStart(gate); err != nil {
		return err
	}
	started.Store(true)
	if err := runHooks("startContainer", cfg.Spec.Hooks, cfg.State); err != nil {
		return err
	}
	return p.start(sync)
}

func readConfig(in *bufio.Reader) (*Config, error) {
	line, err := in.ReadBytes('\n')
	var cfg Config
	if err == nil {
		err = json.Unmarshal(line, &cfg)
	}
	if err == nil && (cfg.Spec == nil || cfg.Spec.Linux == nil) {
		err = errors.New("no spec")
	}
	if err != nil {
		return nil, fmt.Errorf("read the container's config from the runtime: %w", err)
	}
	return &cfg, nil
}

// giveUpWithRuntime exits when the runtime closes the sync socket
// before start: it died (killed at that very moment, say), and the
// container would otherwise wait for ever, unowned. After start, init
// closes the socket itself (--init's reaper) or execs.
func giveUpWithRuntime(in *bufio.Reader, started *atomic.Bool) {
	if _, err := in.ReadByte(); err != nil && !started.Load() {
		os.Exit(exit.Runtime)
	}
}

// openGate holds the start FIFO, whose path is the host's, before
// pivot_root.
func openGate(cfg *Config) (int, error) {
	if cfg.Held != nil {
		return cfg.Held.Fifo, nil
	}
	gate, err := unix.Open(cfg.Fifo, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", cfg.Fifo, err)
	}
	return gate, nil
}

// waitForStart blocks until `start`: opening a FIFO for writing waits
// for a reader, and start is that reader. The FIFO is reopened through
// the O_PATH descriptor init holds, in the container's /proc.
func waitForStart(gate int) error {
	fifo := fmt.Sprintf("/proc/self/fd/%d", gate)
	f, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open the start FIFO %s: %w", fifo, err)
	}
	defer f.Close()
	if _, err := f.Write([]byte{0}); err != nil {
		return fmt.Errorf("write %s: %w", fifo, err)
	}
	return nil
}

// runHooks runs the hooks init runs itself, inside the container's
// namespaces: createContainer before pivot_root, startContainer after.
func runHooks(kind string, h *specs.Hooks, state specs.State) error {
	if h == nil {
		return nil
	}
	list := map[string][]specs.Hook{"createContainer": h.CreateContainer, "startContainer": h.StartContainer}[kind]
	return hooks.Run(kind, list, state)
}
