package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"skiff/internal/safefile"
)

// addLayer unpacks the layer tar r into the store and returns the layer's
// id: the hex sha256 of the (uncompressed) tar, its OCI diffID. If wantID
// is set, the tar must have that digest.
//
// The layer is unpacked into a temporary folder beside its final place
// and renamed there when complete, so a half-unpacked layer is never used.
// The folder is flocked (shared) from its creation on, so that
// PruneLayers tells it from one that a killed skiff left; the lock follows
// it to its final name and keeps the layer from PruneLayers and Remove
// until AddImage lists it in an image (or this process ends).
func (s *Store) addLayer(r io.Reader, wantID string) (string, error) {
	tmp, lock, err := s.makeUnpackDir()
	if err != nil {
		return "", fmt.Errorf("unpack layer: %w", err)
	}
	id, err := s.unpackLayer(r, wantID, tmp, lock)
	if err != nil {
		removeTree(tmp)
		lock.Close()
	}
	return id, err
}

func (s *Store) unpackLayer(r io.Reader, wantID, tmp string, lock *os.File) (string, error) {
	what := "layer"
	if wantID != "" {
		what = "layer " + wantID
	}
	hash := sha256.New()
	tee := io.TeeReader(r, hash)
	if err := untar(tee, tmp, Owners{}); err != nil {
		return "", fmt.Errorf("unpack %s: %w", what, err)
	}
	// What follows the tar's end (padding) is part of the digest too.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return "", fmt.Errorf("unpack %s: %w", what, err)
	}
	id := hex.EncodeToString(hash.Sum(nil))
	if wantID != "" && id != wantID {
		return "", fmt.Errorf("unpack %s: the content's digest is %s", what, id)
	}
	if err := s.placeLayer(tmp, id, lock); err != nil {
		return "", fmt.Errorf("unpack layer %s: %w", id, err)
	}
	return id, nil
}

// makeUnpackDir makes a temporary folder to unpack a layer in, and
// returns it flocked. The store's lock, held meanwhile, keeps PruneLayers
// from finding the folder before it is locked.
func (s *Store) makeUnpackDir() (string, *os.File, error) {
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	tmp, err := os.MkdirTemp(s.layersDir(), unpackPrefix)
	if err != nil {
		return "", nil, err
	}
	lock, ok, err := safefile.TryLockExisting(tmp, unix.LOCK_SH)
	if err == nil && !ok {
		err = errors.New("locked by another")
	}
	if err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("lock %s: %w", tmp, err)
	}
	return tmp, lock, nil
}

// placeLayer renames the unpacked folder tmp, flocked by lock, to the
// layer id, and keeps the layer pinned. If the store has that layer
// already (another import unpacked it first), it pins that one instead.
func (s *Store) placeLayer(tmp, id string, lock *os.File) error {
	for range 100 {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, s.layerDir(id), unix.RENAME_NOREPLACE)
		if err == unix.EINVAL { // a filesystem without RENAME_NOREPLACE
			if s.layerExists(id) {
				err = unix.EEXIST
			} else {
				err = os.Rename(tmp, s.layerDir(id))
			}
		}
		if err == nil {
			s.pin(id, lock)
			return nil
		}
		if !errors.Is(err, fs.ErrExist) && !errors.Is(err, unix.ENOTEMPTY) {
			return fmt.Errorf("rename %s: %w", tmp, err)
		}
		if s.pinExisting(id) {
			removeTree(tmp)
			lock.Close()
			return nil
		}
		// It is being removed: once renamed away, ours takes its place.
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("the store's copy of this layer is locked")
}

// AddLayer unpacks a layer tar, which must have the diffID id, into the
// store. The layer stays safe from PruneLayers until AddImage lists it.
func (s *Store) AddLayer(r io.Reader, id string) error {
	_, err := s.addLayer(r, id)
	return err
}

// addLayerFromDir writes dir (less the paths in exclude, its owners mapped
// to the container's by owners) as a layer tar and unpacks that into the
// store. The layer's id is the sha256 of that
// tar, as for layers that come as tars: a stable hash of its content, so
// the same folder gives the same layer.
func (s *Store) addLayerFromDir(dir string, exclude []string, owners Owners) (string, error) {
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeTar(pw, dir, exclude, owners)
		if err != nil {
			err = fmt.Errorf("archive %s: %w", dir, err)
		}
		pw.CloseWithError(err) // addLayer reads err, if any, from the pipe
		written <- err
	}()
	id, err := s.addLayer(pr, "")
	pr.CloseWithError(errors.New("unpacking stopped")) // unblocks writeTar if addLayer failed
	if writeErr := <-written; err == nil && writeErr != nil {
		return "", writeErr
	}
	return id, err
}

// removeLayer deletes a layer unless it is pinned (an import is about to
// list it in an image), renaming it out of the way first so that no one
// finds it half-deleted. It tells whether it removed the layer. The
// caller holds the store's lock, exclusive.
func (s *Store) removeLayer(id string) (bool, error) {
	lock, ok, err := safefile.TryLockExisting(s.layerDir(id), unix.LOCK_EX)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !ok) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove layer %s: %w", id, err)
	}
	defer lock.Close()
	doomed, err := os.MkdirTemp(s.layersDir(), removePrefix)
	if err != nil {
		return false, fmt.Errorf("remove layer %s: %w", id, err)
	}
	if err := os.Rename(s.layerDir(id), filepath.Join(doomed, id)); err != nil {
		os.Remove(doomed)
		return false, fmt.Errorf("remove layer %s: %w", id, err)
	}
	if err := removeTree(doomed); err != nil {
		return true, fmt.Errorf("remove layer %s: %w", id, err)
	}
	return true, nil
}

// removeTree is os.RemoveAll, that also removes what a tar made
// unwritable (a folder of mode 0555, for a user other than root).
func removeTree(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		return err
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(path, 0o700) // before WalkDir reads it
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// dirSize adds up the sizes of the files and symlinks under dir, counting
// hard-linked files once.
func dirSize(dir string) (int64, error) {
	var size int64
	seen := map[uint64]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG && st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return nil
		}
		if st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		size += st.Size
		return nil
	})
	return size, err
}

// LayerSize is the size of a layer's files, as Image.Size adds them up.
func (s *Store) LayerSize(id string) (int64, error) { return dirSize(s.layerDir(id)) }

// DirSize is the size of the files under dir, hard links counted once:
// what a container's writable layer holds.
func DirSize(dir string) (int64, error) { return dirSize(dir) }
