package inroot

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fixture is a container's root that attacks the host: symlinks to /,
// to ../../.. and to /etc, which must all lead inside it.
func fixture(t *testing.T) (string, *os.File) {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"etc", "data", "tmp"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "etc", "hostname"), []byte("inside\n"), 0o644)
	for link, target := range map[string]string{"root": "/", "up": "../../../../../..", "x": "/etc", "upetc": "../../../../etc"} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	root, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return dir, root
}

func TestOpenStaysInRoot(t *testing.T) {
	dir, root := fixture(t)
	for _, p := range []string{"/x/hostname", "x/hostname", "/root/etc/hostname", "/up/etc/hostname", "/upetc/hostname",
		"/../../etc/hostname", "/root/root/up/x/hostname"} {
		f, err := Open(root, p, unix.O_RDONLY)
		if err != nil {
			t.Errorf("open %s: %v", p, err)
			continue
		}
		data, _ := os.ReadFile(procPath(f))
		f.Close()
		if string(data) != "inside\n" {
			t.Errorf("open %s read %q, want the fixture's inside\\n (%s)", p, data, dir)
		}
	}
	if _, err := Open(root, "/proc/self/root/etc/hostname", unix.O_RDONLY); err == nil {
		t.Error("a path through /proc opened")
	}
}

func TestFollowLinks(t *testing.T) {
	_, root := fixture(t)
	for p, want := range map[string]string{"/x": "/etc", "/up": "/", "/upetc": "/etc", "/etc/hostname": "/etc/hostname"} {
		got, err := FollowLinks(root, p)
		if err != nil || got != want {
			t.Errorf("FollowLinks(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
}

// hostile is a tar that plants a symlink to / and writes through it,
// climbs with .., hard-links to the host's file, and carries a device
// node and a setuid file.
func hostile(t *testing.T, escape bool) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(h *tar.Header, body string) {
		h.Size = int64(len(body))
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "a", Linkname: "/"}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "a/pwned"}, "through a")
	add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "b", Linkname: "../../../../../../tmp"}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "b/pwned-b"}, "through b")
	add(&tar.Header{Typeflag: tar.TypeChar, Name: "kmsg", Devmajor: 1, Devminor: 11}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "suid", Mode: 0o4755}, "#!/bin/sh")
	add(&tar.Header{Typeflag: tar.TypeLink, Name: "hard", Linkname: "a/etc/hostname"}, "")
	if escape {
		add(&tar.Header{Typeflag: tar.TypeReg, Name: "../escape"}, "out")
	}
	tw.Close()
	return buf.Bytes()
}

func TestUntarStaysInRoot(t *testing.T) {
	dir, root := fixture(t)
	var skipped []string
	opts := UntarOptions{NoSetID: true, Skipped: func(name, why string) { skipped = append(skipped, name) }}
	if err := Untar(bytes.NewReader(hostile(t, false)), root, opts); err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{"pwned": "through a", "tmp/pwned-b": "through b", "hard": "inside\n"} {
		if data, err := os.ReadFile(filepath.Join(dir, file)); err != nil || string(data) != want {
			t.Errorf("%s: %q, %v; want %q", file, data, err, want)
		}
	}
	if _, err := os.Stat("/pwned"); err == nil {
		t.Error("the tar wrote the host's /pwned")
	}
	if _, err := os.Lstat(filepath.Join(dir, "kmsg")); err == nil || len(skipped) != 1 {
		t.Errorf("the device node was made (skipped: %v)", skipped)
	}
	if fi, err := os.Stat(filepath.Join(dir, "suid")); err != nil || fi.Mode()&os.ModeSetuid != 0 {
		t.Errorf("suid: %v, %v: want the setuid bit dropped", fi.Mode(), err)
	}
	err := Untar(bytes.NewReader(hostile(t, true)), root, UntarOptions{})
	if err == nil || !strings.Contains(err.Error(), "outside") {
		t.Errorf("a tar entry ../escape: %v, want it refused", err)
	}
	// Unpacked into a folder, a symlink to / is that folder: nothing
	// goes above it, as when a container's tar is unpacked on the host.
	data, err := Open(root, "/data", unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "up", Linkname: "../../.."})
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "up/above", Mode: 0o644})
	tw.Close()
	if err := Untar(&buf, data, UntarOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "above")); err != nil {
		t.Errorf("up/above did not land in the folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "above")); err == nil {
		t.Error("up/above landed above the folder")
	}
}

func TestCopyIntoSymlinkedFolder(t *testing.T) {
	dir, root := fixture(t)
	host, err := os.Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	src := filepath.Join(t.TempDir(), "file")
	os.WriteFile(src, []byte("from the host"), 0o644)
	// cp file c:/x/ where /x -> /etc: into the container's /etc.
	if err := Copy(Side{Root: host}, src, Side{Root: root}, "/x/", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "etc", "file")); err != nil || string(data) != "from the host" {
		t.Errorf("etc/file: %q, %v", data, err)
	}
	// cp c:/x/hostname out: the container's file.
	out := filepath.Join(t.TempDir(), "out")
	if err := Copy(Side{Root: root}, "/up/x/hostname", Side{Root: host}, out, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(out); string(data) != "inside\n" {
		t.Errorf("copied out %q, want the container's hostname", data)
	}
	// A folder onto a missing path, and its content only with "/.".
	if err := Copy(Side{Root: root}, "/etc", Side{Root: host}, out+"dir", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out + "dir/hostname"); err != nil {
		t.Error(err)
	}
	if err := Copy(Side{Root: root}, "/etc/.", Side{Root: host}, out+"dir", CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out + "dir/etc"); err == nil {
		t.Error("src/. copied the folder, not its content")
	}
	if err := Copy(Side{Root: root}, "/etc", Side{Root: host}, out, CopyOptions{}); err == nil {
		t.Error("a folder copied onto a file")
	}
	if err := Copy(Side{Root: host}, src, Side{Root: root}, "/nowhere/", CopyOptions{}); err == nil {
		t.Error("a file copied into a missing folder/")
	}
}
