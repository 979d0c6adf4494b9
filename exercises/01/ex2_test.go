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

// TestEx01_2CommandInheritsHostRoot: one of the command's descriptors is the
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
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	var links []string
	for _, fd := range fds {
		link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if link == "/" {
			return
		}
		links = append(links, fd.Name()+" -> "+link)
	}
	t.Fatalf("the command's descriptors: %v; want one of them to be the host's \"/\", leaked by the runtime", links)
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
