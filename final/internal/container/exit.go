package container

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mount is a volume: a bind mount of Source at Destination.
type Mount = specs.Mount

// InitLayerFiles are written per container and mounted over the image's.
var InitLayerFiles = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// Docker's exit statuses for what went wrong before the command ran.
const (
	ExitRuntime    = 125 // skiff itself failed
	ExitCannotExec = 126
	ExitNotFound   = 127
)

// ExecError is a command that could not be started.
type ExecError struct {
	Name string
	Err  error
}

func (e *ExecError) Error() string { return fmt.Sprintf("exec %s: %v", e.Name, e.Err) }
func (e *ExecError) Unwrap() error { return e.Err }

// ExitStatus maps an error to Docker's statuses.
func ExitStatus(err error) int {
	var execErr *ExecError
	if !errors.As(err, &execErr) {
		return ExitRuntime
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, unix.ENOENT) {
		return ExitNotFound
	}
	return ExitCannotExec
}

// WaitStatusCode is the shell's view of how a process ended: its exit
// status, or 128+N when signal N killed it.
func WaitStatusCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// StatusError is a container's own non-zero exit status, or a failure
// before its command ran (125, 126, 127), with its message.
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// StatusOf is the exit status for an error of Start: the one init
// reported, or 125.
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return ExitStatus(err)
}
