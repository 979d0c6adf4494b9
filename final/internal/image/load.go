package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Bounds on what a hostile archive makes Load keep in memory: its JSON
// files (manifests, configs, index), each and in all.
const (
	maxJSONFile   = 8 << 20
	maxJSONTotal  = 64 << 20
	maxLinkHops   = 8    // symlinks followed to find an archive's file
	maxIndexDepth = 4    // OCI indexes nested in indexes
	maxImages     = 1000 // images in one archive
	maxLayers     = 500  // layers of one image: overlayfs stacks no more
)

// Load reads a docker-save tar (see Save), plain or gzip-compressed, or
// an OCI image layout tar, and adds its images under the names it gives
// them. It returns them, one per name.
//
// The archive is hostile. It is read once, as a stream (it may be stdin),
// in whatever order its files come: JSON files are kept in memory
// (bounded), any other file is unpacked as a layer as it goes by, by the
// same hardened code as any layer, and must later turn out to be one.
// Then each image is checked before any is added: manifest paths stay
// inside the archive, every file is there, every blob has the digest its
// name says, every layer the diffID its config says (so the image is
// exactly the one whose config was saved), and the history is sane. If
// anything is wrong, no image is added, and the layers it unpacked are
// left to PruneLayers, which no image lists.
func (s *Store) Load(r io.Reader) ([]*Image, error) {
	stream, err := decompress(r)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	l := &loader{s: s, files: map[string]*archiveFile{}}
	defer l.release()
	if err := l.read(stream); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	manifests, err := l.manifests()
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	var checked []loadedImage
	for _, m := range manifests {
		img, err := l.check(m)
		if err != nil {
			return nil, fmt.Errorf("load: %w", err)
		}
		checked = append(checked, img)
	}
	var added []*Image
	for _, img := range checked {
		for _, name := range img.names {
			if err := l.pinAgain(img.layers); err != nil { // AddImage releases a pin
				return nil, fmt.Errorf("load %s: %w", name, err)
			}
			saved, err := s.AddImage(name, img.layers, img.config, img.created, img.history...)
			if err != nil {
				return nil, fmt.Errorf("load: %w", err)
			}
			added = append(added, saved)
		}
	}
	return added, nil
}

// loader reads an archive's files.
type loader struct {
	s     *Store
	files map[string]*archiveFile // by clean path in the archive
	json  int64                   // bytes of JSON kept
	held  []string                // layers pinned, once per pin
}

// archiveFile is a file of the archive: kept (JSON), unpacked as a layer,
// or a link to another.
type archiveFile struct {
	data   []byte // a JSON file's content
	layer  string // the layer id (the sha256 of the uncompressed tar) it unpacked to
	digest string // "sha256:HEX" of its bytes as archived
	err    error  // why it did not unpack as a layer
	link   string // a symlink's or hard link's target, a clean path
}

// read goes through the archive once.
func (l *loader) read(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		name, ok := archivePath(hdr.Name)
		if !ok {
			continue // never looked up: manifests may not name such paths
		}
		if _, dup := l.files[name]; dup && hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("the archive holds %s twice", quote(name))
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			f, err := l.readFile(hdr, tr)
			if err != nil {
				return fmt.Errorf("%s: %w", quote(name), err)
			}
			l.files[name] = f
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(name), target)
			}
			l.files[name] = &archiveFile{link: strings.TrimPrefix(path.Clean(target), "/")}
		case tar.TypeLink:
			l.files[name] = &archiveFile{link: strings.TrimPrefix(path.Clean(hdr.Linkname), "/")}
		}
	}
}

// archivePath cleans an archive's file name, and tells whether it is
// inside the archive.
func archivePath(name string) (string, bool) {
	name = path.Clean("/" + name)
	return strings.TrimPrefix(name, "/"), name != "/" && !strings.Contains(name, "\x00")
}

// readFile keeps a JSON file, and unpacks anything else as a layer.
func (l *loader) readFile(hdr *tar.Header, r io.Reader) (*archiveFile, error) {
	raw := &hashCounter{h: sha256.New()}
	br := bufio.NewReader(io.TeeReader(r, raw))
	first, _ := br.Peek(1)
	if len(first) == 1 && (first[0] == '{' || first[0] == '[') && hdr.Size <= maxJSONFile {
		if l.json += hdr.Size; l.json > maxJSONTotal {
			return nil, fmt.Errorf("the archive's JSON files are larger than %d MiB in all", maxJSONTotal>>20)
		}
		data, err := io.ReadAll(br)
		if err != nil {
			return nil, err
		}
		return &archiveFile{data: data, digest: raw.digest()}, nil
	}
	f := &archiveFile{}
	f.layer, f.err = l.unpack(br, "")
	if _, err := io.Copy(io.Discard, br); err != nil { // the rest of a gzip stream, say
		return nil, err
	}
	f.digest = raw.digest()
	return f, nil
}

// unpack unpacks a layer tar, plain or gzip-compressed, into the store,
// pinned until Load ends.
func (l *loader) unpack(r io.Reader, wantID string) (string, error) {
	layer, err := decompress(r)
	if err != nil {
		return "", err
	}
	id, err := l.s.addLayer(layer, wantID)
	if err != nil {
		return "", err
	}
	l.held = append(l.held, id)
	return id, nil
}

// pinAgain pins layers once more, for AddImage to release (once each,
// however often the image lists it).
func (l *loader) pinAgain(layers []string) error {
	distinct := slices.Compact(slices.Sorted(slices.Values(layers)))
	for i, id := range distinct {
		if !l.s.pinExisting(id) {
			l.s.unpin(distinct[:i])
			return fmt.Errorf("layer %s was removed meanwhile; try again", id)
		}
	}
	return nil
}

// release drops the pins Load took: from then on, the layers no image
// lists are PruneLayers'.
func (l *loader) release() {
	for _, id := range l.held {
		l.s.unpin([]string{id})
	}
}

// file finds the archive's file at p, a path a manifest gives, through
// links.
func (l *loader) file(p string) (*archiveFile, error) {
	if p == "" || path.IsAbs(p) || path.Clean(p) != p || p == ".." || strings.HasPrefix(p, "../") {
		return nil, fmt.Errorf("the path %s is not inside the archive", quote(p))
	}
	for range maxLinkHops {
		f, ok := l.files[p]
		if !ok {
			return nil, fmt.Errorf("the archive has no file %s", quote(p))
		}
		if f.link == "" {
			return f, nil
		}
		if f.link == ".." || strings.HasPrefix(f.link, "../") {
			return nil, fmt.Errorf("the link %s leads out of the archive", quote(p))
		}
		p = f.link
	}
	return nil, fmt.Errorf("too many links to follow from %s", quote(p))
}

// manifests returns the archive's images: its docker-save manifest.json,
// or, if it has none, its OCI index.
func (l *loader) manifests() ([]saveManifest, error) {
	var manifests []saveManifest
	if f, ok := l.files["manifest.json"]; ok {
		if f.data == nil {
			return nil, errors.New("manifest.json is not a JSON file")
		}
		if err := json.Unmarshal(f.data, &manifests); err != nil {
			return nil, fmt.Errorf("manifest.json: %w", err)
		}
	} else if _, ok := l.files["index.json"]; ok {
		var err error
		if manifests, err = l.ociManifests("index.json", nil, 0); err != nil {
			return nil, err
		}
	} else {
		return nil, errors.New("the archive has no manifest.json or index.json: it is not a docker save or OCI layout tar")
	}
	if len(manifests) == 0 {
		return nil, errors.New("the archive holds no image")
	}
	if len(manifests) > maxImages {
		return nil, fmt.Errorf("the archive holds more than %d images", maxImages)
	}
	return manifests, nil
}

// ociManifests turns an OCI index (the file at p) into manifest.json's
// entries: one per image manifest, named by the annotations of the
// index that points at it (names, if a parent index named it).
func (l *loader) ociManifests(p string, names []string, depth int) ([]saveManifest, error) {
	if depth > maxIndexDepth {
		return nil, errors.New("OCI indexes nested too deep")
	}
	var index ociManifest
	if err := l.jsonFile(p, &index); err != nil {
		return nil, err
	}
	var out []saveManifest
	for _, d := range index.Manifests {
		if d.Platform != nil && (d.Platform.OS != "linux" || d.Platform.Architecture != runtime.GOARCH) {
			continue // another machine's, or an attestation (unknown/unknown)
		}
		blob, err := blobPath(d.Digest)
		if err != nil {
			return nil, err
		}
		tags := names
		if name := annotatedName(d.Annotations); name != "" {
			tags = []string{name}
		}
		if d.MediaType == mediaIndex || d.MediaType == "application/vnd.docker.distribution.manifest.list.v2+json" {
			more, err := l.ociManifests(blob, tags, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, more...)
			continue
		}
		var m ociManifest
		if err := l.jsonFile(blob, &m); err != nil {
			return nil, err
		}
		if m.Config == nil {
			return nil, fmt.Errorf("the manifest %s has no config", d.Digest)
		}
		entry := saveManifest{RepoTags: tags}
		if entry.Config, err = blobPath(m.Config.Digest); err != nil {
			return nil, err
		}
		for _, layer := range m.Layers {
			p, err := blobPath(layer.Digest)
			if err != nil {
				return nil, err
			}
			entry.Layers = append(entry.Layers, p)
		}
		out = append(out, entry)
	}
	return out, nil
}

// annotatedName is the image name an OCI index's annotations give, or "".
func annotatedName(a map[string]string) string {
	if name := a[annotationName]; name != "" {
		return name
	}
	if ref := a[annotationRefName]; strings.ContainsAny(ref, ":/") { // not a tag alone
		return ref
	}
	return ""
}

// blobPath is where an OCI layout keeps the blob of digest.
func blobPath(digest string) (string, error) {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || !validLayerID(hexDigest) {
		return "", fmt.Errorf("%s is not a sha256 digest", quote(digest))
	}
	return blobsDir + hexDigest, nil
}

// jsonFile decodes the archive's JSON file at p, checking its digest.
func (l *loader) jsonFile(p string, v any) error {
	f, err := l.file(p)
	if err != nil {
		return err
	}
	if err := checkDigest(p, f); err != nil {
		return fmt.Errorf("%s: %w", quote(p), err)
	}
	if f.data == nil {
		return fmt.Errorf("%s is not a JSON file of at most %d MiB", quote(p), maxJSONFile>>20)
	}
	if err := json.Unmarshal(f.data, v); err != nil {
		return fmt.Errorf("%s: %w", quote(p), err)
	}
	return nil
}

// checkDigest checks the digest of the file at p, if its name gives one:
// blobs/sha256/HEX in an OCI layout, HEX.json or sha256:HEX for the
// configs of older docker saves and of go-containerregistry's.
func checkDigest(p string, f *archiveFile) error {
	base := path.Base(p)
	want := ""
	switch {
	case strings.HasPrefix(p, blobsDir) && path.Dir(p)+"/" == blobsDir:
		want = base
	case strings.HasSuffix(base, ".json"):
		want = strings.TrimSuffix(base, ".json")
	case strings.HasPrefix(base, "sha256:"):
		want = strings.TrimPrefix(base, "sha256:")
	}
	if !validLayerID(want) {
		return nil // the name gives no digest
	}
	if f.digest != "sha256:"+want {
		return fmt.Errorf("its content's digest is %s, its name says sha256:%s", f.digest, want)
	}
	return nil
}

// loadedImage is an image of the archive, checked.
type loadedImage struct {
	names   []string
	layers  []string
	config  Config
	created time.Time
	history []History
}

// check checks one image of the archive against its config.
func (l *loader) check(m saveManifest) (loadedImage, error) {
	var img loadedImage
	var config ociConfig
	if err := l.jsonFile(m.Config, &config); err != nil {
		return img, err
	}
	what := "image " + quote(m.Config)
	if len(m.RepoTags) > 0 {
		what = "image " + m.RepoTags[0]
	}
	if config.RootFS.Type != "layers" {
		return img, fmt.Errorf("%s: its config's rootfs type is %s, not layers", what, quote(config.RootFS.Type))
	}
	if len(m.Layers) > maxLayers {
		return img, fmt.Errorf("%s has %d layers, more than the %d overlayfs stacks", what, len(m.Layers), maxLayers)
	}
	if len(config.RootFS.DiffIDs) != len(m.Layers) {
		return img, fmt.Errorf("%s: its config lists %d layers, its manifest %d", what, len(config.RootFS.DiffIDs), len(m.Layers))
	}
	for i, p := range m.Layers {
		id, err := l.layer(p, config.RootFS.DiffIDs[i])
		if err != nil {
			return img, fmt.Errorf("%s: layer %s: %w", what, quote(p), err)
		}
		img.layers = append(img.layers, id)
	}
	if err := checkHistory(config.History, len(img.layers)); err != nil {
		return img, fmt.Errorf("%s: %w", what, err)
	}
	if len(m.RepoTags) == 0 {
		return img, fmt.Errorf("%s has no name (RepoTags): skiff keeps images by name", what)
	}
	for _, tag := range m.RepoTags {
		name, err := NormalizeName(tag)
		if err != nil {
			return img, err
		}
		img.names = append(img.names, name)
	}
	c := config.Config
	img.config = Config{Env: c.Env, Entrypoint: c.Entrypoint, Cmd: c.Cmd, WorkingDir: c.WorkingDir, User: c.User}
	img.created, img.history = config.Created, config.History
	if img.created.IsZero() {
		img.created = time.Now()
	}
	return img, nil
}

// layer finds the layer at p, which must have the diffID diffID, and
// returns its id.
func (l *loader) layer(p, diffID string) (string, error) {
	want, ok := strings.CutPrefix(diffID, "sha256:")
	if !ok || !validLayerID(want) {
		return "", fmt.Errorf("the config's diffID %s is not a sha256 digest", quote(diffID))
	}
	f, err := l.file(p)
	if err != nil {
		return "", err
	}
	if err := checkDigest(p, f); err != nil {
		return "", err
	}
	switch {
	case f.data != nil: // kept as JSON, since it looked like it
		if f.layer == "" {
			if f.layer, err = l.unpack(bytes.NewReader(f.data), want); err != nil {
				return "", err
			}
		}
	case f.err != nil:
		return "", f.err
	}
	if f.layer != want {
		return "", fmt.Errorf("its content's digest is sha256:%s, the config says %s", f.layer, diffID)
	}
	return f.layer, nil
}
