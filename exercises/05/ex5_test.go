//go:build vmtest

// Exercise 05-5, "A cgroup namespace": the container sees its own cgroup as
// the root ("0::/" in /proc/self/cgroup) and its limits in a read-only
// cgroup2 mount at /sys/fs/cgroup. cgroup v2 only: on v1 the test skips.
package main

import (
	"strconv"
	"strings"
	"testing"
)

func TestEx05_5CgroupNamespace(t *testing.T) {
	if cgroupVersion() != 2 {
		t.Skip("this host has cgroup v1: the exercise mounts the cgroup v2 tree")
	}
	rootfs, _ := newRootfs(t)
	out, errOut, status := runLesson(t, "run", "--memory", "64M", rootfs, "cat", "/proc/self/cgroup")
	if status != 0 || out != "0::/\n" {
		t.Fatalf("cat /proc/self/cgroup inside: status %d, stdout %q, stderr %q: want \"0::/\", the container's own group as the root", status, out, errOut)
	}
	out, errOut, status = runLesson(t, "run", "--memory", "64M", rootfs, "cat", "/sys/fs/cgroup/memory.max")
	if status != 0 || out != "67108864\n" {
		t.Fatalf("cat /sys/fs/cgroup/memory.max inside: status %d, stdout %q, stderr %q: want the container's --memory 64M, 67108864", status, out, errOut)
	}
	out, _, _ = runLesson(t, "run", rootfs, "grep", " /sys/fs/cgroup ", "/proc/self/mountinfo")
	fields := strings.Fields(out)
	if len(fields) < 8 || !strings.Contains(","+fields[5]+",", ",ro,") || !strings.Contains(out, " - cgroup2 ") {
		t.Fatalf("/sys/fs/cgroup in the container's mountinfo: %q, want a read-only cgroup2 mount", out)
	}
	_, pid := startLesson(t, "sleep", "run", rootfs, "sleep", "30")
	if nsLink(t, strconv.Itoa(pid), "cgroup") == nsLink(t, "self", "cgroup") {
		t.Fatal("the container's cgroup namespace is the host's: want a new one")
	}
}
