//go:build vmtest

// Exercise 04-4, "Find what is not namespaced": make /proc/sys read-only in
// mountProc (a bind mount of it, set read-only with mount_setattr), so that
// the container cannot tune the host's kernel, and keep nosuid, nodev and
// noexec on it.
package main

import (
	"strings"
	"testing"
)

func TestEx04_4ProcSysIsReadOnly(t *testing.T) {
	rootfs, _ := newRootfs(t)
	// It writes back the value it has just read: harmless if the write works.
	_, errOut, status := runLesson(t, "run", rootfs, "sh", "-c",
		"echo $(cat /proc/sys/vm/swappiness) > /proc/sys/vm/swappiness")
	if status == 0 || !strings.Contains(errOut, "Read-only file system") {
		t.Fatalf("writing /proc/sys/vm/swappiness inside: status %d, stderr %q: want it refused with \"Read-only file system\"", status, errOut)
	}
	out, errOut, status := runLesson(t, "run", rootfs, "grep", " /proc/sys ", "/proc/self/mountinfo")
	fields := strings.Fields(out)
	if status != 0 || len(fields) < 6 {
		t.Fatalf("no /proc/sys mount in the container: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	options := "," + fields[5] + ","
	for _, want := range []string{"ro", "nosuid", "nodev", "noexec"} {
		if !strings.Contains(options, ","+want+",") {
			t.Errorf("/proc/sys is mounted %s: want %s among its options", fields[5], want)
		}
	}
	// The rest of /proc is still the container's own, and writable.
	if _, errOut, status := runLesson(t, "run", rootfs, "sh", "-c", "echo renamed > /proc/self/comm"); status != 0 {
		t.Fatalf("writing /proc/self/comm inside: status %d, stderr %q: want the rest of /proc writable", status, errOut)
	}
}
