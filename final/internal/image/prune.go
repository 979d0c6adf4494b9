package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"skiff/internal/safefile"
)

// What a store's layers/ folder holds besides layers: folders being
// unpacked, and folders being deleted.
const (
	unpackPrefix = ".unpack-"
	removePrefix = ".remove-"
)

// A layer is pinned while an import has it (unpacked it, or found it
// there) but no image lists it yet: PruneLayers must leave it alone. A pin
// is a shared flock on the layer's folder, so it ends with the process
// that holds it, however that process ends. n counts the imports of this
// Store that hold it.
type pin struct {
	f *os.File
	n int
}

// pin records that this Store holds lock, a shared flock on the layer
// id's folder.
func (s *Store) pin(id string, lock *os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pins == nil {
		s.pins = map[string]*pin{}
	}
	if p := s.pins[id]; p != nil { // one lock per layer is enough
		lock.Close()
		p.n++
		return
	}
	s.pins[id] = &pin{f: lock, n: 1}
}

// pinExisting pins the layer id the store holds already, and tells whether
// it could: not if there is no such layer, or if it is being removed.
func (s *Store) pinExisting(id string) bool {
	lock, ok, err := safefile.TryLockExisting(s.layerDir(id), unix.LOCK_SH)
	if err != nil || !ok {
		return false
	}
	// A PruneLayers may have renamed it away before we locked it.
	var locked, now unix.Stat_t
	if unix.Fstat(int(lock.Fd()), &locked) != nil || unix.Lstat(s.layerDir(id), &now) != nil ||
		locked.Dev != now.Dev || locked.Ino != now.Ino {
		lock.Close()
		return false
	}
	s.pin(id, lock)
	return true
}

// Hold finds an image, as Get does, and pins its layers until release is
// called (or the process ends), so that no PruneLayers deletes them while
// a container is being created on them: once its config names them, the
// caller's inUse function claims them.
func (s *Store) Hold(name string) (img *Image, release func(), err error) {
	index, unlock, err := s.lockedIndex(unix.LOCK_SH)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	found, err := find(index, name)
	if err != nil {
		return nil, nil, err
	}
	img = found[0]
	layers := slices.Compact(slices.Sorted(slices.Values(img.Layers))) // unpin counts each once
	for i, id := range layers {
		if !s.pinExisting(id) { // a store changed by hand: PruneLayers waits for the lock we hold
			s.unpin(layers[:i])
			return nil, nil, fmt.Errorf("image %s: its layer %s is missing", img.Name, id)
		}
	}
	return img, func() { s.unpin(layers) }, nil
}

// unpin releases the pins that this Store's imports held on layers.
func (s *Store) unpin(layers []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range slices.Compact(slices.Sorted(slices.Values(layers))) {
		p := s.pins[id]
		if p == nil {
			continue
		}
		if p.n--; p.n == 0 {
			p.f.Close()
			delete(s.pins, id)
		}
	}
}

// PruneLayers deletes every layer that no image lists and that inUse (if
// not nil) does not claim, and returns their ids. inUse runs while the
// store is locked, so it must not call the Store. Layers that an import
// still holds (unpacked or found, not yet in an image) stay.
//
// It also deletes what killed skiffs left: folders of unpacks that no
// live process is doing (each unpack flocks its own), folders of layers
// being deleted, and the index's temporary files.
//
// Untagging an image (Remove, or an import, commit or pull that reuses
// its name) leaves the layers that only it listed: PruneLayers is what
// deletes them.
func (s *Store) PruneLayers(inUse func(layerID string) bool) (removed []string, err error) {
	index, unlock, err := s.lockedIndex(unix.LOCK_EX)
	if err != nil {
		return nil, err
	}
	defer unlock()
	errs := []error{s.removeIndexTemps()}
	entries, err := os.ReadDir(s.layersDir())
	if err != nil {
		return nil, fmt.Errorf("prune layers: %w", err)
	}
	for _, entry := range entries {
		name := entry.Name()
		switch {
		case validLayerID(name):
			gone, err := s.removeIfUnused(index, name, inUse)
			if gone {
				removed = append(removed, name)
			}
			errs = append(errs, err)
		case strings.HasPrefix(name, unpackPrefix):
			errs = append(errs, s.removeDeadUnpack(name))
		case strings.HasPrefix(name, removePrefix):
			// Layers are deleted with the store locked, as now: no one
			// is deleting this one any more.
			errs = append(errs, removeTree(filepath.Join(s.layersDir(), name)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("prune layers: %w", err)
	}
	return removed, nil
}

// removeDeadUnpack deletes the unpack folder name unless its unpack is
// still going: then its process holds the folder's flock.
func (s *Store) removeDeadUnpack(name string) error {
	dir := filepath.Join(s.layersDir(), name)
	lock, ok, err := safefile.TryLockExisting(dir, unix.LOCK_EX)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !ok) {
		return nil // gone meanwhile (renamed to its layer), or alive
	}
	if err != nil {
		return err
	}
	defer lock.Close()
	return removeTree(dir)
}

// removeIndexTemps deletes the temporary files of index writers that
// were killed. The caller holds the store's lock, exclusive, which every
// writer holds: none is writing now.
func (s *Store) removeIndexTemps() error {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return err
	}
	var errs []error
	for _, entry := range entries {
		if safefile.IsTemp(entry.Name()) && entry.Type().IsRegular() {
			if err := os.Remove(filepath.Join(s.root, entry.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// validLayerID tells whether id is a layer's id: a sha256 in hex, and so
// a plain name in layers/.
func validLayerID(id string) bool {
	return len(id) == 64 && isHex(id)
}

// removeIfUnused deletes the layer id unless an image of index lists it,
// inUse (if not nil) claims it or an import holds it; gone tells whether
// it did.
func (s *Store) removeIfUnused(index map[string]*Image, id string, inUse func(layerID string) bool) (gone bool, err error) {
	if usedByAny(index, id) || (inUse != nil && inUse(id)) {
		return false, nil
	}
	return s.removeLayer(id)
}
