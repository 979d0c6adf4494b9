// Package volume keeps skiff's volumes: folders that outlive the
// containers that mount them, laid out as Docker's "local" driver lays
// them out, DATA_ROOT/volumes/NAME/_data, with what Docker keeps in its
// metadata.db beside it in volume.json.
//
// A named volume (-v NAME:/path, skiff volume create NAME) stays until
// `skiff volume rm`. An anonymous one (-v /path, --mount without a
// source) gets a random 64-hex-digit name and the label
// com.docker.volume.anonymous, and goes with its container: `rm -v`, or
// --rm. A volume is only removed when no container, running or not,
// mounts it, as in Docker.
package volume

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"skiff/internal/randid"
	"skiff/internal/safefile"
)

// AnonymousLabel marks an anonymous volume, as Docker marks it.
const AnonymousLabel = "com.docker.volume.anonymous"

// ErrNotFound is returned for a name that is no volume.
var ErrNotFound = errors.New("no such volume")

// Store is the folder of all volumes, DATA_ROOT/volumes.
type Store struct {
	Root string
}

// Volume is one volume, with Docker's fields (docker volume inspect).
type Volume struct {
	CreatedAt  time.Time         `json:"CreatedAt"`
	Driver     string            `json:"Driver"`
	Labels     map[string]string `json:"Labels"`
	Mountpoint string            `json:"Mountpoint"` // its _data folder, which containers mount
	Name       string            `json:"Name"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
}

// Anonymous tells whether the volume goes with its container.
func (v *Volume) Anonymous() bool {
	_, ok := v.Labels[AnonymousLabel]
	return ok
}

var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`) })

// CheckName refuses a name Docker refuses: anything but letters, digits
// and "_.-", at least two characters, which keeps "..", "/" and the
// store's own ".creating-" and ".removing-" folders out.
func CheckName(name string) error {
	if !validName().MatchString(name) || len(name) > 255 {
		return fmt.Errorf("invalid volume name %q: want [a-zA-Z0-9][a-zA-Z0-9_.-]+ (to bind-mount a host folder, give an absolute path)", name)
	}
	return nil
}

func (s *Store) dir(name string) string { return filepath.Join(s.Root, name) }

// Mountpoint is where the volume name's files are, or will be.
func (s *Store) Mountpoint(name string) string { return filepath.Join(s.dir(name), "_data") }

// Create makes the named volume, or returns it if it exists (Docker's
// `volume create` of an existing name succeeds too); created says
// which. An empty name makes a volume with a random name; labels are
// its labels (AnonymousLabel for an anonymous one).
func (s *Store) Create(name string, labels map[string]string) (v *Volume, created bool, err error) {
	if name == "" {
		name = NewName()
	}
	if err := CheckName(name); err != nil {
		return nil, false, err
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	if v, err := s.get(name); err == nil || !errors.Is(err, ErrNotFound) {
		return v, false, err
	}
	v = &Volume{CreatedAt: time.Now().UTC().Truncate(time.Second), Driver: "local", Labels: labels, Name: name,
		Mountpoint: s.Mountpoint(name), Scope: "local"}
	// Made aside and renamed into place: whoever lists the volumes sees
	// a whole one or none.
	tmp := filepath.Join(s.Root, ".creating-"+name)
	err = os.Mkdir(tmp, 0o700)
	if err == nil {
		err = os.Mkdir(filepath.Join(tmp, "_data"), 0o755)
	}
	if err == nil {
		err = safefile.WriteJSON(filepath.Join(tmp, "volume.json"), v, 0o600)
	}
	if err == nil {
		err = os.Rename(tmp, s.dir(name))
	}
	if err != nil {
		os.RemoveAll(tmp)
		return nil, false, fmt.Errorf("create volume %s: %w", name, err)
	}
	return v, true, nil
}

// NewName is a random volume name, as Docker gives: 64 hex digits.
func NewName() string { return randid.New() }

// Get finds a volume by name.
func (s *Store) Get(name string) (*Volume, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	unlock, err := s.rlock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.get(name)
}

func (s *Store) get(name string) (*Volume, error) {
	var v Volume
	err := safefile.ReadJSON(filepath.Join(s.dir(name), "volume.json"), &v)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", name, err)
	}
	v.Name, v.Mountpoint = name, s.Mountpoint(name) // whatever the file says
	return &v, nil
}

// List returns every volume, by name.
func (s *Store) List() ([]*Volume, error) {
	unlock, err := s.rlock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	entries, err := os.ReadDir(s.Root)
	if err != nil {
		return nil, err
	}
	var all []*Volume
	for _, e := range entries {
		if CheckName(e.Name()) != nil || !e.IsDir() {
			continue
		}
		if v, err := s.get(e.Name()); err == nil {
			all = append(all, v)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	return all, nil
}

// Remove deletes a volume and its data, unless usedBy (the containers
// that mount a folder) names a container that mounts it.
func (s *Store) Remove(name string, usedBy func(mountpoint string) []string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	v, err := s.get(name)
	if err != nil {
		return err
	}
	if users := usedBy(v.Mountpoint); len(users) > 0 {
		return fmt.Errorf("remove %s: volume is in use - [%s]", name, strings.Join(users, ", "))
	}
	doomed := filepath.Join(s.Root, ".removing-"+name)
	if err := os.Rename(s.dir(name), doomed); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	if err := os.RemoveAll(doomed); err != nil { // never follows a symlink the container left
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}

// NameOf is the name of the volume whose mountpoint is source, if it is
// one of the store's.
func (s *Store) NameOf(source string) (string, bool) {
	dir, data := filepath.Split(filepath.Clean(source))
	dir = filepath.Clean(dir)
	name := filepath.Base(dir)
	if data != "_data" || filepath.Dir(dir) != filepath.Clean(s.Root) || CheckName(name) != nil {
		return "", false
	}
	return name, true
}

// lock takes the store's lock to change it, and removes what a skiff
// killed while creating or removing a volume left behind.
func (s *Store) lock() (func(), error) {
	unlock, err := s.flock(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	for _, pattern := range []string{".creating-*", ".removing-*"} {
		left, _ := filepath.Glob(filepath.Join(s.Root, pattern))
		for _, dir := range left {
			os.RemoveAll(dir)
		}
	}
	return unlock, nil
}

func (s *Store) rlock() (func(), error) { return s.flock(unix.LOCK_SH) }

func (s *Store) flock(how int) (func(), error) {
	if err := os.MkdirAll(s.Root, 0o700); err != nil {
		return nil, err
	}
	return safefile.Lock(filepath.Join(s.Root, ".lock"), how)
}
