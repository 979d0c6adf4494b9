// Package image keeps container images on disk, the way Docker's overlay2
// store does, only smaller:
//
//	ROOT/layers/ID/         one unpacked layer per folder, in overlayfs's format
//	ROOT/layers/.unpack-*/  layers being unpacked, each flock'ed by its unpack
//	ROOT/layers/.remove-*/  layers being deleted
//	ROOT/images.json        the index: image name -> layers and config
//	ROOT/lock               flock'ed while images.json is read or written
//
// A layer is unpacked once and shared by every image that lists it. An
// image is only a name, a list of layers and a little config, so images
// are cheap and layers are what takes space. Untagging an image leaves
// its layers: PruneLayers deletes those no image lists any more.
package image

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"skiff/internal/safefile"
)

// ErrNotFound is returned, wrapped with the name asked for, when no image
// has that name or ID.
var ErrNotFound = errors.New("image not found")

// Config is the part of an OCI image config that a runtime needs.
type Config struct {
	Env        []string `json:"env,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	User       string   `json:"user,omitempty"`
	// ExposedPorts are the ports the image declares (EXPOSE), such as
	// "80/tcp": those -P publishes.
	ExposedPorts []string `json:"exposedPorts,omitempty"`
}

// Image is one entry of the index.
type Image struct {
	Name    string    `json:"name"`   // normalised "repo:tag", e.g. "busybox:latest"
	ID      string    `json:"id"`     // sha256 of the JSON of Layers+Config (hex)
	Layers  []string  `json:"layers"` // layer ids, lowest first
	Config  Config    `json:"config"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`              // bytes of its layers' files
	History []History `json:"history,omitempty"` // how it was made, oldest step first
}

// Store is an image store rooted at a folder.
type Store struct {
	root string
	mu   sync.Mutex      // guards pins
	pins map[string]*pin // layers this Store's imports hold, not yet in an image
}

// Open opens the store at root, creating its folders if missing.
func Open(root string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	s := &Store{root: root}
	// 0700: layers hold images' setuid binaries, which must not be
	// reachable by the host's unprivileged users.
	if err := os.MkdirAll(s.layersDir(), 0o700); err != nil {
		return nil, fmt.Errorf("open image store %s: %w", root, err)
	}
	return s, nil
}

func (s *Store) layersDir() string         { return filepath.Join(s.root, "layers") }
func (s *Store) layerDir(id string) string { return filepath.Join(s.layersDir(), id) }
func (s *Store) indexPath() string         { return filepath.Join(s.root, "images.json") }
func (s *Store) lockPath() string          { return filepath.Join(s.root, "lock") }

// HasLayer tells whether the store holds the layer id (a diffID's hex).
func (s *Store) HasLayer(id string) bool {
	return validLayerID(id) && s.layerExists(id)
}

func (s *Store) layerExists(id string) bool {
	_, err := os.Lstat(s.layerDir(id))
	return err == nil
}

// Get finds an image by name, by ID, or by a prefix of at least 4
// characters of an ID that no other image shares.
func (s *Store) Get(name string) (*Image, error) {
	index, unlock, err := s.lockedIndex(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	found, err := find(index, name)
	if err != nil {
		return nil, err
	}
	return found[0], nil
}

// List returns every image, sorted by name.
func (s *Store) List() ([]*Image, error) {
	index, unlock, err := s.lockedIndex(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return sortedImages(index), nil
}

// LayerDirs returns the folders of img's layers, lowest first, ready to be
// an overlay's lowerdirs (which list them highest first: reverse them).
func (s *Store) LayerDirs(img *Image) []string {
	var dirs []string
	for i, id := range img.Layers {
		// overlayfs refuses the same folder twice. Images do repeat a
		// layer (most often the empty one); keeping only its highest copy
		// gives the same tree, since that copy overrides all it contains.
		if slices.Contains(img.Layers[i+1:], id) {
			continue
		}
		dirs = append(dirs, s.layerDir(id))
	}
	return dirs
}

// Remove untags the image called name (or with that ID) and deletes each
// of its layers that no other image lists, layerInUse (if not nil) says
// no container uses and no import holds. layerInUse runs while the store
// is locked, so it must not call the Store.
func (s *Store) Remove(name string, layerInUse func(layerID string) bool) error {
	index, unlock, err := s.lockedIndex(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	found, err := find(index, name)
	if err != nil {
		return err
	}
	if len(found) > 1 {
		return fmt.Errorf("remove image %s: it has several names (%s); remove them by name", name, strings.Join(names(found), ", "))
	}
	img := found[0]
	delete(index, img.Name)
	if err := s.writeIndex(index); err != nil {
		return err
	}
	for _, id := range img.Layers {
		if _, err := s.removeIfUnused(index, id, layerInUse); err != nil {
			return fmt.Errorf("remove image %s: %w", img.Name, err)
		}
	}
	return nil
}

// find returns the image called ref, or the images whose ID starts with
// ref (all of one ID: several names may share it).
func find(index map[string]*Image, ref string) ([]*Image, error) {
	if name, err := NormalizeName(ref); err == nil {
		if img, ok := index[name]; ok {
			return []*Image{img}, nil
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	var found []*Image
	if len(prefix) >= 4 && isHex(prefix) {
		for _, img := range sortedImages(index) {
			if strings.HasPrefix(img.ID, prefix) {
				found = append(found, img)
			}
		}
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
	}
	for _, img := range found[1:] {
		if img.ID != found[0].ID {
			return nil, fmt.Errorf("image ID prefix %s is ambiguous: it matches %s and %s", ref, found[0].ID, img.ID)
		}
	}
	return found, nil
}

func isHex(s string) bool {
	return strings.Trim(s, "0123456789abcdef") == ""
}

func sortedImages(index map[string]*Image) []*Image {
	images := make([]*Image, 0, len(index))
	for _, img := range index {
		images = append(images, img)
	}
	slices.SortFunc(images, func(a, b *Image) int { return strings.Compare(a.Name, b.Name) })
	return images
}

func names(images []*Image) []string {
	var out []string
	for _, img := range images {
		out = append(out, img.Name)
	}
	return out
}

func usedByAny(index map[string]*Image, layerID string) bool {
	for _, img := range index {
		if slices.Contains(img.Layers, layerID) {
			return true
		}
	}
	return false
}

// newImage builds the index entry for layers (already in the store) and
// config.
func (s *Store) newImage(name string, layers []string, config Config, created time.Time, history []History) (*Image, error) {
	for _, id := range layers {
		if !validLayerID(id) {
			return nil, fmt.Errorf("%s is not a layer id", quote(id))
		}
	}
	content, err := json.Marshal(struct {
		Layers []string `json:"layers"`
		Config Config   `json:"config"`
	}{layers, config})
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(content)
	img := &Image{Name: name, ID: hex.EncodeToString(sum[:]), Layers: layers, Config: config, Created: created.UTC(), History: history}
	distinct := slices.Compact(slices.Sorted(slices.Values(layers))) // an image may repeat a layer
	for _, id := range distinct {
		size, err := dirSize(s.layerDir(id))
		if err != nil {
			return nil, fmt.Errorf("size of layer %s: %w", id, err)
		}
		img.Size += size
	}
	return img, nil
}

// save adds img to the index, replacing any image of the same name.
func (s *Store) save(img *Image) error {
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	// A Remove or PruneLayers may have deleted a layer we found already
	// there (HasLayer) and did not unpack. Checked under the lock, so it cannot happen after this.
	for _, id := range img.Layers {
		if !s.layerExists(id) {
			return fmt.Errorf("save image %s: layer %s was removed meanwhile; try again", img.Name, id)
		}
	}
	index, err := s.readIndex()
	if err != nil {
		return err
	}
	index[img.Name] = img
	return s.writeIndex(index)
}

// lock flocks ROOT/lock, shared (unix.LOCK_SH) to read the index or
// exclusive (unix.LOCK_EX) to change it.
func (s *Store) lock(how int) (unlock func(), err error) {
	return safefile.Lock(s.lockPath(), how)
}

// lockedIndex locks the store (unix.LOCK_SH to read, unix.LOCK_EX to
// change the index) and reads the index; unlock releases the lock.
func (s *Store) lockedIndex(how int) (index map[string]*Image, unlock func(), err error) {
	unlock, err = s.lock(how)
	if err != nil {
		return nil, nil, err
	}
	if index, err = s.readIndex(); err != nil {
		unlock()
		return nil, nil, err
	}
	return index, unlock, nil
}

func (s *Store) readIndex() (map[string]*Image, error) {
	index := map[string]*Image{}
	data, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return index, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read image index: %w", err)
	}
	if err := json.Unmarshal(data, &index); err != nil {
		return nil, fmt.Errorf("read image index %s: %w", s.indexPath(), err)
	}
	return index, nil
}

// writeIndex replaces images.json at once: readers see the old index or
// the new one, never half of one, even if we crash.
func (s *Store) writeIndex(index map[string]*Image) error {
	return safefile.WriteJSON(s.indexPath(), index, 0o600)
}
