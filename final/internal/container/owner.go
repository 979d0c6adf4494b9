package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"skiff/internal/safefile"
)

// OwnerFile is the owner lock this process holds, to hand to the process
// that takes over (the monitor of a detached container); nil if it holds
// none.
func (c *Container) OwnerFile() *os.File { return c.owner }

// Adopt makes f, an owner lock handed over by the process that created the
// container, this process's.
func (c *Container) Adopt(f *os.File) { c.owner = f }

// Release gives up the owner lock, if this process holds it.
func (c *Container) Release() {
	if c.owner != nil {
		c.owner.Close()
		c.owner = nil
	}
}

// OwnerAlive tells whether a live skiff process owns the container: the
// one starting it, its monitor, or one removing it.
func (c *Container) OwnerAlive() bool {
	if c.owner != nil {
		return true
	}
	f, free, err := safefile.TryLockExisting(c.Path("owner"), unix.LOCK_SH)
	if err != nil {
		return false // a folder a killed skiff left before it took the lock
	}
	if free {
		f.Close()
	}
	return !free
}

// Claim makes this process the container's owner, waiting at most
// timeout for a live owner to finish, then reads its files again, which
// that owner may have changed. It fails with ErrNotFound if the
// container was removed meanwhile (a --rm container's monitor removes it).
func (c *Container) Claim(timeout time.Duration) error {
	if c.owner != nil {
		return nil
	}
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		f, err := safefile.LockFile(c.Path("owner"), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			c.owner = f
			break
		}
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %.12s", ErrNotFound, c.Config.ID)
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("container %s is busy: another skiff process still manages it (its monitor was %d)", c.Name(), c.State.MonitorPid)
		}
	}
	if _, err := os.Stat(c.Dir); err != nil { // its owner removed it before letting go
		c.Release()
		return fmt.Errorf("%w: %.12s", ErrNotFound, c.Config.ID)
	}
	store := &Store{Root: filepath.Dir(filepath.Dir(c.Dir))}
	fresh := store.load(filepath.Base(c.Dir))
	c.Config, c.State, c.Broken, c.configLost = fresh.Config, fresh.State, fresh.Broken, fresh.configLost
	return nil
}

// Name is the container's name, or the start of its ID if it is broken
// and its name is lost with its config.
func (c *Container) Name() string {
	if c.Config.Name != "" {
		return c.Config.Name
	}
	return c.Config.ID[:12]
}

// ClaimUnowned claims every container that no live skiff process owns and
// finishes the removals that a killed skiff cut short. It holds the
// store's lock meanwhile, so that no container is half-created: a
// folder without an owner is then a leftover, whatever is in it. The
// caller removes or releases each container it gets.
func (s *Store) ClaimUnowned() ([]*Container, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	entries, err := os.ReadDir(s.containersDir())
	if err != nil {
		return nil, err
	}
	var claimed []*Container
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, removingPrefix) {
			// Renamed, so cleaned up already: only the files are left. A
			// remover still at work only races us to delete the same files.
			os.RemoveAll(filepath.Join(s.containersDir(), name))
			continue
		}
		if !validID().MatchString(name) {
			continue
		}
		f, err := tryOwner(filepath.Join(s.containersDir(), name, "owner"))
		if err != nil {
			continue // owned, or unreadable: left alone
		}
		c := s.load(name) // now that no one changes it
		c.owner = f
		claimed = append(claimed, c)
	}
	return claimed, nil
}

// tryOwner takes a container's owner lock if no live skiff holds it. A
// `ps` that checks the lock holds it, shared, for a moment: try again a
// few times before taking the lock for held.
func tryOwner(file string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := safefile.LockFile(file, unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EWOULDBLOCK) || try == 4 {
			return f, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
