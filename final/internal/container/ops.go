package container

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Status is the container's status as `skiff ps` shows it. The state file
// says what the runtime last recorded; if the runtime or its monitor was
// killed, the process may be gone although the file says "running", and a
// container whose monitor died before starting it stays "created".
func (c *Container) Status() Status {
	switch {
	case c.Broken != "":
		return Broken
	case c.State.Status == Running && !c.State.Alive():
		return Dead
	case (c.State.Status == Restarting || c.State.Status == Created && !c.State.AwaitsStart) && !c.OwnerAlive():
		return Dead
	}
	return c.State.Status
}

// Kill sends sig to the container's first process.
func (c *Container) Kill(sig unix.Signal) error {
	if c.Broken != "" || !c.State.Alive() {
		return fmt.Errorf("container %s is not running", c.Name())
	}
	if err := unix.Kill(c.State.Pid, sig); err != nil {
		return fmt.Errorf("kill -%d %d: %w", sig, c.State.Pid, err)
	}
	return nil
}

// Stop sends SIGTERM, and SIGKILL if the container has not exited after
// timeout, as `docker stop` does; a container that is not running is
// left as it is.
func (c *Container) Stop(timeout time.Duration) error {
	if c.Broken == "" && !c.State.Alive() {
		return nil // stopped already: nothing to do, as for Docker
	}
	if err := c.Kill(unix.SIGTERM); err != nil {
		return err
	}
	if c.WaitGone(timeout) {
		return nil
	}
	if err := c.Kill(unix.SIGKILL); err != nil && c.State.Alive() {
		return err
	}
	c.WaitGone(10 * time.Second)
	return nil
}

// WaitGone waits until the container's first process is gone, at most
// timeout; it tells whether it is.
func (c *Container) WaitGone(timeout time.Duration) bool {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !c.State.Alive() {
			return true
		}
	}
	return !c.State.Alive()
}

// WaitExited waits until the container's state says exited (its monitor
// recorded the status, and will not restart it).
func (c *Container) WaitExited(timeout time.Duration) {
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Reload() != nil || (c.State.Status != Running && c.State.Status != Restarting) {
			return
		}
	}
}

// SetMonitor records the calling process as the container's monitor.
func (c *Container) SetMonitor() { c.State.MonitorPid = os.Getpid() }
