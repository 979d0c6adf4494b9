package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"skiff/internal/nsenter"
)

// TestDetachedOverlay: with a user namespace that maps 0 to 100000, the
// overlay shows a layer's file of the host's root as 100000's, and the
// layer on disk does not change. Where the filesystem of the temporary
// folder takes no idmapped mounts (tmpfs before Linux 6.3), it says so.
func TestDetachedOverlay(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	lower, upper, work := filepath.Join(dir, "lower"), filepath.Join(dir, "upper"), filepath.Join(dir, "work")
	for _, d := range []string{lower, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(lower, "file"), []byte("layer"), 0o644)
	os.Chown(upper, 100000, 100000)
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}
	userns, err := nsenter.NewUserNamespace(maps, maps)
	if err != nil {
		t.Fatal(err)
	}
	defer userns.Close()
	if !CanIDMap(lower, userns) {
		t.Skipf("the filesystem of %s takes no idmapped mounts", dir)
	}
	m := specs.Mount{Type: "overlay", Source: "overlay", Options: []string{"nodev",
		"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work}}
	root, err := DetachedOverlay(m, userns)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(int(root.Fd()), "file", &st, 0); err != nil || st.Uid != 100000 {
		t.Errorf("the layer's file in the overlay: owner %d (%v), want 100000", st.Uid, err)
	}
	if err := unix.Fstatat(int(root.Fd()), "", &st, unix.AT_EMPTY_PATH); err != nil || st.Uid != 100000 {
		t.Errorf("the overlay's root: owner %d (%v), want the upper folder's, 100000", st.Uid, err)
	}
	if err := unix.Stat(filepath.Join(lower, "file"), &st); err != nil || st.Uid != 0 {
		t.Errorf("the layer's file on disk: owner %d (%v), want 0", st.Uid, err)
	}
	if mounts, _ := os.ReadFile("/proc/self/mountinfo"); len(mounts) > 0 && containsPath(string(mounts), lower) {
		t.Errorf("the idmapped layer is mounted in this mount namespace")
	}
}

func containsPath(mountinfo, path string) bool {
	for _, line := range strings.Split(mountinfo, "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
