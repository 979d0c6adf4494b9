//go:build vmtest

// Exercise 09.5, update: give skiff-runtime update runc's single flags,
// --memory BYTES and --pids-limit N, beside --resources JSON; then watch a
// process that allocates more than the new memory limit be OOM-killed.
package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestEx09_5UpdateFlags(t *testing.T) {
	r := newOCIRuntime(t)
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sleep", "1000"} })
	cgroup := "/skiff-runtime-test/" + filepath.Base(dir) // bundle's linux.cgroupsPath
	r.must("create", "--bundle", dir, "ex5")
	t.Cleanup(func() { r.run("delete", "--force", "ex5") })
	r.must("start", "ex5")
	memoryMax, pidsMax := "memory.max", "pids.max"
	if !isCgroup2() {
		memoryMax = "memory.limit_in_bytes"
	}

	res := r.run("update", "--memory", "33554432", "--pids-limit", "20", "ex5")
	if res.status != 0 {
		t.Fatalf("skiff-runtime update --memory 33554432 --pids-limit 20 ex5: status %d, %s: want runc's flags to set the limits", res.status, strings.TrimSpace(res.stderr))
	}
	if got := cgroupFile(t, cgroup, "memory", memoryMax); got != "33554432" {
		t.Errorf("%s is %s after update --memory 33554432, want 33554432", memoryMax, got)
	}
	if got := cgroupFile(t, cgroup, "pids", pidsMax); got != "20" {
		t.Errorf("%s is %s after update --pids-limit 20, want 20", pidsMax, got)
	}

	// The JSON containerd's shim sends still works, and changes only what it names.
	resources := filepath.Join(t.TempDir(), "resources.json")
	if err := os.WriteFile(resources, []byte(`{"memory": {"limit": 67108864}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r.must("update", "--resources", resources, "ex5")
	if got := cgroupFile(t, cgroup, "memory", memoryMax); got != "67108864" {
		t.Errorf("%s is %s after update --resources with a limit of 67108864, want 67108864", memoryMax, got)
	}
	if got := cgroupFile(t, cgroup, "pids", pidsMax); got != "20" {
		t.Errorf("%s is %s after an update that named only memory, want 20, as --pids-limit left it", pidsMax, got)
	}

	// 40 MB in a container limited to 32 MB: the cgroup's OOM killer.
	r.must("update", "--memory", "33554432", "ex5")
	res = r.run("exec", "ex5", "dd", "if=/dev/zero", "of=/dev/null", "bs=40M", "count=1")
	if res.status != 137 {
		t.Errorf("dd with a 40 MB buffer in a 32 MB container: status %d, want 137 (SIGKILL from the OOM killer)", res.status)
	}
	if kills := ex5OOMKills(t, cgroup); kills < 1 {
		t.Errorf("the cgroup counts %d OOM kills after dd, want at least 1", kills)
	}
}

// ex5OOMKills reads oom_kill from memory.events (v2) or memory.oom_control (v1).
func ex5OOMKills(t *testing.T, cgroup string) int {
	file := "memory.events"
	if !isCgroup2() {
		file = "memory.oom_control"
	}
	for _, line := range strings.Split(cgroupFile(t, cgroup, "memory", file), "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			kills, _ := strconv.Atoi(n)
			return kills
		}
	}
	return 0
}
