//go:build vmtest

package test

import (
	"strings"
	"testing"
	"time"
)

// TestLogsTail: logs --tail N prints the last N lines of a detached
// container's output, and -n 0 none; a bad count is one line and 125.
func TestLogsTail(t *testing.T) {
	detached(t, "tailed", "--network", "none", "busybox", "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; done; sleep 100")
	waitFor(t, "five lines in the log", func() bool { return strings.Count(must(t, "logs", "tailed"), "\n") == 5 })
	if out := must(t, "logs", "--tail", "2", "tailed"); out != "line 4\nline 5\n" {
		t.Errorf("logs --tail 2: %q", out)
	}
	if out := must(t, "logs", "-n", "0", "tailed"); out != "" {
		t.Errorf("logs -n 0: %q", out)
	}
	if out := must(t, "logs", "--tail", "all", "tailed"); strings.Count(out, "\n") != 5 {
		t.Errorf("logs --tail all: %q", out)
	}
	if r := skiff(t, "logs", "--tail", "-3", "tailed"); r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("logs --tail -3: status %d, %q: want 125 and one line", r.status, r.stderr)
	}
}

// TestLogsTimestamps: logs -t stamps each line with when it was written,
// as the monitor saw the log grow; --since keeps the lines written since
// a time, given as a duration back or as an RFC 3339 time.
func TestLogsTimestamps(t *testing.T) {
	detached(t, "stamped", "--network", "none", "busybox", "sh", "-c", "echo one; sleep 3; echo two; sleep 100")
	waitFor(t, "two lines in the log", func() bool { return strings.Count(must(t, "logs", "stamped"), "\n") == 2 })
	out := must(t, "logs", "-t", "stamped")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var at []time.Time
	for i, want := range []string{"one", "two"} {
		stamp, text, _ := strings.Cut(lines[min(i, len(lines)-1)], " ")
		ts, err := time.Parse(time.RFC3339Nano, stamp)
		if len(lines) != 2 || err != nil || text != want || time.Since(ts) > time.Minute {
			t.Fatalf("logs -t:\n%s", out)
		}
		at = append(at, ts)
	}
	if gap := at[1].Sub(at[0]); gap < 2*time.Second || gap > 10*time.Second {
		t.Errorf("the lines were written 3 s apart, the stamps say %v", gap)
	}
	between := at[0].Add(at[1].Sub(at[0]) / 2).Format(time.RFC3339Nano)
	if out := must(t, "logs", "--since", between, "stamped"); out != "two\n" {
		t.Errorf("logs --since %s: %q", between, out)
	}
	if out := must(t, "logs", "--since", "1h", "stamped"); out != "one\ntwo\n" {
		t.Errorf("logs --since 1h: %q", out)
	}
	if out := must(t, "logs", "-t", "--tail", "1", "stamped"); !strings.HasSuffix(out, " two\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("logs -t --tail 1: %q", out)
	}
	if r := skiff(t, "logs", "--since", "yesterday", "stamped"); r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("logs --since yesterday: status %d, %q: want 125 and one line", r.status, r.stderr)
	}
}
