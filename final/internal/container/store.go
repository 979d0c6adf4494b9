// Package container keeps each container's configuration and state on
// disk, and drives its life: created → running → exited (→ removed).
//
// Every container has a folder, ROOT/containers/ID, holding config.json,
// state.json, its log, the files of its "init layer" (hosts, hostname,
// resolv.conf) and its overlay folders. JSON files are written atomically
// (a temporary file renamed over the old one), and changes are made under
// a file lock, so concurrent skiff commands never see half a state.
package container

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

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
}

// Path is a file in the container's folder.
func (c *Container) Path(name string) string { return filepath.Join(c.Dir, name) }

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$`) })

// Create gives a new container an ID, a unique name and its folder.
func (s *Store) Create(cfg Config) (*Container, error) {
	if cfg.Name != "" && !validName().MatchString(cfg.Name) {
		return nil, fmt.Errorf("invalid container name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters", cfg.Name)
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
	cfg.ID = newID()
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
	if err := c.SetMonitor(); err != nil { // until a monitor of its own takes over
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o711); err != nil {
		return nil, err
	}
	if err := safefile.WriteJSON(c.Path("config.json"), c.Config, 0o600); err != nil {
		os.RemoveAll(c.Dir)
		return nil, err
	}
	if err := c.SaveState(); err != nil {
		os.RemoveAll(c.Dir)
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
		if c.Config.Name == ref || c.Config.ID == ref {
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
	entries, _ := os.ReadDir(filepath.Join(s.Root, "containers"))
	ids := map[string]bool{}
	for _, e := range entries {
		ids[e.Name()] = true
	}
	return ids
}

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
	entries, err := os.ReadDir(filepath.Join(s.Root, "containers"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var all []*Container
	for _, e := range entries {
		c, err := s.load(e.Name())
		if err != nil {
			continue // being created or removed right now
		}
		all = append(all, c)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Config.Created.Before(all[j].Config.Created) })
	return all, nil
}

func (s *Store) load(id string) (*Container, error) {
	c := &Container{Dir: s.dir(id)}
	if err := safefile.ReadJSON(c.Path("config.json"), &c.Config); err != nil {
		return nil, err
	}
	if err := safefile.ReadJSON(c.Path("state.json"), &c.State); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the state again from disk.
func (c *Container) Reload() error { return safefile.ReadJSON(c.Path("state.json"), &c.State) }

// SaveState writes the state atomically.
func (c *Container) SaveState() error {
	return safefile.WriteJSON(c.Path("state.json"), c.State, 0o600)
}

// Lock takes the container's own lock, held while its resources outside
// it (cgroup, network) are taken down.
func (c *Container) Lock() (func(), error) { return safefile.Lock(c.Path("lock"), unix.LOCK_EX) }

// Remove deletes the container's folder.
func (s *Store) Remove(c *Container) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return os.RemoveAll(c.Dir)
}

func (s *Store) lock() (func(), error)  { return s.flock(unix.LOCK_EX) }
func (s *Store) rlock() (func(), error) { return s.flock(unix.LOCK_SH) }

func (s *Store) flock(how int) (func(), error) {
	if err := os.MkdirAll(filepath.Join(s.Root, "containers"), 0o711); err != nil {
		return nil, err
	}
	return safefile.Lock(filepath.Join(s.Root, "lock"), how)
}

func newID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}
