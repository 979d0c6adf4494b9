//go:build vmtest

package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// frozen reads the container's freezer state from its cgroup.
func frozen(t *testing.T, name string) bool {
	t.Helper()
	for _, dir := range inspect(t, name).Cgroup {
		if data, err := os.ReadFile(filepath.Join(dir, "cgroup.events")); err == nil {
			return strings.Contains(string(data), "frozen 1")
		}
		if data, err := os.ReadFile(filepath.Join(dir, "freezer.state")); err == nil {
			return strings.TrimSpace(string(data)) == "FROZEN"
		}
	}
	t.Fatalf("container %s has no freezer in its cgroups", name)
	return false
}

func logLines(t *testing.T, name string) int {
	return strings.Count(must(t, "logs", name), "\n")
}

// TestPauseUnpause: pause freezes the container's processes in the
// kernel (the freezer), ps says so, unpause thaws them; a paused
// container can still be killed and stopped.
func TestPauseUnpause(t *testing.T) {
	detached(t, "ticker", "busybox", "sh", "-c", "while :; do echo tick; sleep 0.05; done")
	time.Sleep(200 * time.Millisecond)
	must(t, "pause", "ticker")
	if !frozen(t, "ticker") {
		t.Fatal("pause: the cgroup is not frozen")
	}
	if ps := must(t, "ps"); !strings.Contains(ps, "(Paused)") {
		t.Errorf("ps does not show the container paused:\n%s", ps)
	}
	before := logLines(t, "ticker")
	time.Sleep(500 * time.Millisecond)
	if after := logLines(t, "ticker"); after != before {
		t.Errorf("a paused container went on printing: %d lines, then %d", before, after)
	}
	must(t, "unpause", "ticker")
	time.Sleep(500 * time.Millisecond)
	if frozen(t, "ticker") || logLines(t, "ticker") <= before {
		t.Error("unpause: the container is still frozen")
	}
	must(t, "pause", "ticker")
	must(t, "kill", "ticker") // SIGKILL thaws it, so that it can die
	waitStatus := func(want string) {
		t.Helper()
		for try := 0; try < 100 && !strings.Contains(must(t, "ps", "-a"), want); try++ {
			time.Sleep(50 * time.Millisecond)
		}
		if ps := must(t, "ps", "-a"); !strings.Contains(ps, want) {
			t.Errorf("ps -a, want %q:\n%s", want, ps)
		}
	}
	waitStatus("Exited (137)")

	detached(t, "pausedstop", "busybox", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.05; done")
	must(t, "pause", "pausedstop")
	must(t, "stop", "-t", "5", "pausedstop") // thawed first: its trap runs
	waitStatus("Exited (7)")
	for _, args := range [][]string{{"pause", "pausedstop"}, {"unpause", "pausedstop"}, {"pause", "nosuch"}} {
		if r := skiff(t, args...); r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: status %d, %q: want 125 and one line", args, r.status, r.stderr)
		}
	}
}
