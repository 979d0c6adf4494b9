//go:build vmtest

// Exercise 04-2, "Do it like runc: rslave": make the container's mounts
// slaves of the host's instead of private. A mount the host makes under a
// volume after the container has started must appear inside, tagged
// master:N, and a mount made inside must still never reach the host.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEx04_2HostMountsReachTheContainer(t *testing.T) {
	rootfs, _ := newRootfs(t)
	data := t.TempDir()
	sub := filepath.Join(data, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	before := hostMounts(t)
	_, pid := startLesson(t, "sleep", "run", "-v", data+":/data", rootfs,
		"sh", "-c", "mount -t tmpfs inside /mnt && exec sleep 30")
	assertMountsUnchanged(t, before) // the tmpfs at /mnt stayed inside

	// Now the host mounts something under the volume's folder.
	if err := unix.Mount("fromhost", sub, "tmpfs", 0, ""); err != nil {
		t.Fatalf("mount -t tmpfs fromhost %s: %v", sub, err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })

	mountinfo, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mountinfo), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 6 && fields[4] == "/data/sub" {
			if !strings.Contains(line, " master:") || strings.Contains(line, " shared:") {
				t.Fatalf("/data/sub in the container: %q, want a master:N tag and no shared:N", line)
			}
			return
		}
	}
	t.Fatalf("the host mounted a tmpfs at %s after the container started, but the container has no /data/sub: "+
		"its mounts are private, want them slaves of the host's (MS_SLAVE). Its mountinfo:\n%s", sub, mountinfo)
}
