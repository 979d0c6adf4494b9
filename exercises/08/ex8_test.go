//go:build vmtest

// Exercise 08.8: skiff-init, which starts in every container, no longer
// links package regexp (rootfs's /proc/PID/root parser did, and compiled
// its pattern at every start).
package test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

func TestEx08_8InitLinksNoRegexp(t *testing.T) {
	path, err := exec.LookPath("skiff-init")
	if err != nil {
		t.Fatal(err)
	}
	binary, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Function names stay in a Go binary's pclntab, even a stripped one.
	for _, name := range []string{"regexp.MustCompile", "regexp/syntax.Compile"} {
		if bytes.Contains(binary, []byte(name)) {
			t.Fatalf("%s contains %s: skiff-init still links package regexp; want no regexp in it (go list -deps ./cmd/skiff-init shows who imports it)", path, name)
		}
	}
	// And what the parser is for still works: a container that joins
	// another's IPC namespace gets its /dev/shm, through /proc/PID/root.
	detached(t, "shm8", "busybox", "sh", "-c", "echo shared > /dev/shm/x; sleep 100")
	for try := 0; ; try++ {
		r := skiff(t, "run", "--rm", "--ipc", "container:shm8", "busybox", "cat", "/dev/shm/x")
		if r.status == 0 && r.stdout == "shared\n" {
			break
		}
		if try == 20 {
			t.Fatalf("--ipc container:shm8 does not see its /dev/shm: status %d, %q %q; want \"shared\"", r.status, r.stdout, r.stderr)
		}
	}
}
