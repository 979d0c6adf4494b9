//go:build vmtest

package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput: malformed flags, names, images, ports and sizes each get
// one clear line, Docker's status 125, and leave nothing behind.
func TestBadInput(t *testing.T) {
	before := hostMounts(t)
	detached(t, "taken", "busybox", "sleep", "100")
	must(t, "run", "--name", "stopped", "busybox", "true")
	defer skiff(t, "rm", "stopped")
	notTar := filepath.Join(t.TempDir(), "not.tar")
	os.WriteFile(notTar, []byte("this is not a tar"), 0o644)
	cases := [][]string{
		{"run"},
		{"run", "--bogus", "busybox"},
		{"run", "no-such-image"},
		{"run", "UPPERCASE"},
		{"run", "busybox:bad tag"},
		{"run", "-m", "lots", "busybox", "true"},
		{"run", "-m", "1k", "busybox", "true"},
		{"run", "--cpus", "-1", "busybox", "true"},
		{"run", "--cpus", "1000", "busybox", "true"},
		{"run", "--cpus", "0.001", "busybox", "true"},
		{"run", "--pids-limit", "3", "busybox", "true"},
		{"run", "--pids-limit", "-1", "busybox", "true"},
		{"run", "-p", "80/sctp", "busybox", "true"},
		{"run", "-p", "0:80", "busybox", "true"},
		{"run", "-p", "99999:80", "busybox", "true"},
		{"run", "-p", "a:b", "busybox", "true"},
		{"run", "-p", "8000-8002:80-81", "busybox", "true"},
		{"run", "--network", "none", "-p", "80:80", "busybox", "true"},
		{"run", "--network", "no-such-network", "busybox", "true"},
		{"run", "--network", "container:no-such", "busybox", "true"},
		{"run", "--network", "container:stopped", "busybox", "true"},
		{"run", "--ipc", "nosuchmode", "busybox", "true"},
		{"run", "--pid", "container:", "busybox", "true"},
		{"run", "-v", "../relative:/x", "busybox", "true"},
		{"run", "-v", "/no/such/dir:/x", "busybox", "true"},
		{"run", "-v", "/tmp:/x:rx", "busybox", "true"},
		{"run", "-v", "/tmp:/", "busybox", "true"},
		{"run", "-v", "/tmp:/proc", "busybox", "true"},
		{"run", "-v", "/tmp:/proc/sys", "busybox", "true"},
		{"run", "-p", "18080:80", "-p", "18080:81", "busybox", "true"},
		{"run", "../../etc", "true"},
		{"run", "./no-such-folder", "true"},
		{"run", "-u", "no-such-user", "busybox", "true"},
		{"run", "-u", "1:x", "busybox", "true"},
		{"run", "-w", "relative", "busybox", "true"},
		{"run", "--hostname", "bad name", "busybox", "true"},
		{"run", "--hostname", "web-", "busybox", "true"},
		{"run", "--hostname", strings.Repeat("h", 65), "busybox", "true"},
		{"run", "--name", "bad/name", "busybox", "true"},
		{"run", "--name", "taken", "busybox", "true"},
		{"run", "-e", "=x", "busybox", "true"},
		{"exec"},
		{"exec", "no-such-container", "sh"},
		{"exec", "stopped", "sh"},
		{"stop", "no-such-container"},
		{"stop", "-t", "-1", "taken"},
		{"kill", "-s", "BOGUS", "taken"},
		{"kill", "stopped"},
		{"rm", "taken"},
		{"rm", "no-such-container"},
		{"logs", "stopped"},
		{"network", "create", "bad name"},
		{"network", "create", "--subnet", "bogus", "n1"},
		{"network", "create", "--subnet", "10.77.0.0/24", "overlapping"},
		{"network", "rm", "no-such-network"},
		{"import", "/no/such.tar", "x"},
		{"import", notTar, "x"},
		{"import", os.Getenv("ROOTFS"), "Bad Name"},
		{"rmi", "no-such-image"},
		{"commit", "no-such-container", "x"},
		{"pull", "not a reference!"},
		{"no-such-command"},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, args := range cases {
		r := skiff(t, args...)
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if r.status != 125 || len(lines) != 1 || !strings.HasPrefix(lines[0], "skiff: ") ||
			strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
			t.Errorf("skiff %s: status %d, stderr %q: want 125 and one line", strings.Join(args, " "), r.status, r.stderr)
		}
	}
	must(t, "rm", "-f", "taken")
	must(t, "rm", "stopped")
	assertNothingLeft(t, before)
}
