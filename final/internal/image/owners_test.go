package image

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

var userns = Owners{UID: 100000, GID: 200000, Size: 65536}

func owner(t *testing.T, path string) [2]int {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	return [2]int{int(st.Uid), int(st.Gid)}
}

func TestOwners(t *testing.T) {
	if uid, gid := userns.toHost(0, 42); uid != 100000 || gid != 200042 {
		t.Errorf("toHost(0, 42) = %d, %d", uid, gid)
	}
	if uid, gid := userns.toHost(70000, 65535); uid != nobody || gid != 265535 {
		t.Errorf("toHost(70000, 65535) = %d, %d: an ID out of the range is nobody", uid, gid)
	}
	if uid, gid := userns.toContainer(100000, 5); uid != 0 || gid != nobody {
		t.Errorf("toContainer(100000, 5) = %d, %d", uid, gid)
	}
	if uid, gid := (Owners{}).toHost(7, 8); uid != 7 || gid != 8 {
		t.Errorf("no map: toHost(7, 8) = %d, %d", uid, gid)
	}
}

// TestCopyLayer: a copy for a user namespace's range keeps the content,
// whiteouts and opaque folders, with the owners shifted.
func TestCopyLayer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: whiteouts, trusted xattrs, chown")
	}
	src, dst := makeUpper(t), t.TempDir()
	must(t, CopyLayer(src, dst, userns))
	if got := owner(t, filepath.Join(dst, "etc/app.conf")); got != [2]int{100000, 200042} {
		t.Errorf("etc/app.conf owned by %v, want 100000:200042", got)
	}
	if got := owner(t, dst); got != [2]int{100000, 200000} {
		t.Errorf("the layer's root owned by %v, want 100000:200000", got)
	}
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(dst, "bin/tool"), &st))
	if st.Mode&syscall.S_IFMT != syscall.S_IFCHR || st.Rdev != 0 {
		t.Errorf("the whiteout bin/tool is not a 0/0 character device in the copy")
	}
	if v := xattr(filepath.Join(dst, "var/cache"), opaqueXattr); v != "y" {
		t.Errorf("var/cache is not opaque in the copy (%q)", v)
	}
	if got := owner(t, filepath.Join(src, "etc/app.conf")); got != [2]int{0, 42} {
		t.Errorf("the source changed: etc/app.conf owned by %v", got)
	}
}

// TestCommitOwners: a container's upper folder in a user namespace holds
// the host's IDs; the committed layer has the container's.
func TestCommitOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown")
	}
	s := openStore(t)
	upper := makeUpper(t)
	must(t, filepath.Walk(upper, func(path string, info os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(path, 100000, 200000)
		}
		return err
	}))
	img, err := s.Commit(upper, nil, Config{}, "shifted", nil, userns, History{})
	must(t, err)
	layer := s.LayerDirs(img)[0]
	if got := owner(t, filepath.Join(layer, "etc/app.conf")); got != [2]int{0, 0} {
		t.Errorf("committed etc/app.conf owned by %v, want 0:0", got)
	}
}
