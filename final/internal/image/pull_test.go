package image_test

// Pulling lives in package registry, in a binary of its own (skiff-pull),
// and fills this package's store: it is tested here, with the store's test
// helpers (export_test.go). An external test package, since registry
// imports image.

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"skiff/internal/image"
	skiffregistry "skiff/internal/registry"
)

// testRegistry serves an in-process registry on 127.0.0.1 and records the
// blobs fetched from it.
type testRegistry struct {
	host    string
	mu      sync.Mutex
	fetched []string // digests of blobs GET from the registry
}

func newTestRegistry(t *testing.T) *testRegistry {
	r := &testRegistry{}
	handler := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodGet && strings.Contains(req.URL.Path, "/blobs/") {
			r.mu.Lock()
			r.fetched = append(r.fetched, path.Base(req.URL.Path))
			r.mu.Unlock()
		}
		handler.ServeHTTP(w, req)
	}))
	t.Cleanup(server.Close)
	r.host = strings.TrimPrefix(server.URL, "http://")
	return r
}

// takeFetched returns the blobs fetched since the last call.
func (r *testRegistry) takeFetched() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	fetched := r.fetched
	r.fetched = nil
	return fetched
}

func tarLayer(t *testing.T, data []byte) v1.Layer {
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	image.Must(t, err)
	return layer
}

// push pushes an image of these layers, lowest first, with config.
func (r *testRegistry) push(t *testing.T, repoTag string, config v1.Config, layers ...v1.Layer) {
	img, err := mutate.AppendLayers(empty.Image, layers...)
	image.Must(t, err)
	img, err = mutate.Config(img, config)
	image.Must(t, err)
	ref, err := name.ParseReference(r.host + "/" + repoTag)
	image.Must(t, err)
	image.Must(t, remote.Write(ref, img))
}

func TestPull(t *testing.T) {
	image.NeedRoot(t)
	reg := newTestRegistry(t)
	lowerTar := image.MakeTar(t,
		image.TarFile{Name: "bin/", Type: tar.TypeDir},
		image.TarFile{Name: "bin/sh", Body: "shell", Mode: 0o755},
		image.TarFile{Name: "etc/", Type: tar.TypeDir},
		image.TarFile{Name: "etc/old.conf", Body: "old"},
	)
	upperTar := image.MakeTar(t,
		image.TarFile{Name: "etc/", Type: tar.TypeDir},
		image.TarFile{Name: "etc/.wh.old.conf"},
		image.TarFile{Name: "etc/new.conf", Body: "new"},
	)
	lower, upper := tarLayer(t, lowerTar), tarLayer(t, upperTar)
	config := v1.Config{Env: []string{"PATH=/bin", "GREETING=hi"}, Cmd: []string{"/bin/sh", "-c", "echo $GREETING"}, WorkingDir: "/etc"}
	reg.push(t, "test/multi:latest", config, lower, upper)
	reg.takeFetched()

	s := image.OpenStore(t)
	var progress bytes.Buffer
	img, err := skiffregistry.Pull(context.Background(), s, reg.host+"/test/multi", skiffregistry.NewProgress(&progress, false))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("progress: %q", progress.String())
	if want := reg.host + "/test/multi:latest"; img.Name != want {
		t.Errorf("name %q, want %q", img.Name, want)
	}
	if want := []string{image.Sha(lowerTar), image.Sha(upperTar)}; !slices.Equal(img.Layers, want) {
		t.Fatalf("layers %v, want the diffIDs %v", img.Layers, want)
	}
	if !slices.Equal(img.Config.Env, config.Env) || !slices.Equal(img.Config.Cmd, config.Cmd) || img.Config.WorkingDir != "/etc" {
		t.Errorf("config %+v, want %+v", img.Config, config)
	}
	dirs := s.LayerDirs(img)
	image.CheckContent(t, filepath.Join(dirs[0], "etc/old.conf"), "old")
	image.CheckWhiteout(t, filepath.Join(dirs[1], "etc/old.conf"))
	image.CheckContent(t, filepath.Join(dirs[1], "etc/new.conf"), "new")
	image.CheckMissing(t, filepath.Join(dirs[1], "bin"))
	if n := strings.Count(progress.String(), "pull complete"); n != 2 {
		t.Errorf("progress %q: want 2 layers done", progress.String())
	}
	lowerDigest, err := lower.Digest()
	image.Must(t, err)
	upperDigest, err := upper.Digest()
	image.Must(t, err)
	if fetched := reg.takeFetched(); !slices.Contains(fetched, lowerDigest.String()) || !slices.Contains(fetched, upperDigest.String()) {
		t.Errorf("fetched %v, want both layers", fetched)
	}
	checkOverlay(t, dirs)

	// Pulling again fetches no layer and unpacks nothing: the folders are
	// the same ones.
	before := image.Stat(t, dirs[0]).Ino
	progress.Reset()
	again, err := skiffregistry.Pull(context.Background(), s, reg.host+"/test/multi:latest", skiffregistry.NewProgress(&progress, false))
	if err != nil {
		t.Fatal(err)
	}
	if fetched := reg.takeFetched(); slices.Contains(fetched, lowerDigest.String()) || slices.Contains(fetched, upperDigest.String()) {
		t.Errorf("second pull fetched %v, want no layer", fetched)
	}
	if n := strings.Count(progress.String(), "already exists"); n != 2 {
		t.Errorf("second pull's progress %q: want 2 layers that already exist", progress.String())
	}
	if again.ID != img.ID || image.Stat(t, dirs[0]).Ino != before {
		t.Error("second pull changed the image or its layers")
	}

	// Another image on the same base: only its own layer is new.
	otherTar := image.MakeTar(t, image.TarFile{Name: "other", Body: "other"})
	reg.push(t, "test/other:v2", config, lower, tarLayer(t, otherTar))
	reg.takeFetched()
	other, err := skiffregistry.Pull(context.Background(), s, reg.host+"/test/other:v2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if fetched := reg.takeFetched(); slices.Contains(fetched, lowerDigest.String()) {
		t.Errorf("pulling another image fetched the shared base layer again: %v", fetched)
	}
	if other.Layers[0] != img.Layers[0] || image.Stat(t, dirs[0]).Ino != before {
		t.Error("the shared base layer was unpacked again")
	}
	if entries, _ := os.ReadDir(s.LayersDir()); len(entries) != 3 {
		t.Errorf("layers/ holds %d entries, want 3 (one base, two tops)", len(entries))
	}

	if _, err := skiffregistry.Pull(context.Background(), s, reg.host+"/test/missing", nil); err == nil {
		t.Error("pulling a missing image succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := skiffregistry.Pull(ctx, s, reg.host+"/test/multi", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("pull with a cancelled context: %v, want context.Canceled", err)
	}
}

// checkOverlay mounts the layers as an overlay, if this machine lets us,
// and checks that the whiteout hides the lower file.
func checkOverlay(t *testing.T, layerDirs []string) {
	merged := t.TempDir()
	lowers := slices.Clone(layerDirs)
	slices.Reverse(lowers) // overlayfs lists the highest first
	err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+strings.Join(lowers, ":"))
	if err != nil {
		t.Logf("not checking the layers as an overlay: mount: %v", err)
		return
	}
	defer unix.Unmount(merged, unix.MNT_DETACH)
	image.CheckMissing(t, filepath.Join(merged, "etc/old.conf"))
	image.CheckContent(t, filepath.Join(merged, "etc/new.conf"), "new")
	image.CheckContent(t, filepath.Join(merged, "bin/sh"), "shell")
}
