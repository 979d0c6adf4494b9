//go:build vmtest

package test

import (
	"strings"
	"testing"
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
