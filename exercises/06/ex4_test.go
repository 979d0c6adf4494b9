//go:build vmtest

// Exercise 06.4, an init layer: with --init-layer, the container gets its own
// /etc/hostname and /etc/hosts, bind-mounted over empty mount points in a
// layer of their own, and its writable layer stays empty.
package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEx06_4InitLayer(t *testing.T) {
	rootfs, _ := newRootfs(t)
	_, errOut, status := runLesson(t, "run", "--init-layer", rootfs, "true")
	if status != 0 {
		t.Fatalf("run --init-layer: status %d, stderr %q; want a flag --init-layer that runs the container", status, errOut)
	}
	upper := runKeep(t, "--init-layer", "--hostname", "box1", rootfs, "sh", "-c",
		"cat /etc/hostname; cat /etc/hosts; cat /proc/self/mountinfo > /tmp/mountinfo")
	out := readFile(t, filepath.Join(upper, "tmp", "mountinfo"))
	for _, path := range []string{"/etc/hostname", "/etc/hosts"} {
		if !strings.Contains(out, " "+path+" ") {
			t.Errorf("%s is not a mount point in the container; want a bind mount of the container's own file:\n%s", path, out)
		}
	}
	// The container's layer holds what the container wrote (tmp/mountinfo),
	// and no mount point of the init files.
	for _, name := range []string{"etc/hostname", "etc/hosts"} {
		if _, err := os.Lstat(filepath.Join(upper, name)); err == nil {
			t.Errorf("%s is in the container's writable layer; want it in the init layer only", name)
		}
	}
	stdout, errOut, status := runLesson(t, "run", "--init-layer", "--hostname", "box1", rootfs, "cat", "/etc/hostname", "/etc/hosts")
	if status != 0 || !strings.HasPrefix(stdout, "box1\n") {
		t.Fatalf("cat /etc/hostname: status %d, stdout %q, stderr %q; want box1", status, stdout, errOut)
	}
	if !strings.Contains(stdout, "127.0.0.1\tlocalhost\n") || !strings.Contains(stdout, "\tbox1\n") {
		t.Errorf("/etc/hosts = %q; want lines for localhost and for box1", strings.TrimPrefix(stdout, "box1\n"))
	}
	if _, err := os.Stat(filepath.Join(rootfs, "etc", "hostname")); err == nil {
		t.Error("the image's rootfs got an etc/hostname; want the image untouched")
	}
}
