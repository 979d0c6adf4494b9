package image_test

// skiff's save and load against another implementation of the docker-save
// format: go-containerregistry's tarball package, which reads and writes
// what docker save and docker load do.

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"skiff/internal/image"
	skiffregistry "skiff/internal/registry"
)

// TestLoadGoContainerRegistryTar: a tar that tarball.Write makes (gzip
// layers, a config named sha256:HEX) loads, with its config and history.
func TestLoadGoContainerRegistryTar(t *testing.T) {
	image.NeedRoot(t)
	lower := image.MakeTar(t, image.TarFile{Name: "etc/", Type: tar.TypeDir}, image.TarFile{Name: "etc/motd", Body: "lower"})
	upper := image.MakeTar(t, image.TarFile{Name: "etc/", Type: tar.TypeDir}, image.TarFile{Name: "etc/motd", Body: "upper"})
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: tarLayer(t, lower), History: v1.History{CreatedBy: "ADD lower"}},
		mutate.Addendum{Layer: tarLayer(t, upper), History: v1.History{CreatedBy: "ADD upper", Comment: "top"}},
		mutate.Addendum{Layer: nil, History: v1.History{CreatedBy: "CMD [\"sh\"]", EmptyLayer: true}})
	image.Must(t, err)
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"sh"}, Env: []string{"A=1"}})
	image.Must(t, err)
	ref, err := name.NewTag("example.com/ggcr/img:v1")
	image.Must(t, err)
	var buf bytes.Buffer
	image.Must(t, tarball.Write(ref, img, &buf))

	s := image.OpenStore(t)
	loaded, err := s.Load(bytes.NewReader(buf.Bytes()))
	image.Must(t, err)
	if len(loaded) != 1 || loaded[0].Name != "example.com/ggcr/img:v1" {
		t.Fatalf("loaded %+v", loaded)
	}
	got := loaded[0]
	if !slices.Equal(got.Layers, []string{image.Sha(lower), image.Sha(upper)}) {
		t.Errorf("layers %v, want the sha256 of the uncompressed tars", got.Layers)
	}
	if !slices.Equal(got.Config.Cmd, []string{"sh"}) || !slices.Equal(got.Config.Env, []string{"A=1"}) {
		t.Errorf("config %+v", got.Config)
	}
	steps, err := s.History(got)
	image.Must(t, err)
	if len(steps) != 3 || !steps[0].EmptyLayer || steps[1].Comment != "top" || steps[1].Layer != got.Layers[1] {
		t.Errorf("history %+v", steps)
	}
	image.CheckContent(t, filepath.Join(s.LayerDirs(got)[1], "etc/motd"), "upper")
}

// TestSaveReadByGoContainerRegistry: go-containerregistry reads what
// Save writes, and finds each layer's content has its config's diffID.
// (That of a layer imported from a tar that skiff did not write: Save
// writes the layer's folder again, in its own order and format.)
func TestSaveReadByGoContainerRegistry(t *testing.T) {
	image.NeedRoot(t)
	s := image.OpenStore(t)
	layer := image.MakeTar(t, image.TarFile{Name: "bin/", Type: tar.TypeDir}, image.TarFile{Name: "bin/tool", Body: "#!/bin/sh\n", Mode: 0o755})
	_, err := s.ImportTar(bytes.NewReader(layer), "saved:v1")
	image.Must(t, err)
	file := filepath.Join(t.TempDir(), "saved.tar")
	f, err := os.Create(file)
	image.Must(t, err)
	image.Must(t, s.Save(f, []string{"saved:v1"}))
	image.Must(t, f.Close())

	tag, err := name.NewTag("saved:v1")
	image.Must(t, err)
	img, err := tarball.ImageFromPath(file, &tag)
	image.Must(t, err)
	cf, err := img.ConfigFile()
	image.Must(t, err)
	if len(cf.RootFS.DiffIDs) != 1 || len(cf.History) != 1 || cf.History[0].Comment != "Imported from -" {
		t.Fatalf("config read by go-containerregistry: %+v", cf)
	}
	layers, err := img.Layers()
	image.Must(t, err)
	rc, err := layers[0].Uncompressed()
	image.Must(t, err)
	defer rc.Close()
	var content bytes.Buffer
	_, err = content.ReadFrom(rc)
	image.Must(t, err)
	if image.Sha(content.Bytes()) != cf.RootFS.DiffIDs[0].Hex {
		t.Errorf("the saved layer's digest is %s, its diffID %s", image.Sha(content.Bytes()), cf.RootFS.DiffIDs[0])
	}
	if !bytes.Contains(content.Bytes(), []byte("#!/bin/sh\n")) {
		t.Error("the saved layer lost bin/tool's content")
	}
	if err := validate.Image(img); err != nil { // every digest, size and diffID
		t.Errorf("go-containerregistry's validate of the docker-save view: %v", err)
	}

	// The same tar is an OCI image layout.
	dir := t.TempDir()
	data, err := os.ReadFile(file)
	image.Must(t, err)
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		image.Must(t, err)
		target := filepath.Join(dir, hdr.Name)
		if hdr.Typeflag == tar.TypeDir {
			image.Must(t, os.MkdirAll(target, 0o755))
			continue
		}
		body, err := io.ReadAll(tr)
		image.Must(t, err)
		image.Must(t, os.WriteFile(target, body, 0o644))
	}
	index, err := layout.ImageIndexFromPath(dir)
	image.Must(t, err)
	// Fast: go-containerregistry's layout reader takes every layer for a
	// gzip one, and Docker's, like skiff's, are plain tars; the docker-save
	// view above had their bytes checked.
	if err := validate.Index(index, validate.Fast); err != nil {
		t.Errorf("go-containerregistry's validate of the OCI layout view: %v", err)
	}
	manifest, err := index.IndexManifest()
	image.Must(t, err)
	if len(manifest.Manifests) != 1 || manifest.Manifests[0].Annotations["io.containerd.image.name"] != "docker.io/library/saved:v1" {
		t.Errorf("index.json: %+v", manifest)
	}
}

// TestPullKeepsHistory: a pulled image keeps its config's history, which
// `skiff history` shows and `skiff save` writes.
func TestPullKeepsHistory(t *testing.T) {
	image.NeedRoot(t)
	reg := newTestRegistry(t)
	layer := image.MakeTar(t, image.TarFile{Name: "etc/", Type: tar.TypeDir}, image.TarFile{Name: "etc/motd", Body: "hi"})
	img, err := mutate.Append(empty.Image,
		mutate.Addendum{Layer: tarLayer(t, layer), History: v1.History{CreatedBy: "ADD motd", Comment: "pulled"}},
		mutate.Addendum{History: v1.History{CreatedBy: "CMD [\"sh\"]", EmptyLayer: true}})
	image.Must(t, err)
	ref, err := name.ParseReference(reg.host + "/test/history:v1")
	image.Must(t, err)
	image.Must(t, remote.Write(ref, img))

	s := image.OpenStore(t)
	pulled, err := skiffregistry.Pull(context.Background(), s, reg.host+"/test/history:v1", nil)
	image.Must(t, err)
	if len(pulled.History) != 2 || pulled.History[0].CreatedBy != "ADD motd" || pulled.History[0].Comment != "pulled" ||
		!pulled.History[1].EmptyLayer {
		t.Errorf("pulled history %+v", pulled.History)
	}
}
