//go:build vmtest

package test

import (
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStats: Docker's columns, read from the cgroup and the network
// namespace: a busy loop uses about one CPU, the memory limit is the
// cgroup's, traffic on the container's link counts; without a name,
// every running container; and without --no-stream, a new table every
// second until interrupted.
func TestStats(t *testing.T) {
	detached(t, "busy", "-m", "64m", "busybox", "sh", "-c", "while :; do :; done")
	detached(t, "idle", "busybox", "sleep", "300")
	// A connection refused by idle: a SYN out of busy, a reset back in.
	must(t, "exec", "busy", "sh", "-c", "wget -q -T 2 -O /dev/null http://"+addressOf(t, "idle").IP+":1/ 2>/dev/null; true")
	out := must(t, "stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.PIDs}} {{.NetIO}} {{.BlockIO}}", "busy")
	f := strings.Fields(out)
	if len(f) < 12 || f[0] != "busy" {
		t.Fatalf("stats busy: %q", out)
	}
	cpu, err := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
	if err != nil || cpu < 30 || cpu > 130 {
		t.Errorf("CPU %% of a busy loop: %s, want about 100%% (one CPU)", f[1])
	}
	if f[5] != "64.0" || f[6] != "MiB" || f[8] != "1" {
		t.Errorf("memory limit or PIDs: %q, want / 64.0 MiB and 1 process (sh's loop is its own)", out)
	}
	if io := strings.Join(f[9:], " "); !regexp.MustCompile(`^[1-9][0-9.]* K?i?B / [1-9][0-9.]* K?i?B [0-9.]+ [KM]?i?B / [0-9.]+ [KM]?i?B$`).MatchString(io) {
		t.Errorf("NET I/O and BLOCK I/O: %q, want traffic both ways", io)
	}
	all := must(t, "stats", "--no-stream", "--format", "{{.Name}}")
	for _, name := range []string{"busy", "idle"} {
		if !regexp.MustCompile(`(?m)^` + name + `$`).MatchString(all) {
			t.Errorf("stats without a name lists\n%s\nwithout %s", all, name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	stream, _ := exec.CommandContext(ctx, "skiff", append(append([]string{}, roots...), "stats", "idle")...).Output()
	if n := strings.Count(string(stream), "CONTAINER ID"); n < 2 {
		t.Errorf("stats for 3.5 s printed %d tables, want one a second:\n%s", n, stream)
	}
}
