//go:build vmtest

// Exercise 01.3: one jail per lookup. "lesson-01-chroot cat ROOTFS FILE" prints
// FILE as seen from inside ROOTFS, resolved with openat2(RESOLVE_IN_ROOT).
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEx01_3CatStaysInTheRootfs: symbolic links and ".." that point at the
// host must resolve inside the rootfs, as they would after chroot.
func TestEx01_3CatStaysInTheRootfs(t *testing.T) {
	rootfs, hostOnly := newRootfs(t)
	// The rootfs has a file of its own at the host-only file's path.
	const inside = "the rootfs's own copy\n"
	if err := os.MkdirAll(filepath.Join(rootfs, filepath.Dir(hostOnly)), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(rootfs, hostOnly), inside)
	// Two links a hostile image could ship, both aimed at the host's file.
	climb := strings.Repeat("../", 20) + strings.TrimPrefix(hostOnly, "/")
	for name, target := range map[string]string{"absolute": hostOnly, "climb": climb} {
		if err := os.Symlink(target, filepath.Join(rootfs, "etc", name)); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct{ file, want string }{
		{"/etc/marker", "inside the rootfs\n"},
		{"etc/marker", "inside the rootfs\n"},
		{"../../../etc/marker", "inside the rootfs\n"},
		{"/etc/absolute", inside},
		{"/etc/climb", inside},
	}
	for _, tt := range tests {
		out, errOut, status := runLesson(t, "cat", rootfs, tt.file)
		if out == "on the host\n" {
			t.Fatalf("cat ROOTFS %s read the host's %s: want the lookup to stay inside the rootfs", tt.file, hostOnly)
		}
		if status != 0 || out != tt.want {
			t.Fatalf("cat ROOTFS %s: status %d, stdout %q, stderr %q; want %q", tt.file, status, out, errOut, tt.want)
		}
	}
}
