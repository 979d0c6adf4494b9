//go:build vmtest

// Exercise 05-3, "The OOM killer picks a process": set memory.oom.group to 1
// in the container's cgroup, so that an OOM kill takes the whole container,
// not just its biggest process. cgroup v2 only: on v1 the test skips.
package main

import (
	"strings"
	"testing"
)

func TestEx05_3OOMKillsTheWholeContainer(t *testing.T) {
	if cgroupVersion() != 2 {
		t.Skip("this host has cgroup v1, which has no memory.oom.group")
	}
	rootfs, _ := newRootfs(t)
	_, pid := startLesson(t, "sleep", "run", "--memory", "32M", rootfs, "sleep", "30")
	if got := cgroupFile(t, cgroupDirs(t, pid), "memory.oom.group", "", ""); got != "1\n" {
		t.Errorf("memory.oom.group of the container's cgroup = %q, want \"1\"", got)
	}
	out, errOut, status := runLesson(t, "run", "--memory", "32M", rootfs, "sh", "-c", `tail /dev/zero; echo "sh is still here"`)
	if status != 137 || strings.Contains(out, "sh is still here") {
		t.Fatalf("tail /dev/zero under a shell: status %d, stdout %q: want 137 and no output, the shell killed along with tail", status, out)
	}
	if !strings.Contains(errOut, "the kernel OOM-killed") {
		t.Fatalf("stderr %q: want the runtime to report OOM kills", errOut)
	}
}
