package lifecycle

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"skiff/internal/container"
	"skiff/internal/exit"
)

// Monitor is the life of a detached container's monitor, the process
// that owns it (see container.Store) and is its parent: it records
// itself, starts the container with its output going to out, tells ready
// how that went ("ok", or "STATUS message") and closes it, then waits to
// record the exit status and clean up. Its restart policy (--restart) may
// have it start the container again, after a delay that grows as Docker's
// does, until a user stops it. It returns when the container has exited
// for good.
//
// skiff has no daemon: this process, one per container, is what a daemon
// would be for it. It serves the attach socket of an interactive
// container (see listenAttach), and holds the master of its terminal.
func (r *Runtime) Monitor(c *container.Container, ready io.WriteCloser, out *os.File) {
	defer ready.Close()
	c.SetMonitor()
	if err := c.SaveState(); err != nil { // else prune would take it for dead if run -d died
		fmt.Fprintf(ready, "%d %v", exit.Runtime, err)
		return
	}
	var hub *stdinHub
	if c.Config.Interactive {
		var err error
		if hub, err = listenAttach(c); err != nil {
			fmt.Fprintf(ready, "%d %v", exit.Runtime, err)
			return
		}
		defer hub.close(c)
	}
	defer watchLog(c, out)()
	var delays backoff
	for first := true; ; first = false {
		status, err := r.runOnce(c, hub, out, func() {
			if first {
				fmt.Fprint(ready, "ok")
				ready.Close()
			}
		})
		if err != nil && first {
			fmt.Fprintf(ready, "%d %v", exit.Of(err), err)
			if c.Config.AutoRemove {
				r.Store.Remove(c)
			}
			return
		}
		if err != nil && c.StoppedByUser() { // a start that stop cut short is a stop
			c.State.Error, status, err = "", 128+int(unix.SIGKILL), nil
		}
		ran := time.Duration(0)
		if err == nil {
			ran = time.Since(c.State.StartedAt)
		}
		if !c.Config.Restart.ShouldRestart(status, c.State.RestartCount, c.StoppedByUser()) {
			if err == nil { // else Start recorded the failure
				r.recordExit(c, status)
			}
			return
		}
		c.State.Status, c.State.ExitCode, c.State.FinishedAt = container.Restarting, status, time.Now()
		c.State.Pid, c.State.PidStart = 0, 0
		c.State.RestartCount++
		c.SaveState()
		if !sleepUnlessStopped(c, delays.next(ran)) {
			r.recordExit(c, status)
			return
		}
	}
}

// runOnce starts the container's process, calls started once it runs,
// and waits for it to end and cleans up. It returns its exit status, or
// why it did not start (Start recorded that).
func (r *Runtime) runOnce(c *container.Container, hub *stdinHub, out *os.File, started func()) (int, error) {
	stdio := IO{Stdout: out, Stderr: out}
	var stdin *os.File // the write end of the container's stdin, -i without -t
	if c.Config.Interactive && !c.Config.Process.Terminal {
		var err error
		if stdio.Stdin, stdin, err = os.Pipe(); err != nil {
			return exit.Runtime, fmt.Errorf("pipe: %w", err)
		}
		defer stdin.Close()
	}
	p, err := r.Start(c, stdio)
	if stdio.Stdin != nil {
		stdio.Stdin.Close() // the container has its own
	}
	if err != nil {
		return exit.Of(err), err
	}
	started()
	if c.StoppedByUser() { // stopped while it was starting (see stopForGood)
		p.Signal(unix.SIGKILL)
	}
	relayed := make(chan struct{})
	if p.Master != nil {
		hub.setStdin(p.Master, p.Master)
		go func() {
			io.Copy(out, p.Master) // ends with EIO once the last slave is closed
			close(relayed)
		}()
	} else {
		hub.setStdin(stdin, nil)
		close(relayed)
	}
	status := r.ended(c, p)
	hub.setStdin(nil, nil)
	select { // the rest of its output
	case <-relayed:
	case <-time.After(time.Second):
	}
	if p.Master != nil {
		p.Master.Close()
	}
	return status, nil
}
