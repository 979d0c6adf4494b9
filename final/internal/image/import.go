package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// ImportDir makes the root filesystem in dir (e.g. the output of `make
// rootfs`) a one-layer image called name. The files are copied with their
// modes, owners, symlinks, hard links and device nodes.
func (s *Store) ImportDir(dir, name string) (*Image, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(dir) // a symlink to the rootfs is fine
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("import %s: not a folder", dir)
	}
	id, err := s.addLayerFromDir(real, nil, Owners{})
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", dir, err)
	}
	now := time.Now()
	return s.AddImage(name, []string{id}, Config{}, now, History{Created: now, Comment: "Imported from " + dir})
}

// ImportTar makes the root filesystem tar r (e.g. from `docker export`),
// plain or gzip-compressed, a one-layer image called name.
func (s *Store) ImportTar(r io.Reader, name string) (*Image, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	tarStream, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	id, err := s.addLayer(tarStream, "")
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", name, err)
	}
	// Docker's comment: its client sends a file as it sends stdin.
	now := time.Now()
	return s.AddImage(name, []string{id}, Config{}, now, History{Created: now, Comment: "Imported from -"})
}

// Commit makes the container's writable layer upperDir (an overlay's
// upperdir) a new layer on top of base's, and saves base's layers plus
// that one as the image name, with config (the container's process, as
// docker commit keeps it). exclude lists container paths to leave out,
// such as /etc/hosts, which the runtime writes for each container. base
// may be nil for an image of upperDir alone. step is the new layer's line
// of the image's history (its time is set here).
func (s *Store) Commit(upperDir string, base *Image, config Config, name string, exclude []string, owners Owners, step History) (*Image, error) {
	name, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	id, err := s.addLayerFromDir(upperDir, exclude, owners)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", upperDir, err)
	}
	var layers []string
	var history []History
	if base != nil {
		layers = append(layers, base.Layers...)
		history = append(history, base.history()...)
	}
	step.Created, step.EmptyLayer = time.Now(), false
	return s.AddImage(name, append(layers, id), config, step.Created, append(history, step)...)
}

// AddImage saves an image made of layers the store already holds, lowest
// first. It releases the hold that AddLayer took on them (whether it
// saves the image or fails): from then on, PruneLayers deletes those that
// no image lists. history, if any, is how the image was made, oldest step
// first, as OCI image configs record it: one entry per layer, and those
// with EmptyLayer set for steps that made none.
func (s *Store) AddImage(name string, layers []string, config Config, created time.Time, history ...History) (*Image, error) {
	defer s.unpin(layers)
	if err := checkHistory(history, len(layers)); err != nil {
		return nil, fmt.Errorf("save image %s: %w", name, err)
	}
	img, err := s.newImage(name, layers, config, created, history)
	if err != nil {
		return nil, fmt.Errorf("save image %s: %w", name, err)
	}
	if err := s.save(img); err != nil {
		return nil, err
	}
	return img, nil
}

// decompress returns r, uncompressed if it starts with gzip's magic
// number.
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if !bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return zr, nil
}
