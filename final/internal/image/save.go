package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"
)

// The docker-save format, what `docker save` writes and `docker load`
// reads, as Docker writes it since version 25: an OCI image layout (the
// standard's blobs and index.json) with Docker's manifest.json beside it,
// which older Dockers and other tools read.
//
//	oci-layout          {"imageLayoutVersion": "1.0.0"}
//	blobs/sha256/HEX    each image's config, layer tars and OCI manifest,
//	                    named by the sha256 of their content
//	index.json          the OCI index: each image's manifest and name
//	manifest.json       [{"Config": "blobs/sha256/HEX", "RepoTags":
//	                    ["busybox:latest"], "Layers": ["blobs/sha256/HEX"]}]
//
// A config lists its layers' diffIDs, the sha256 of each (uncompressed)
// layer tar: the ids of skiff's layers.

// saveManifest is one image of a docker-save manifest.json.
type saveManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// ociConfig is an OCI image config: what Docker and skiff keep of an
// image besides its layers.
type ociConfig struct {
	Created      time.Time    `json:"created,omitzero"`
	Architecture string       `json:"architecture"`
	OS           string       `json:"os"`
	Config       ociRunConfig `json:"config"`
	RootFS       ociRootFS    `json:"rootfs"`
	History      []History    `json:"history,omitempty"`
}

type ociRunConfig struct {
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	User       string   `json:"User,omitempty"`
}

type ociRootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// descriptor points at a blob, in OCI manifests and indexes.
type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// ociManifest is an OCI image manifest or index (Manifests set).
type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType,omitempty"`
	Config        *descriptor  `json:"config,omitempty"`
	Layers        []descriptor `json:"layers,omitempty"`
	Manifests     []descriptor `json:"manifests,omitempty"`
}

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
	blobsDir      = "blobs/sha256/"

	// The annotations that name an image in an OCI layout: containerd's
	// full reference, and the standard's (often the tag alone).
	annotationName    = "io.containerd.image.name"
	annotationRefName = "org.opencontainers.image.ref.name"
)

// Save writes the images refs (names or IDs) to w as a docker-save tar.
// Each image is written once, with the names asked for (all of its
// names, if asked for by ID); layers they share are written once.
//
// Layers are kept unpacked, so each is written again as a tar, by the
// code that commit uses, which gives the same tar for the same folder:
// once to learn its digest and size, which the tar header and the config
// need first, and once into w.
func (s *Store) Save(w io.Writer, refs []string) error {
	images, release, err := s.holdAll(refs)
	if err != nil {
		return err
	}
	defer release()
	out := &blobWriter{tw: tar.NewWriter(w), written: map[string]bool{}}
	for _, dir := range []string{"blobs/", blobsDir} {
		if err := out.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
	}
	var manifests []saveManifest
	var index []descriptor
	for _, img := range images {
		m, desc, err := out.image(s, img.image, img.tags)
		if err != nil {
			return fmt.Errorf("save %s: %w", img.image.Name, err)
		}
		manifests = append(manifests, m)
		index = append(index, desc...)
	}
	for _, f := range []struct {
		name string
		v    any
	}{
		{"index.json", ociManifest{SchemaVersion: 2, MediaType: mediaIndex, Manifests: index}},
		{"manifest.json", manifests},
		{"oci-layout", map[string]string{"imageLayoutVersion": "1.0.0"}},
	} {
		data, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := out.file(f.name, data); err != nil {
			return err
		}
	}
	return out.tw.Close()
}

// savedImage is an image to save and the names to save it with.
type savedImage struct {
	image *Image
	tags  []string
}

// holdAll finds the images refs name, grouped by ID, and pins their
// layers until release.
func (s *Store) holdAll(refs []string) ([]savedImage, func(), error) {
	var images []savedImage
	var releases []func()
	release := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, ref := range refs {
		img, rel, err := s.Hold(ref)
		if err != nil {
			release()
			return nil, nil, err
		}
		releases = append(releases, rel)
		tags := []string{img.Name}
		if name, err := NormalizeName(ref); err != nil || name != img.Name {
			tags = s.namesOf(img.ID) // asked for by ID: all its names
		}
		i := slices.IndexFunc(images, func(si savedImage) bool { return si.image.ID == img.ID })
		if i < 0 {
			images = append(images, savedImage{image: img})
			i = len(images) - 1
		}
		for _, t := range tags {
			if !slices.Contains(images[i].tags, t) {
				images[i].tags = append(images[i].tags, t)
			}
		}
	}
	return images, release, nil
}

// namesOf returns the names of the image with this ID.
func (s *Store) namesOf(id string) []string {
	all, err := s.List()
	if err != nil {
		return nil
	}
	var names []string
	for _, img := range all {
		if img.ID == id {
			names = append(names, img.Name)
		}
	}
	return names
}

// blobWriter writes blobs into a docker-save tar, each digest once.
type blobWriter struct {
	tw      *tar.Writer
	written map[string]bool
}

// image writes img's layers, config and OCI manifest, and returns its
// manifest.json entry and index.json entries (one per name).
func (b *blobWriter) image(s *Store, img *Image, tags []string) (saveManifest, []descriptor, error) {
	m := saveManifest{RepoTags: tags, Layers: []string{}}
	manifest := ociManifest{SchemaVersion: 2, MediaType: mediaManifest, Layers: []descriptor{}}
	config := ociConfig{
		Created: img.Created, Architecture: runtime.GOARCH, OS: "linux",
		Config: ociRunConfig{Env: img.Config.Env, Entrypoint: img.Config.Entrypoint, Cmd: img.Config.Cmd,
			WorkingDir: img.Config.WorkingDir, User: img.Config.User},
		RootFS:  ociRootFS{Type: "layers", DiffIDs: []string{}},
		History: img.History,
	}
	for _, id := range img.Layers {
		desc, err := b.layer(s.layerDir(id))
		if err != nil {
			return m, nil, fmt.Errorf("layer %s: %w", id, err)
		}
		m.Layers = append(m.Layers, blobsDir+strings.TrimPrefix(desc.Digest, "sha256:"))
		manifest.Layers = append(manifest.Layers, desc)
		config.RootFS.DiffIDs = append(config.RootFS.DiffIDs, desc.Digest) // uncompressed: the blob is the diff
	}
	configDesc, err := b.jsonBlob(config, mediaConfig)
	if err != nil {
		return m, nil, err
	}
	m.Config = blobsDir + strings.TrimPrefix(configDesc.Digest, "sha256:")
	manifest.Config = &configDesc
	manifestDesc, err := b.jsonBlob(manifest, mediaManifest)
	if err != nil {
		return m, nil, err
	}
	var index []descriptor
	for _, tag := range tags {
		d := manifestDesc
		d.Annotations = map[string]string{annotationName: fullName(tag), annotationRefName: tag[strings.LastIndexByte(tag, ':')+1:]}
		index = append(index, d)
	}
	return m, index, nil
}

// fullName is a normalised name with Docker Hub's prefixes that
// NormalizeName drops, as containerd names images: "busybox:latest" is
// "docker.io/library/busybox:latest".
func fullName(name string) string {
	switch {
	case Host(name) != "":
		return name
	case strings.Contains(name, "/"):
		return "docker.io/" + name
	default:
		return "docker.io/library/" + name
	}
}

// layer writes the layer folder dir as a blob, unless it is there already.
func (b *blobWriter) layer(dir string) (descriptor, error) {
	sum := &hashCounter{h: sha256.New()}
	if err := writeTar(sum, dir, nil, Owners{}); err != nil {
		return descriptor{}, err
	}
	desc := descriptor{MediaType: mediaLayer, Digest: sum.digest(), Size: sum.n}
	if b.written[desc.Digest] {
		return desc, nil
	}
	if err := b.tw.WriteHeader(blobHeader(desc)); err != nil {
		return desc, err
	}
	again := &hashCounter{h: sha256.New()}
	if err := writeTar(io.MultiWriter(b.tw, again), dir, nil, Owners{}); err != nil {
		return desc, err
	}
	if again.digest() != desc.Digest {
		return desc, fmt.Errorf("%s changed while it was saved", dir)
	}
	b.written[desc.Digest] = true
	return desc, nil
}

// jsonBlob writes v as a JSON blob.
func (b *blobWriter) jsonBlob(v any, mediaType string) (descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	sum := sha256.Sum256(data)
	desc := descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
	if b.written[desc.Digest] {
		return desc, nil
	}
	b.written[desc.Digest] = true
	return desc, b.file(blobsDir+hex.EncodeToString(sum[:]), data)
}

// file writes a file of the archive.
func (b *blobWriter) file(name string, data []byte) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o444, ModTime: time.Unix(0, 0)}
	if err := b.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := b.tw.Write(data)
	return err
}

func blobHeader(d descriptor) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: blobsDir + strings.TrimPrefix(d.Digest, "sha256:"),
		Size: d.Size, Mode: 0o444, ModTime: time.Unix(0, 0)}
}

// hashCounter hashes and counts what is written to it.
type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

func (c *hashCounter) digest() string { return "sha256:" + hex.EncodeToString(c.h.Sum(nil)) }
