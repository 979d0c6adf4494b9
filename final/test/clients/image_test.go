package clients

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestWriteImage reads the archive back both ways, as an OCI layout and
// as a docker-save archive, and checks that both give the same image,
// whose layer holds the folder.
func TestWriteImage(t *testing.T) {
	rootfs := t.TempDir()
	for _, d := range []string{"bin", "etc"} {
		if err := os.Mkdir(filepath.Join(rootfs, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "bin/busybox"), []byte("#!fake"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("busybox", filepath.Join(rootfs, "bin/sh")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(rootfs, "bin/busybox"), filepath.Join(rootfs, "bin/echo")); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "image.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	const name = "skiff.test/clients/busybox:latest"
	if err := WriteImage(f, rootfs, name); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	saved, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		t.Fatalf("as a docker-save archive: %v", err)
	}
	dir := t.TempDir()
	untarFiles(t, archive, dir)
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("as an OCI layout: %v", err)
	}
	im, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["io.containerd.image.name"] != name {
		t.Fatalf("index.json: %+v, want one manifest named %s", im.Manifests, name)
	}
	img, err := index.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	n1, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	n2, err := saved.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if n1 != n2 {
		t.Errorf("config: %s in the layout, %s in manifest.json", n1, n2)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"sh"}) || cfg.OS != "linux" || len(cfg.RootFS.DiffIDs) != 1 {
		t.Errorf("config: %+v", cfg)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %v, %v", layers, err)
	}
	if d, _ := layers[0].DiffID(); d != cfg.RootFS.DiffIDs[0] {
		t.Errorf("layer's diff ID %s, config says %s", d, cfg.RootFS.DiffIDs[0])
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got[hdr.Name] = string(hdr.Typeflag) + " " + hdr.Linkname
	}
	want := map[string]string{
		"bin/": "5 ", "etc/": "5 ", "bin/busybox": "0 ", "bin/echo": "1 bin/busybox", "bin/sh": "2 busybox",
	}
	if len(got) != len(want) {
		t.Errorf("layer: %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("layer entry %s: %q, want %q", k, got[k], v)
		}
	}
}

// untarFiles unpacks the regular files of the archive into dir.
func untarFiles(t *testing.T, archive, dir string) {
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, hdr.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
