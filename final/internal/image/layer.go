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

	"golang.org/x/sys/unix"
)

// addLayer unpacks the layer tar r into the store and returns the layer's
// id: the hex sha256 of the (uncompressed) tar, its OCI diffID. If wantID
// is set, the tar must have that digest.
//
// The layer is unpacked into a temporary folder beside its final place
// and renamed there when complete, so a half-unpacked layer is never used.
func (s *Store) addLayer(r io.Reader, wantID string) (string, error) {
	tmp, err := os.MkdirTemp(s.layersDir(), ".unpack-")
	if err != nil {
		return "", fmt.Errorf("unpack layer: %w", err)
	}
	defer os.RemoveAll(tmp) // fails harmlessly once renamed

	what := "layer"
	if wantID != "" {
		what = "layer " + wantID
	}
	hash := sha256.New()
	tee := io.TeeReader(r, hash)
	if err := untar(tee, tmp); err != nil {
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
	if err := os.Rename(tmp, s.layerDir(id)); err != nil && !s.HasLayer(id) {
		return "", fmt.Errorf("unpack layer %s: %w", id, err)
	}
	// Else another import unpacked the same layer first: we use theirs.
	return id, nil
}

// AddLayer unpacks a layer tar, which must have the diffID id, into the
// store.
func (s *Store) AddLayer(r io.Reader, id string) error {
	_, err := s.addLayer(r, id)
	return err
}

// addLayerFromDir writes dir (less the paths in exclude) as a layer tar
// and unpacks that into the store. The layer's id is the sha256 of that
// tar, as for layers that come as tars: a stable hash of its content, so
// the same folder gives the same layer.
func (s *Store) addLayerFromDir(dir string, exclude []string) (string, error) {
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := writeTar(pw, dir, exclude)
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

// removeLayer deletes a layer, renaming it out of the way first so that no
// one finds it half-deleted.
func (s *Store) removeLayer(id string) error {
	doomed := filepath.Join(s.layersDir(), ".remove-"+id)
	if err := os.Rename(s.layerDir(id), doomed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("remove layer %s: %w", id, err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return fmt.Errorf("remove layer %s: %w", id, err)
	}
	return nil
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
