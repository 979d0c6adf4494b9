//go:build vmtest

// Exercise 04-3, "pivot_root without .oldroot": rewrite pivotRoot with
// pivot_root(".", "."), so that it creates nothing in the rootfs. Then a
// rootfs on a read-only mount works, and the old root is still gone.
package main

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestEx04_3ReadOnlyRootfs(t *testing.T) {
	rootfs, _ := newRootfs(t)
	before, err := os.ReadDir(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	// Make the rootfs a read-only mount of its own, as an image may be.
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("mount --bind %s: %v", rootfs, err)
	}
	t.Cleanup(func() { unix.Unmount(rootfs, unix.MNT_DETACH) })
	if err := unix.Mount("", rootfs, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("mount -o remount,bind,ro %s: %v", rootfs, err)
	}

	out, errOut, status := runLesson(t, "run", rootfs, "cat", "/proc/self/mountinfo")
	if status != 0 {
		t.Fatalf("run with a read-only rootfs: status %d, stderr %q: want it to start (pivotRoot must create nothing in the rootfs)", status, errOut)
	}
	var points []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		points = append(points, strings.Fields(line)[4])
	}
	if got, want := strings.Join(points, " "), "/ /proc /sys /dev /dev/pts /dev/shm"; got != want {
		t.Fatalf("the container's mount points are %q, want %q: the old root must be gone\n%s", got, want, out)
	}
	if strings.Contains(out, ".oldroot") {
		t.Fatalf("the container's mounts mention .oldroot:\n%s", out)
	}
	after, _ := os.ReadDir(rootfs)
	if len(after) != len(before) {
		t.Fatalf("the rootfs had %d entries before the run and %d after: want nothing created", len(before), len(after))
	}
}
