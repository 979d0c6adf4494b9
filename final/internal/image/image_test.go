package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// needRoot skips a test that needs root (mknod, chown, trusted.* xattrs),
// or fails it on CI, where it must run.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root (mknod, lchown, trusted.* xattrs), and CI=true")
	}
	t.Skip("skipped: needs root (mknod, lchown, trusted.* xattrs); run with sudo")
}

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNormalizeName(t *testing.T) {
	long := strings.Repeat("a", 256)
	good := map[string]string{
		"busybox":                          "busybox:latest",
		"busybox:1.36":                     "busybox:1.36",
		"busybox:latest":                   "busybox:latest",
		"library/busybox":                  "busybox:latest",
		"docker.io/library/ubuntu:22.04":   "ubuntu:22.04",
		"index.docker.io/myuser/app":       "myuser/app:latest",
		"myuser/my-app_2.x:V1.0_rc-1":      "myuser/my-app_2.x:V1.0_rc-1",
		"a__b/c---d":                       "a__b/c---d:latest",
		"localhost/foo":                    "localhost/foo:latest",
		"localhost:5000/foo":               "localhost:5000/foo:latest",
		"127.0.0.1:5000/test/multi":        "127.0.0.1:5000/test/multi:latest",
		"127.0.0.1:5000/test/multi:latest": "127.0.0.1:5000/test/multi:latest",
		"ghcr.io/owner/repo/sub:v1.2.3":    "ghcr.io/owner/repo/sub:v1.2.3",
		"Registry.Example.com/x":           "Registry.Example.com/x:latest",
		"[::1]:5000/x:y":                   "[::1]:5000/x:y",
		"foo:5000":                         "foo:5000", // a tag, not a port: no slash follows
		strings.Repeat("a", 255):           strings.Repeat("a", 255) + ":latest",
		"x:" + strings.Repeat("t", 128):    "x:" + strings.Repeat("t", 128),
	}
	for in, want := range good {
		got, err := NormalizeName(in)
		if err != nil || got != want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                              "empty",
		"Busybox":                       "lowercase",
		"busybox:":                      "tag",
		"busybox:-x":                    "tag",
		"busybox:a/b":                   "host",
		"x:" + strings.Repeat("t", 129): "tag",
		"busybox@sha256:abcd":           "digest",
		"-busybox":                      "component",
		"busy..box":                     "component",
		"busybox_":                      "component",
		"a b":                           "component",
		"foo//bar":                      "empty path component",
		"foo/":                          "empty path component",
		"/foo":                          "empty path component",
		":tag":                          "missing",
		"localhost:abc/foo":             "host",
		"bad_host.com:5000/foo":         "host",
		"example.com/":                  "missing",
		long:                            "longer than 255",
	}
	for in, want := range bad {
		got, err := NormalizeName(in)
		if err == nil {
			t.Errorf("NormalizeName(%q) = %q; want an error", in, got)
			continue
		}
		if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("NormalizeName(%q): error %q; want one line mentioning %q", in, err, want)
		}
	}
}

// stat returns path's lstat, failing the test if there is none.
func stat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("lstat: %v", err)
	}
	return st
}

// checkFile checks path's file type (unix.S_IF*), permission bits and owner.
func checkFile(t *testing.T, path string, kind, perm uint32, uid, gid uint32) {
	t.Helper()
	st := stat(t, path)
	if st.Mode&unix.S_IFMT != kind {
		t.Errorf("%s: file type %o, want %o", path, st.Mode&unix.S_IFMT, kind)
	}
	if kind != unix.S_IFLNK && st.Mode&0o7777 != perm {
		t.Errorf("%s: mode %04o, want %04o", path, st.Mode&0o7777, perm)
	}
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: owner %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
	}
}

func checkContent(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil || string(got) != want {
		t.Errorf("%s: content %q, %v; want %q", path, got, err, want)
	}
}

func checkWhiteout(t *testing.T, path string) {
	t.Helper()
	st := stat(t, path)
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("%s: mode %o rdev %d, want a 0/0 character device (a whiteout)", path, st.Mode, st.Rdev)
	}
}

func checkOpaque(t *testing.T, dir string) {
	t.Helper()
	if got := xattr(dir, opaqueXattr); got != "y" {
		t.Errorf("%s: %s = %q, want \"y\"", dir, opaqueXattr, got)
	}
}

func checkMissing(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s exists (%v), want it missing", path, err)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeTestFile(t *testing.T, path, content string, perm os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(content), perm))
	must(t, os.Chmod(path, perm)) // past the umask, with setuid if asked
}

// makeRootfs makes a small root filesystem with one of each kind of file.
func makeRootfs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeTestFile(t, filepath.Join(dir, "bin/tool"), "#!/bin/sh\necho tool\n", 0o755)
	writeTestFile(t, filepath.Join(dir, "bin/su"), "setuid", 0o755|os.ModeSetuid)
	writeTestFile(t, filepath.Join(dir, "home/user/notes"), "mine", 0o600)
	must(t, os.Lchown(filepath.Join(dir, "home/user/notes"), 1000, 1001))
	must(t, os.Lchown(filepath.Join(dir, "home/user"), 1000, 1001))
	must(t, os.Symlink("tool", filepath.Join(dir, "bin/link")))
	must(t, os.Link(filepath.Join(dir, "bin/tool"), filepath.Join(dir, "bin/hardlink")))
	must(t, os.Mkdir(filepath.Join(dir, "tmp"), 0o755))
	must(t, unix.Chmod(filepath.Join(dir, "tmp"), 0o1777))
	must(t, os.Mkdir(filepath.Join(dir, "dev"), 0o755))
	must(t, unix.Mkfifo(filepath.Join(dir, "dev/fifo"), 0o620))
	must(t, unix.Chmod(filepath.Join(dir, "dev/fifo"), 0o620)) // past the umask
	must(t, unix.Mknod(filepath.Join(dir, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Chmod(filepath.Join(dir, "dev/null"), 0o666))
	must(t, unix.Lsetxattr(filepath.Join(dir, "bin/tool"), "user.test", []byte("kept"), 0))
	return dir
}

func TestImportDir(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	img, err := s.ImportDir(makeRootfs(t), "rootfs")
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "rootfs:latest" || len(img.Layers) != 1 || len(img.ID) != 64 || img.Size <= 0 {
		t.Fatalf("image = %+v", img)
	}
	layer := s.LayerDirs(img)[0]
	if layer != filepath.Join(s.root, "layers", img.Layers[0]) {
		t.Errorf("layer folder %s", layer)
	}
	checkFile(t, filepath.Join(layer, "bin/tool"), unix.S_IFREG, 0o755, 0, 0)
	checkContent(t, filepath.Join(layer, "bin/tool"), "#!/bin/sh\necho tool\n")
	checkFile(t, filepath.Join(layer, "bin/su"), unix.S_IFREG, 0o4755, 0, 0)
	checkFile(t, filepath.Join(layer, "home/user"), unix.S_IFDIR, 0o755, 1000, 1001)
	checkFile(t, filepath.Join(layer, "home/user/notes"), unix.S_IFREG, 0o600, 1000, 1001)
	checkFile(t, filepath.Join(layer, "tmp"), unix.S_IFDIR, 0o1777, 0, 0)
	checkFile(t, filepath.Join(layer, "dev/fifo"), unix.S_IFIFO, 0o620, 0, 0)
	checkFile(t, filepath.Join(layer, "dev/null"), unix.S_IFCHR, 0o666, 0, 0)
	if st := stat(t, filepath.Join(layer, "dev/null")); st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: device %d:%d, want 1:3", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	checkFile(t, filepath.Join(layer, "bin/link"), unix.S_IFLNK, 0, 0, 0)
	if target, _ := os.Readlink(filepath.Join(layer, "bin/link")); target != "tool" {
		t.Errorf("bin/link -> %q, want tool", target)
	}
	if a, b := stat(t, filepath.Join(layer, "bin/tool")), stat(t, filepath.Join(layer, "bin/hardlink")); a.Ino != b.Ino {
		t.Error("bin/hardlink is not a hard link of bin/tool")
	}
	if got := xattr(filepath.Join(layer, "bin/tool"), "user.test"); got != "kept" {
		t.Errorf("xattr user.test = %q, want kept", got)
	}

	got, err := s.Get("rootfs")
	if err != nil || got.ID != img.ID {
		t.Errorf("Get(rootfs) = %+v, %v", got, err)
	}
	if _, err := s.ImportDir(filepath.Join(t.TempDir(), "nothing"), "x"); err == nil {
		t.Error("ImportDir of a missing folder succeeded")
	}
	if _, err := s.ImportDir(t.TempDir(), "Bad Name"); err == nil {
		t.Error("ImportDir with a bad name succeeded")
	}
}

// tarFile is one entry of a tar made by makeTar; Type defaults to a
// regular file, Mode to 0644 (0755 for a folder).
type tarFile struct {
	Name, Body, Link string
	Type             byte
	Mode             int64
	Uid, Gid         int
	Major, Minor     int64
	Xattrs           map[string]string
}

func makeTar(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Name: f.Name, Typeflag: f.Type, Mode: f.Mode, Linkname: f.Link,
			Uid: f.Uid, Gid: f.Gid, Devmajor: f.Major, Devminor: f.Minor, ModTime: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if hdr.Typeflag == tar.TypeReg {
			hdr.Size = int64(len(f.Body))
		}
		for name, value := range f.Xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+name] = value
		}
		must(t, tw.WriteHeader(hdr))
		_, err := tw.Write([]byte(f.Body))
		must(t, err)
	}
	must(t, tw.Close())
	return buf.Bytes()
}

func gzipped(t *testing.T, data []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, err := zw.Write(data)
	must(t, err)
	must(t, zw.Close())
	return buf.Bytes()
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestImportTar(t *testing.T) {
	needRoot(t)
	rootfs := makeTar(t,
		tarFile{Name: "./", Type: tar.TypeDir, Mode: 0o755},
		tarFile{Name: "bin/", Type: tar.TypeDir},
		tarFile{Name: "bin/busybox", Body: "BB", Mode: 0o755},
		tarFile{Name: "bin/sh", Type: tar.TypeLink, Link: "bin/busybox"},
		tarFile{Name: "bin/ls", Type: tar.TypeSymlink, Link: "/bin/busybox"},
		tarFile{Name: "bin/passwd", Body: "pw", Mode: 0o4755},
		tarFile{Name: "/etc/motd", Body: "hello", Uid: 12, Gid: 34}, // absolute: made relative
		tarFile{Name: "var/spool/", Type: tar.TypeDir, Mode: 0o2775, Gid: 50},
		tarFile{Name: "dev/zero", Type: tar.TypeChar, Mode: 0o666, Major: 1, Minor: 5},
	)
	for _, tc := range []struct {
		name string
		data []byte
	}{{"plain", rootfs}, {"gzip", gzipped(t, rootfs)}} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			img, err := s.ImportTar(bytes.NewReader(tc.data), "exported:"+tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if img.Layers[0] != sha(rootfs) {
				t.Errorf("layer id %s, want the sha256 of the uncompressed tar %s", img.Layers[0], sha(rootfs))
			}
			layer := s.LayerDirs(img)[0]
			checkFile(t, layer, unix.S_IFDIR, 0o755, 0, 0)
			checkFile(t, filepath.Join(layer, "bin/busybox"), unix.S_IFREG, 0o755, 0, 0)
			checkContent(t, filepath.Join(layer, "bin/sh"), "BB")
			if a, b := stat(t, filepath.Join(layer, "bin/busybox")), stat(t, filepath.Join(layer, "bin/sh")); a.Ino != b.Ino {
				t.Error("bin/sh is not a hard link of bin/busybox")
			}
			if target, _ := os.Readlink(filepath.Join(layer, "bin/ls")); target != "/bin/busybox" {
				t.Errorf("bin/ls -> %q", target)
			}
			checkFile(t, filepath.Join(layer, "bin/passwd"), unix.S_IFREG, 0o4755, 0, 0)
			checkFile(t, filepath.Join(layer, "etc"), unix.S_IFDIR, 0o755, 0, 0) // made for etc/motd
			checkFile(t, filepath.Join(layer, "etc/motd"), unix.S_IFREG, 0o644, 12, 34)
			checkFile(t, filepath.Join(layer, "var/spool"), unix.S_IFDIR, 0o2775, 0, 50)
			checkFile(t, filepath.Join(layer, "dev/zero"), unix.S_IFCHR, 0o666, 0, 0)
			if st := stat(t, filepath.Join(layer, "dev/zero")); st.Rdev != unix.Mkdev(1, 5) {
				t.Errorf("dev/zero: device %d:%d, want 1:5", unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
			if mtime := stat(t, filepath.Join(layer, "bin")).Mtim.Sec; mtime != time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).Unix() {
				t.Errorf("bin: mtime %d, want the tar's", mtime)
			}
		})
	}
}

func TestImportTarRejectsEscapes(t *testing.T) {
	needRoot(t)
	outside := t.TempDir()
	for name, files := range map[string][]tarFile{
		"dotdot":          {{Name: "ok.txt", Body: "ok"}, {Name: "../escape", Body: "pwned"}},
		"dotdot in a dir": {{Name: "a/", Type: tar.TypeDir}, {Name: "a/../../escape", Body: "pwned"}},
		"through symlink": {{Name: "evil", Type: tar.TypeSymlink, Link: outside}, {Name: "evil/escape", Body: "pwned"}},
		"hard link out":   {{Name: "passwd", Type: tar.TypeLink, Link: "../../../../etc/passwd"}},
		"hard link via symlink": {
			{Name: "evil", Type: tar.TypeSymlink, Link: "/etc"}, {Name: "passwd", Type: tar.TypeLink, Link: "evil/passwd"},
		},
		"whiteout through symlink": {{Name: "evil", Type: tar.TypeSymlink, Link: outside}, {Name: "evil/.wh.escape"}},
	} {
		t.Run(name, func(t *testing.T) {
			s := openStore(t)
			_, err := s.ImportTar(bytes.NewReader(makeTar(t, files...)), "evil")
			if err == nil {
				t.Fatal("ImportTar succeeded, want an error")
			}
			t.Log(err)
			for _, dir := range []string{outside, s.root, s.layersDir(), filepath.Dir(s.root)} {
				checkMissing(t, filepath.Join(dir, "escape"))
			}
			if entries, _ := os.ReadDir(s.layersDir()); len(entries) != 0 {
				t.Errorf("layers/ holds %v, want nothing (not even a temporary folder)", entries)
			}
			if _, err := s.Get("evil"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Get(evil): %v, want ErrNotFound", err)
			}
		})
	}
}

func TestWhiteouts(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	img, err := s.ImportTar(bytes.NewReader(makeTar(t,
		tarFile{Name: "etc/", Type: tar.TypeDir},
		tarFile{Name: "etc/.wh.passwd"},
		tarFile{Name: ".wh.gone-dir"},
		tarFile{Name: "var/cache/", Type: tar.TypeDir},
		tarFile{Name: "var/cache/.wh..wh..opq"},
		tarFile{Name: "var/cache/fresh", Body: "new"},
		tarFile{Name: "opt/.wh..wh..opq"}, // no entry for opt/ itself
	)), "whiteouts")
	if err != nil {
		t.Fatal(err)
	}
	layer := s.LayerDirs(img)[0]
	checkWhiteout(t, filepath.Join(layer, "etc/passwd"))
	checkWhiteout(t, filepath.Join(layer, "gone-dir"))
	checkOpaque(t, filepath.Join(layer, "var/cache"))
	checkOpaque(t, filepath.Join(layer, "opt"))
	checkContent(t, filepath.Join(layer, "var/cache/fresh"), "new")
	for _, name := range []string{"etc/.wh.passwd", ".wh.gone-dir", "var/cache/.wh..wh..opq", "opt/.wh..wh..opq"} {
		checkMissing(t, filepath.Join(layer, name))
	}
	if xattr(filepath.Join(layer, "etc"), opaqueXattr) != "" {
		t.Error("etc is opaque, want it plain")
	}
}

// containerPaths are the files a runtime writes into each container.
var containerPaths = []string{"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"}

// makeUpper makes what a container's overlay upperdir looks like after it
// deleted bin/tool, replaced /var/cache and wrote some files.
func makeUpper(t *testing.T) string {
	upper := t.TempDir()
	for _, p := range containerPaths {
		writeTestFile(t, filepath.Join(upper, p), "per container", 0o644)
	}
	writeTestFile(t, filepath.Join(upper, "etc/app.conf"), "setting=1", 0o640)
	must(t, os.Lchown(filepath.Join(upper, "etc/app.conf"), 0, 42))
	must(t, os.Mkdir(filepath.Join(upper, "bin"), 0o755))
	must(t, unix.Mknod(filepath.Join(upper, "bin/tool"), unix.S_IFCHR, 0))
	writeTestFile(t, filepath.Join(upper, "var/cache/new"), "cached", 0o644)
	must(t, unix.Lsetxattr(filepath.Join(upper, "var/cache"), opaqueXattr, []byte("y"), 0))
	must(t, unix.Lsetxattr(filepath.Join(upper, "etc/app.conf"), "trusted.overlay.origin", []byte("junk"), 0))
	return upper
}

func TestCommit(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	base, err := s.ImportDir(makeRootfs(t), "base")
	must(t, err)
	base.Config = Config{Env: []string{"A=1"}, Cmd: []string{"/bin/tool"}}
	upper := makeUpper(t)
	img, err := s.Commit(upper, base, base.Config, "committed:v1", containerPaths, Owners{}, History{})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != 2 || img.Layers[0] != base.Layers[0] {
		t.Fatalf("layers %v, want the base's %v plus one", img.Layers, base.Layers)
	}
	if !slices.Equal(img.Config.Cmd, base.Config.Cmd) || !slices.Equal(img.Config.Env, base.Config.Env) {
		t.Errorf("config %+v, want the base's %+v", img.Config, base.Config)
	}
	layer := s.LayerDirs(img)[1]
	for _, p := range containerPaths {
		checkMissing(t, filepath.Join(layer, p))
	}
	checkFile(t, filepath.Join(layer, "etc/app.conf"), unix.S_IFREG, 0o640, 0, 42)
	checkContent(t, filepath.Join(layer, "etc/app.conf"), "setting=1")
	if xattr(filepath.Join(layer, "etc/app.conf"), "trusted.overlay.origin") != "" {
		t.Error("overlayfs's own xattr trusted.overlay.origin was committed")
	}
	checkWhiteout(t, filepath.Join(layer, "bin/tool"))
	checkOpaque(t, filepath.Join(layer, "var/cache"))
	checkContent(t, filepath.Join(layer, "var/cache/new"), "cached")

	// The same upper folder gives the same layer: its id is a content hash.
	again, err := s.Commit(upper, base, base.Config, "committed:v2", containerPaths, Owners{}, History{})
	must(t, err)
	if again.Layers[1] != img.Layers[1] || again.ID != img.ID {
		t.Errorf("committing the same folder again gave layer %s, image %s; want %s, %s", again.Layers[1], again.ID, img.Layers[1], img.ID)
	}
	alone, err := s.Commit(upper, nil, Config{}, "alone", nil, Owners{}, History{})
	must(t, err)
	if len(alone.Layers) != 1 {
		t.Errorf("commit without a base: layers %v", alone.Layers)
	}
	checkContent(t, filepath.Join(s.LayerDirs(alone)[0], "etc/hosts"), "per container")
}

func TestSharedLayers(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	rootfs := makeRootfs(t)
	a, err := s.ImportDir(rootfs, "a")
	must(t, err)
	b, err := s.ImportDir(rootfs, "b:v1")
	must(t, err)
	if a.Layers[0] != b.Layers[0] || a.ID != b.ID {
		t.Errorf("two imports of one folder: layers %v and %v, want one shared", a.Layers, b.Layers)
	}
	if entries, _ := os.ReadDir(s.layersDir()); len(entries) != 1 {
		t.Errorf("layers/ holds %d entries, want 1", len(entries))
	}
	images, err := s.List()
	must(t, err)
	if len(images) != 2 || images[0].Name != "a:latest" || images[1].Name != "b:v1" {
		t.Errorf("List() = %v", images)
	}
	// By ID: both names share it, and either does.
	got, err := s.Get(a.ID[:8])
	if err != nil || got.ID != a.ID {
		t.Errorf("Get(ID prefix) = %v, %v", got, err)
	}
	if _, err := s.Get(a.ID[:3]); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(3-character prefix): %v, want ErrNotFound", err)
	}
	if err := s.Remove(a.ID, nil); err == nil {
		t.Error("Remove(ID) of an ID with two names succeeded")
	}
}

func TestRemove(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	base, err := s.ImportDir(makeRootfs(t), "base")
	must(t, err)
	top, err := s.Commit(makeUpper(t), base, base.Config, "top", containerPaths, Owners{}, History{})
	must(t, err)
	baseLayer, topLayer := s.LayerDirs(top)[0], s.LayerDirs(top)[1]

	if err := s.Remove("nosuch", nil); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("Remove(nosuch): %v, want ErrNotFound naming it", err)
	}
	// top still uses the base layer.
	must(t, s.Remove("base", nil))
	if _, err := s.Get("base"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(base) after Remove: %v", err)
	}
	stat(t, baseLayer)

	// A container still runs on top's own layer.
	inUse := func(id string) bool { return id == top.Layers[1] }
	must(t, s.Remove(top.ID[:12], inUse))
	stat(t, topLayer)
	checkMissing(t, baseLayer)
	if images, err := s.List(); err != nil || len(images) != 0 {
		t.Errorf("List() = %v, %v; want nothing", images, err)
	}
}

func TestConcurrentImports(t *testing.T) {
	needRoot(t)
	s := openStore(t)
	shared := makeRootfs(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 8 {
		dir := shared // half share one layer, which they race to unpack
		if i%2 == 1 {
			dir = t.TempDir()
			writeTestFile(t, filepath.Join(dir, "id"), fmt.Sprint(i), 0o644)
		}
		wg.Go(func() {
			_, errs[i] = s.ImportDir(dir, fmt.Sprintf("img%d", i))
		})
	}
	wg.Wait()
	must(t, errors.Join(errs...))

	data, err := os.ReadFile(filepath.Join(s.root, "images.json"))
	must(t, err)
	var index map[string]*Image
	must(t, json.Unmarshal(data, &index))
	for i := range 8 {
		if img := index[fmt.Sprintf("img%d:latest", i)]; img == nil || len(img.Layers) != 1 {
			t.Errorf("images.json: img%d is %+v", i, img)
		}
	}
	entries, err := os.ReadDir(s.layersDir())
	must(t, err)
	if len(entries) != 5 {
		t.Errorf("layers/ holds %v, want 5 layers (1 shared + 4) and nothing temporary", entries)
	}
	leftovers, _ := filepath.Glob(filepath.Join(s.root, "images.json.tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary index files left: %v", leftovers)
	}
}
