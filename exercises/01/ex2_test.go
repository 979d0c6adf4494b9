//go:build vmtest

// Exercise 01.2: a leaked descriptor is a door. The runtime leaks a descriptor
// of the host's "/" into the command; fdescape walks out through it.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEx01_2CommandInheritsHostRoot: descriptor 3 of the command is the
// host's "/", as the kernel shows it in /proc/PID/fd.
func TestEx01_2CommandInheritsHostRoot(t *testing.T) {
	rootfs, _ := newRootfs(t)
	cmd := exec.Command(lesson, "run", rootfs, "sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// lesson 01 has no child process: the runtime itself becomes sleep.
	pid := cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); commOf(pid) != "sleep"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s run ... sleep 30 never became sleep", lesson)
		}
	}
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", pid))
	if err != nil || link != "/" {
		t.Fatalf("descriptor 3 of the command: %q (%v), want the host's \"/\" leaked by the runtime", link, err)
	}
}

// TestEx01_2LeakedDescriptorIsADoor: fdescape, run inside, reads a file that
// exists only on the host.
func TestEx01_2LeakedDescriptorIsADoor(t *testing.T) {
	rootfs, hostOnly := newRootfs(t)
	fdescape, err := exec.LookPath(lesson + "-fdescape")
	if err != nil {
		t.Fatalf("no %s-fdescape program (%v): want the escape program in lesson-01-chroot/fdescape/main.go", lesson, err)
	}
	if out, err := exec.Command("cp", fdescape, filepath.Join(rootfs, "bin", "fdescape")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	out, errOut, status := runLesson(t, "run", rootfs, "/bin/fdescape", "cat", hostOnly)
	if status != 0 || out != "on the host\n" {
		t.Fatalf("fdescape cat %s: status %d, stdout %q, stderr %q; want %q, read through the leaked descriptor",
			hostOnly, status, out, errOut, "on the host\n")
	}
}

func commOf(pid int) string {
	c, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return strings.TrimSpace(string(c))
}
