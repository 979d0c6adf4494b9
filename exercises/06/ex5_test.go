//go:build vmtest

// Exercise 06.5, a read-only root like docker run --read-only: with
// --read-only the container's root is an overlay without an upper layer,
// nothing can be written to it, and volumes still work.
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEx06_5ReadOnlyRoot(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, errOut, status := runLesson(t, "run", "--read-only", rootfs, "sh", "-c",
		"cat /etc/marker; head -1 /proc/self/mountinfo; echo discarded > /dev/null")
	if status != 0 {
		t.Fatalf("run --read-only: status %d, stderr %q; want the container to run", status, errOut)
	}
	marker, root, _ := strings.Cut(out, "\n")
	if marker != "inside the rootfs" {
		t.Errorf("cat /etc/marker = %q; want the image's file", marker)
	}
	if !strings.Contains(root, " / / ") || !strings.Contains(root, " - overlay overlay ") {
		t.Errorf("the root is not an overlay: %q", root)
	}
	if strings.Contains(root, "upperdir=") {
		t.Errorf("the root overlay has an upper layer: %q; want lower layers only", root)
	}
	_, errOut, status = runLesson(t, "run", "--read-only", rootfs, "touch", "/etc/marker")
	if status == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Errorf("touch /etc/marker: status %d, stderr %q; want it to fail with Read-only file system", status, errOut)
	}
	data := t.TempDir()
	_, errOut, status = runLesson(t, "run", "--read-only", "-v", data+":/tmp", rootfs, "sh", "-c", "echo written > /tmp/file")
	if status != 0 {
		t.Fatalf("a write into a volume of a read-only container: status %d, stderr %q; want it to work", status, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(data, "file")); string(got) != "written\n" {
		t.Errorf("the volume's file = %q, want %q", got, "written\n")
	}
	if entries, err := os.ReadDir("/var/lib/containers-from-scratch"); err == nil {
		t.Errorf("container folders left behind: %v", entries)
	}
}
