// Package clients drives an OCI runtime with runc's command line through
// real clients: containerd's ctr and Docker, from Debian's packages, each
// daemon started with folders, sockets and cgroups of its own and removed
// at the end. The tests and the benchmark are in clients_test.go (build
// tag clienttest, `make client-tests`); this file makes the image they
// run, without a registry.
package clients

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// dockerManifest is one entry of a docker-save archive's manifest.json.
type dockerManifest struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// WriteImage writes to w an image archive of one layer, the folder rootfs,
// named name ("host/path:tag"), with sh as its command. The archive is
// both an OCI image layout (index.json, blobs/) and a docker-save archive
// (manifest.json naming the same blobs), so that both `ctr images import`
// and `docker load` take it. The layer is left uncompressed: its digest is
// then its diff ID, which both clients check.
func WriteImage(w io.Writer, rootfs, name string) error {
	var layerTar bytes.Buffer
	if err := writeLayer(&layerTar, rootfs); err != nil {
		return err
	}
	layer := static.NewLayer(layerTar.Bytes(), types.OCIUncompressedLayer)
	img, err := mutate.ConfigFile(mutate.MediaType(empty.Image, types.OCIManifestSchema1), &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Cmd: []string{"sh"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		},
	})
	if err != nil {
		return err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, layer); err != nil {
		return err
	}

	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return err
	}
	layerDigest, err := layer.Digest()
	if err != nil {
		return err
	}
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1,
			Size:      int64(len(manifest)),
			Digest:    manifestDigest,
			Platform:  &v1.Platform{Architecture: runtime.GOARCH, OS: "linux"},
			// containerd names the image after the first, the OCI
			// layout's tools after the second.
			Annotations: map[string]string{
				"io.containerd.image.name":          name,
				"org.opencontainers.image.ref.name": name,
			},
		}},
	})
	if err != nil {
		return err
	}
	saved, err := json.Marshal([]dockerManifest{{
		Config:   blobPath(configName),
		RepoTags: []string{name},
		Layers:   []string{blobPath(layerDigest)},
	}})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{blobPath(layerDigest), layerTar.Bytes()},
		{blobPath(configName), config},
		{blobPath(manifestDigest), manifest},
		{"index.json", index},
		{"manifest.json", saved},
	} {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// blobPath is where an OCI layout keeps the blob of digest h.
func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// writeLayer writes the folder rootfs to w as a layer tar: folders,
// regular files (hard links as links), symlinks and device nodes, with
// their numeric owners.
func writeLayer(w io.Writer, rootfs string) error {
	tw := tar.NewWriter(w)
	seen := map[uint64]string{} // inode -> first name, for hard links
	err := filepath.WalkDir(rootfs, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(rootfs, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode()&(fs.ModeSocket|fs.ModeIrregular) != 0 {
			return nil
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		hdr.Name, hdr.Uname, hdr.Gname = filepath.ToSlash(rel), "", ""
		if info.IsDir() {
			hdr.Name += "/"
		}
		var st unix.Stat_t
		if info.Mode().IsRegular() && unix.Lstat(path, &st) == nil && st.Nlink > 1 {
			if first, ok := seen[st.Ino]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				seen[st.Ino] = hdr.Name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.CopyN(tw, f, hdr.Size)
		return err
	})
	if err != nil {
		return fmt.Errorf("layer from %s: %w", rootfs, err)
	}
	return tw.Close()
}
