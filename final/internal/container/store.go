// Package container keeps each container's configuration and state on
// disk, and drives its life: created → running → exited (→ removed).
//
// Every container has a folder, ROOT/containers/ID, holding container.json
// (what `skiff run` was asked for), state.json, its log, and, once
// started, what makes the folder an OCI bundle: config.json (the spec
// skiff's OCI runtime executes), the files of its "init layer" (hosts,
// hostname, resolv.conf) and its overlay folders. JSON files are written atomically
// (package safefile), and changes are made under a file lock, so
// concurrent skiff commands never see half a state.
//
// The folder's "owner" file is flock'ed by the skiff process that manages
// the container: the `skiff run` that created it, then its monitor, or a
// command that removes it. The kernel releases the lock when that process
// dies, however it dies, so a folder whose owner lock is free is managed
// by no one: whatever state a killed skiff left it in (an empty folder, a
// config without a state, files cut short), `rm -f` and `system prune`
// can take it down without racing a live runtime.
package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"skiff/internal/randid"
	"skiff/internal/safefile"
)

// ErrNotFound is returned for a name or ID that matches no container.
var ErrNotFound = errors.New("no such container")

// Store is the folder of all containers.
type Store struct {
	Root string // e.g. /run/skiff
}

func (s *Store) dir(id string) string { return filepath.Join(s.Root, "containers", id) }

// Container is one container's folder, configuration and state.
type Container struct {
	Dir    string
	Config Config
	State  State
	// Broken says why the container's files cannot be read, if they
	// cannot: such a container is still listed, with only its ID known,
	// so that rm -f and system prune can remove it.
	Broken     string
	configLost bool     // Broken, and container.json too
	owner      *os.File // the owner lock, while this process holds it
}

// Path is a file in the container's folder.
func (c *Container) Path(name string) string { return filepath.Join(c.Dir, name) }

// Create gives a new container an ID, a unique name and its folder. The
// calling process owns the container until it exits or hands the owner
// lock on (OwnerFile).
func (s *Store) Create(cfg Config) (*Container, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	all, err := s.list()
	if err != nil {
		return nil, err
	}
	cfg.ID = randid.New()
	if cfg.Name == "" {
		cfg.Name = cfg.ID[:12]
	}
	if cfg.Hostname == "" {
		cfg.Hostname = cfg.ID[:12]
	}
	for _, c := range all {
		if c.Config.Name == cfg.Name {
			return nil, fmt.Errorf("the container name %q is already in use by container %s", cfg.Name, c.Config.ID[:12])
		}
	}
	c := &Container{Dir: s.dir(cfg.ID), Config: cfg, State: State{Status: Created}}
	c.State.MonitorPid = os.Getpid() // until a monitor of its own takes over
	if err := os.Mkdir(c.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", c.Dir, err)
	}
	// Still under the store's lock: no one sees the folder without its
	// owner, and whatever dies from here on leaves a folder prune removes.
	if c.owner, err = safefile.LockFile(c.Path("owner"), unix.LOCK_EX); err == nil {
		err = safefile.WriteJSON(c.Path("container.json"), c.Config, 0o600)
	}
	if err == nil {
		err = c.SaveState()
	}
	if err != nil {
		os.RemoveAll(c.Dir)
		c.Release()
		return nil, err
	}
	return c, nil
}

// Get finds a container by name, full ID or unique ID prefix.
func (s *Store) Get(ref string) (*Container, error) {
	all, err := s.List()
	if err != nil {
		return nil, err
	}
	var match []*Container
	for _, c := range all {
		if (c.Config.Name == ref && ref != "") || c.Config.ID == ref {
			return c, nil
		}
		if len(ref) >= 3 && strings.HasPrefix(c.Config.ID, ref) {
			match = append(match, c)
		}
	}
	if len(match) == 1 {
		return match[0], nil
	}
	if len(match) > 1 {
		return nil, fmt.Errorf("%q matches %d containers: give more of the ID", ref, len(match))
	}
	return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
}

// IDs lists the containers that have a folder, whatever their state,
// the ones being created or removed right now included.
func (s *Store) IDs() map[string]bool {
	entries, _ := os.ReadDir(s.containersDir())
	ids := map[string]bool{}
	for _, e := range entries {
		if id, ok := idOf(e.Name()); ok {
			ids[id] = true
		}
	}
	return ids
}

// idOf is the container ID a folder of ROOT/containers belongs to: its
// name, or what follows ".removing-" while it is being deleted.
func idOf(folder string) (string, bool) {
	id := strings.TrimPrefix(folder, removingPrefix)
	return id, validID().MatchString(id)
}

const removingPrefix = ".removing-"

var validID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9a-f]{64}$`) })

// List returns every container, oldest first.
func (s *Store) List() ([]*Container, error) {
	unlock, err := s.rlock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.list()
}

func (s *Store) list() ([]*Container, error) {
	entries, err := os.ReadDir(s.containersDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var all []*Container
	for _, e := range entries {
		if validID().MatchString(e.Name()) {
			all = append(all, s.load(e.Name()))
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Config.Created.Before(all[j].Config.Created) })
	return all, nil
}

// load reads a container's files; what cannot be read makes it Broken.
func (s *Store) load(id string) *Container {
	c := &Container{Dir: s.dir(id)}
	if err := safefile.ReadJSON(c.Path("container.json"), &c.Config); err != nil {
		c.Broken, c.configLost = brokenReason("container.json", err), true
	} else if c.Config.ID != id {
		c.Broken, c.configLost = fmt.Sprintf("container.json is of container %.12s", c.Config.ID), true
	} else if err := safefile.ReadJSON(c.Path("state.json"), &c.State); err != nil {
		c.Broken = brokenReason("state.json", err)
	}
	if c.configLost {
		c.Config = Config{ID: id}
	}
	return c
}

// ConfigKnown tells whether the container's configuration could be read:
// a broken container may have lost it with its container.json, and with it
// its name, image and layers.
func (c *Container) ConfigKnown() bool { return !c.configLost }

func brokenReason(file string, err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return file + " is missing"
	}
	if cause := errors.Unwrap(err); cause != nil {
		err = cause // without the path: the folder says whose it is
	}
	return file + ": " + err.Error()
}

// Reload reads the state again from disk.
func (c *Container) Reload() error { return safefile.ReadJSON(c.Path("state.json"), &c.State) }

// SaveState writes the state atomically.
func (c *Container) SaveState() error {
	return safefile.WriteJSON(c.Path("state.json"), c.State, 0o600)
}

// SaveConfig records a change of the configuration (skiff update).
func (c *Container) SaveConfig() error {
	return safefile.WriteJSON(c.Path("container.json"), c.Config, 0o600)
}

// Remove deletes the container's folder. It is renamed out of the way
// first, so no one ever finds it half-deleted; the caller should own the
// container (Claim), whose lock moves with the folder until it is gone.
func (s *Store) Remove(c *Container) error {
	doomed := filepath.Join(s.containersDir(), removingPrefix+filepath.Base(c.Dir))
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	err = os.Rename(c.Dir, doomed)
	unlock()
	if errors.Is(err, os.ErrNotExist) {
		return nil // removed by another meanwhile
	}
	if err != nil {
		return fmt.Errorf("remove container %.12s: %w", c.Config.ID, err)
	}
	c.Dir = doomed
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("remove container %.12s: %w", c.Config.ID, err)
	}
	return nil
}

func (s *Store) containersDir() string { return filepath.Join(s.Root, "containers") }

func (s *Store) lock() (func(), error)  { return s.flock(unix.LOCK_EX) }
func (s *Store) rlock() (func(), error) { return s.flock(unix.LOCK_SH) }

func (s *Store) flock(how int) (func(), error) {
	if err := os.MkdirAll(s.containersDir(), 0o700); err != nil {
		return nil, err
	}
	return safefile.Lock(filepath.Join(s.Root, "lock"), how)
}
