package lifecycle

import (
	"time"

	"skiff/internal/container"
)

// Docker's delays between restarts: the first after 100 ms, each next
// one twice the last, at most a minute; back to 100 ms once the process
// ran for 10 s, so that a service that crashes once a day restarts at
// once, and one that crashes at start-up does not spin.
const (
	firstBackoff = 100 * time.Millisecond
	maxBackoff   = time.Minute
	resetAfter   = 10 * time.Second
)

// backoff is the delay before the next restart.
type backoff struct{ delay time.Duration }

// next is the delay before restarting a process that ran for ran.
func (b *backoff) next(ran time.Duration) time.Duration {
	switch {
	case b.delay == 0 || ran >= resetAfter:
		b.delay = firstBackoff
	default:
		b.delay = min(2*b.delay, maxBackoff)
	}
	return b.delay
}

// sleepUnlessStopped waits d, or less if a user stops the container
// meanwhile; it tells whether the container may start again.
func sleepUnlessStopped(c *container.Container, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); {
		if c.StoppedByUser() {
			return false
		}
		time.Sleep(min(20*time.Millisecond, time.Until(deadline)))
	}
	return !c.StoppedByUser()
}

// stopForGood records that a user stops the container, so that its
// monitor does not start it again, then reads its state again: the
// monitor may have started it meanwhile. Either the monitor sees the
// mark after it started the process (and kills it), or the process's
// PID was saved before the mark, and the caller reads it here.
func (r *Runtime) stopForGood(c *container.Container) error {
	if c.Broken != "" {
		return nil
	}
	if err := c.MarkStopped(); err != nil {
		return err
	}
	c.Reload()
	return nil
}
