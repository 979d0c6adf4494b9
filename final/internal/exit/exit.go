// Package exit maps what went wrong to the exit statuses Docker uses
// (125, 126, 127) and to the shell's view of how a process ended.
package exit

import (
	"errors"
	"fmt"
	"os/exec"

	"golang.org/x/sys/unix"
)

// Docker's exit statuses for what went wrong before the command ran.
const (
	Runtime    = 125 // skiff itself failed
	CannotExec = 126
	NotFound   = 127
)

// ExecError is a command that could not be started.
type ExecError struct {
	Name string
	Err  error
}

func (e *ExecError) Error() string { return fmt.Sprintf("exec %s: %v", e.Name, e.Err) }
func (e *ExecError) Unwrap() error { return e.Err }

// Code maps an error to Docker's statuses.
func Code(err error) int {
	var execErr *ExecError
	if !errors.As(err, &execErr) {
		return Runtime
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, unix.ENOENT) {
		return NotFound
	}
	return CannotExec
}

// WaitCode is the shell's view of how a process ended: its exit
// status, or 128+N when signal N killed it.
func WaitCode(ws unix.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// Error is a container's own non-zero exit status, or a failure
// before its command ran (125, 126, 127), with its message.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Of is the exit status for an error of Start: the one init
// reported, or 125.
func Of(err error) int {
	var se *Error
	if errors.As(err, &se) {
		return se.Code
	}
	return Code(err)
}
