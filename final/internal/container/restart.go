package container

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Restarting is the status of a container whose process exited and whose
// monitor waits to start it again, as its restart policy asks.
const Restarting Status = "restarting"

// RestartPolicy is Docker's --restart: what the container's monitor does
// when its process exits.
type RestartPolicy struct {
	Name              string `json:"name,omitempty"`              // "no" (or empty), "on-failure", "always", "unless-stopped"
	MaximumRetryCount int    `json:"maximumRetryCount,omitempty"` // on-failure's N: restarts at most; 0: no limit
}

// ParseRestartPolicy reads no, on-failure[:N], always or unless-stopped.
func ParseRestartPolicy(s string) (RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	p := RestartPolicy{Name: name}
	switch {
	case name == "no" || name == "always" || name == "unless-stopped":
		if hasCount {
			return p, fmt.Errorf("invalid --restart %q: only on-failure takes a maximum retry count", s)
		}
	case name == "on-failure" && hasCount:
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return p, fmt.Errorf("invalid --restart %q: the maximum retry count must be a number, 0 or more", s)
		}
		p.MaximumRetryCount = n
	case name == "on-failure":
	default:
		return p, fmt.Errorf("invalid --restart %q: want no, on-failure[:N], always or unless-stopped", s)
	}
	if p.Name == "no" {
		p.Name = ""
	}
	return p, nil
}

// String is the policy as --restart takes it.
func (p RestartPolicy) String() string {
	switch {
	case p.Name == "":
		return "no"
	case p.MaximumRetryCount > 0:
		return fmt.Sprintf("%s:%d", p.Name, p.MaximumRetryCount)
	}
	return p.Name
}

// ShouldRestart is Docker's rule: whether a process that exited with
// status, after restarts so far, starts again. A container stopped by a
// user (stop, restart, rm -f) never restarts.
func (p RestartPolicy) ShouldRestart(status, restarts int, stoppedByUser bool) bool {
	switch {
	case stoppedByUser:
		return false
	case p.Name == "always" || p.Name == "unless-stopped":
		return true
	case p.Name == "on-failure":
		return status != 0 && (p.MaximumRetryCount == 0 || restarts < p.MaximumRetryCount)
	}
	return false
}

func (cfg *Config) validateRestart() error {
	if cfg.Restart.Name != "" && cfg.AutoRemove {
		return errors.New("conflicting options: --restart and --rm (a container that restarts is not removed when it exits)")
	}
	if _, err := ParseRestartPolicy(cfg.Restart.String()); err != nil {
		return err
	}
	return nil
}

// The "stopped" file in the container's folder says that a user stopped
// it (stop, restart, rm -f): its monitor must not start it again, and
// for an unless-stopped container, neither must `start --all-restartable`
// after a reboot. It is a file of its own, not part of state.json, because
// the one who stops a container does not own it: its monitor does, and
// writes state.json. `skiff start` removes it.
const stoppedFile = "stopped"

// MarkStopped records that a user stopped the container.
func (c *Container) MarkStopped() error {
	f, err := os.OpenFile(c.Path(stoppedFile), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("mark %s stopped: %w", c.Name(), err)
	}
	return f.Close()
}

// StoppedByUser tells whether a user stopped the container since it was
// last started.
func (c *Container) StoppedByUser() bool {
	_, err := os.Stat(c.Path(stoppedFile))
	return err == nil
}

// ClearStopped forgets that a user stopped the container: it is started
// again.
func (c *Container) ClearStopped() error {
	if err := os.Remove(c.Path(stoppedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// StoppedForGood tells whether the container will not run again unless
// someone starts it: its monitor recorded that it exited and gave up, or
// neither its process nor its monitor is alive. (Between the process's
// end and the monitor's record, it is dead and monitored: not yet.)
func (c *Container) StoppedForGood() bool {
	switch c.Status() {
	case Running, Restarting, Created:
		return false
	case Dead:
		return !c.OwnerAlive()
	}
	return true
}

// StartsAtBoot tells whether `start --all-restartable` starts the
// container (if it does not run), as Docker's daemon does when it
// starts: always, or unless-stopped unless a user stopped it.
func (c *Container) StartsAtBoot() bool {
	p := c.Config.Restart.Name
	return p == "always" || (p == "unless-stopped" && !c.StoppedByUser())
}
