package volume

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"skiff/internal/image"
)

func TestCheckName(t *testing.T) {
	for _, name := range []string{"ab", "data", "my.vol_1-x", NewName()} {
		if err := CheckName(name); err != nil {
			t.Errorf("CheckName(%q): %v", name, err)
		}
	}
	for _, name := range []string{"", "a", "..", "../x", "a/b", ".hidden", "-x", "_x", "a b", "a\nb", ".removing-x", strings.Repeat("a", 256)} {
		if err := CheckName(name); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("CheckName(%q): %v, want a one-line error", name, err)
		}
	}
}

func TestStore(t *testing.T) {
	s := &Store{Root: filepath.Join(t.TempDir(), "volumes")}
	v, created, err := s.Create("data", nil)
	if err != nil || !created || v.Mountpoint != filepath.Join(s.Root, "data", "_data") || v.Driver != "local" {
		t.Fatalf("Create: %+v, %v, %v", v, created, err)
	}
	if _, created, err := s.Create("data", nil); err != nil || created {
		t.Errorf("Create of an existing volume: created %v, %v", created, err)
	}
	anon, _, err := s.Create("", map[string]string{AnonymousLabel: ""})
	if err != nil || !anon.Anonymous() || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(anon.Name) {
		t.Fatalf("an anonymous volume: %+v, %v", anon, err)
	}
	if name, ok := s.NameOf(anon.Mountpoint); !ok || name != anon.Name {
		t.Errorf("NameOf(%s) = %q, %v", anon.Mountpoint, name, ok)
	}
	for _, p := range []string{"/tmp", filepath.Join(s.Root, "data"), filepath.Join(s.Root, "..", "x", "_data")} {
		if name, ok := s.NameOf(p); ok {
			t.Errorf("NameOf(%s) = %q", p, name)
		}
	}
	all, err := s.List()
	if err != nil || len(all) != 2 {
		t.Fatalf("List: %v, %v", all, err)
	}
	inUse := func(mp string) []string { return []string{"c1"} }
	if err := s.Remove("data", inUse); err == nil || !strings.Contains(err.Error(), "volume is in use - [c1]") {
		t.Errorf("Remove of a volume in use: %v", err)
	}
	if err := s.Remove("data", func(string) []string { return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root, "data")); err == nil {
		t.Error("Remove left the folder")
	}
	if _, err := s.Get("data"); err == nil {
		t.Error("Get of a removed volume")
	}
	// What a killed skiff left goes with the next change.
	left := filepath.Join(s.Root, ".removing-old")
	os.MkdirAll(filepath.Join(left, "_data"), 0o755)
	if _, _, err := s.Create("next", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); err == nil {
		t.Error("a half-removed volume was left")
	}
}

// TestPopulateStaysInImage: the image's files at the target are copied
// into a new volume, through the image's root: a target or a file that
// is a symlink out of the image leads inside it.
func TestPopulateStaysInImage(t *testing.T) {
	layer := t.TempDir()
	os.MkdirAll(filepath.Join(layer, "app", "conf"), 0o750)
	os.WriteFile(filepath.Join(layer, "app", "conf", "x.conf"), []byte("image\n"), 0o644)
	os.Symlink("/etc", filepath.Join(layer, "app", "etc"))        // a symlink, copied as one
	os.Symlink("../../../../app", filepath.Join(layer, "target")) // the mount target itself
	img, err := OpenImage([]string{layer})
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	data := t.TempDir()
	if err := Populate(data, img, "/target", image.Owners{UID: 100000, GID: 100000, Size: 65536}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(filepath.Join(data, "conf", "x.conf")); err != nil || string(got) != "image\n" {
		t.Errorf("conf/x.conf: %q, %v", got, err)
	}
	if target, err := os.Readlink(filepath.Join(data, "etc")); err != nil || target != "/etc" {
		t.Errorf("etc: %q, %v; want the symlink as it is", target, err)
	}
	if fi, _ := os.Stat(data); fi.Mode().Perm() != 0o750 {
		t.Errorf("the volume's mode %v, want the image folder's 0750", fi.Mode().Perm())
	}
	if uid, _ := owner(t, filepath.Join(data, "conf", "x.conf")); uid != 100000 {
		t.Errorf("x.conf's owner %d, want the container's root, 100000", uid)
	}
	// Not empty any more: a second Populate changes nothing.
	os.Remove(filepath.Join(data, "conf", "x.conf"))
	if err := Populate(data, img, "/target", image.Owners{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(data, "conf", "x.conf")); err == nil {
		t.Error("a volume with files was populated again")
	}
}

func owner(t *testing.T, path string) (int, int) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return int(st.Uid), int(st.Gid)
}

// TestPopulateLayers: an image of several layers is their overlay, its
// whiteouts applied, mounted detached: nothing shows on the host.
func TestPopulateLayers(t *testing.T) {
	lower, upper := t.TempDir(), t.TempDir()
	for _, dir := range []string{lower, upper} {
		os.Mkdir(filepath.Join(dir, "app"), 0o755)
	}
	os.WriteFile(filepath.Join(lower, "app", "a"), []byte("a"), 0o644)
	os.WriteFile(filepath.Join(lower, "app", "gone"), []byte("deleted above"), 0o644)
	os.WriteFile(filepath.Join(upper, "app", "b"), []byte("b"), 0o644)
	if err := unix.Mknod(filepath.Join(upper, "app", "gone"), unix.S_IFCHR, 0); err != nil { // a whiteout
		t.Fatal(err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	img, err := OpenImage([]string{lower, upper})
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile("/proc/self/mountinfo"); string(now) != string(mounts) {
		t.Error("opening the image changed the host's mounts")
	}
	data := t.TempDir()
	err = Populate(data, img, "/app", image.Owners{})
	img.Close()
	if err != nil {
		t.Fatal(err)
	}
	names, _ := os.ReadDir(data)
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	if strings.Join(got, " ") != "a b" {
		t.Errorf("the volume holds %v, want a and b", got)
	}
}
