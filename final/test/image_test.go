//go:build vmtest

package test

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"skiff/internal/image"
)

// rootfsTar is the busybox rootfs as a tar, as `docker export` makes, plus
// extra files.
func rootfsTar(t *testing.T, extra map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	root := os.Getenv("ROOTFS")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link, _ := os.Readlink(path)
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = strings.TrimPrefix(path, root+"/"), 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			data, _ := os.ReadFile(path)
			tw.Write(data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	writeTarFiles(t, tw, extra)
	tw.Close()
	return buf.Bytes()
}

func writeTarFiles(t *testing.T, tw *tar.Writer, files map[string]string) {
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
}

func filesTar(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	writeTarFiles(t, tw, files)
	tw.Close()
	return buf.Bytes()
}

func layerOf(t *testing.T, data []byte) v1.Layer {
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestImportCommitAndRun(t *testing.T) {
	file := filepath.Join(t.TempDir(), "export.tar")
	os.WriteFile(file, rootfsTar(t, map[string]string{"etc/imported": "yes\n"}), 0o644)
	must(t, "import", file, "mine")
	if out := must(t, "run", "--rm", "mine", "cat", "/etc/imported"); out != "yes\n" {
		t.Fatalf("run of the imported image: %q", out)
	}
	must(t, "run", "--name", "changer", "mine", "sh", "-c", "echo added > /added; rm /etc/imported")
	must(t, "commit", "changer", "mine2")
	if out := must(t, "run", "--rm", "mine2", "sh", "-c", "cat /added; test -e /etc/imported || echo gone"); out != "added\ngone\n" {
		t.Errorf("run of the committed image: %q", out)
	}
	// The init layer (/etc/hosts, /etc/hostname, /etc/resolv.conf) is the
	// container's own, not part of the new layer.
	store, err := image.Open(filepath.Join(roots[3], "images"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := store.Get("mine2")
	if err != nil {
		t.Fatal(err)
	}
	dirs := store.LayerDirs(img)
	top := dirs[len(dirs)-1]
	for _, f := range []string{"etc/hosts", "etc/hostname", "etc/resolv.conf"} {
		if _, err := os.Lstat(filepath.Join(top, f)); err == nil {
			t.Errorf("the committed layer holds %s", f)
		}
	}
	if images := must(t, "images"); !strings.Contains(images, "mine2") || !strings.Contains(images, "busybox") {
		t.Errorf("images:\n%s", images)
	}
	if r := skiff(t, "rmi", "mine"); r.status == 0 {
		t.Error("removed an image a container uses")
	}
	must(t, "rm", "changer")
	must(t, "rmi", "mine2", "mine")
	if images := must(t, "images"); strings.Contains(images, "mine") {
		t.Errorf("images after rmi:\n%s", images)
	}
}

// TestPull pulls from a registry this test runs on 127.0.0.1: an image of
// two layers, the upper one deleting a file of the lower one.
func TestPull(t *testing.T) {
	server := httptest.NewServer(registry.New())
	defer server.Close()
	host := strings.TrimPrefix(server.URL, "http://")
	lower := layerOf(t, rootfsTar(t, map[string]string{"etc/doomed": "delete me\n"}))
	upper := layerOf(t, filesTar(t, map[string]string{"etc/.wh.doomed": "", "hello.txt": "hello from the upper layer\n"}))
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Cmd: []string{"cat", "/hello.txt"}, Env: []string{"PATH=/bin:/usr/bin", "GREETING=hi"}})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host+"/test/multi:v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	r := skiff(t, "pull", host+"/test/multi:v1")
	if r.status != 0 {
		t.Fatalf("pull: status %d\n%s%s", r.status, r.stdout, r.stderr)
	}
	// Not a terminal: one line per layer, with what was downloaded.
	if n := len(regexp.MustCompile(`(?m)^[0-9a-f]{12}: pull complete, [0-9.]+ (B|kB|MB)$`).FindAllString(r.stderr, -1)); n != 2 || strings.Contains(r.stderr, "\r") {
		t.Errorf("pull's progress without a terminal: %q, want a line for each of 2 layers and no carriage return", r.stderr)
	}
	if out := must(t, "run", "--rm", host+"/test/multi:v1"); out != "hello from the upper layer\n" {
		t.Errorf("the image's own command: %q", out)
	}
	if out := must(t, "run", "--rm", host+"/test/multi:v1", "sh", "-c", "echo $GREETING; test -e /etc/doomed || echo deleted"); out != "hi\ndeleted\n" {
		t.Errorf("env and whiteout: %q", out)
	}
	if r := skiff(t, "pull", host+"/test/multi:v1"); !strings.Contains(r.stderr, "already exists") {
		t.Errorf("a second pull downloaded the layers again:\n%s", r.stderr)
	}
	u, _ := url.Parse(server.URL)
	must(t, "rmi", u.Host+"/test/multi:v1")
}
