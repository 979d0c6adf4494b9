//go:build vmtest

package test

import (
	"fmt"
	"strings"
	"testing"
)

// TestWaitPortTop: wait prints the exit code once the container stops;
// port lists the published ports; top lists the processes of the
// container's cgroup, with host PIDs.
func TestWaitPortTop(t *testing.T) {
	must(t, "run", "-d", "--name", "waited", "busybox", "sh", "-c", "sleep 0.3; exit 4")
	t.Cleanup(func() { skiff(t, "rm", "-f", "waited") })
	if out := must(t, "wait", "waited"); out != "4\n" {
		t.Errorf("wait: %q, want 4", out)
	}
	detached(t, "ported", "-p", "8095:80", "busybox", "sh", "-c", "sleep 100 & exec sleep 101")
	if out := must(t, "port", "ported"); out != "80/tcp -> 0.0.0.0:8095\n" {
		t.Errorf("port: %q", out)
	}
	if out := must(t, "port", "ported", "80/tcp"); out != "0.0.0.0:8095\n" {
		t.Errorf("port 80/tcp: %q", out)
	}
	if r := skiff(t, "port", "ported", "81"); r.status != 125 || !strings.Contains(r.stderr, "no public port 81/tcp") {
		t.Errorf("port 81: status %d, %q", r.status, r.stderr)
	}
	top := must(t, "top", "ported")
	if !strings.Contains(top, fmt.Sprintf("%d ", pidOf(t, "ported"))) || !strings.Contains(top, "sleep 100") || !strings.Contains(top, "sleep 101") {
		t.Errorf("top lacks the container's processes:\n%s", top)
	}
}

// TestEntrypoint: --entrypoint replaces the image's entrypoint and its
// default arguments, as in Docker; an empty one leaves the command alone.
func TestEntrypoint(t *testing.T) {
	if out := must(t, "run", "--rm", "--network", "none", "--entrypoint", "echo", "busybox", "hi", "there"); out != "hi there\n" {
		t.Errorf("--entrypoint echo: %q", out)
	}
	if out := must(t, "run", "--rm", "--network", "none", "--entrypoint", "", "busybox", "echo", "plain"); out != "plain\n" {
		t.Errorf("--entrypoint '': %q", out)
	}
	if out := must(t, "run", "--rm", "--network", "none", "--entrypoint", "/bin/hostname", "-h", "ep", "busybox"); out != "ep\n" {
		t.Errorf("--entrypoint without a command: %q", out)
	}
}

// TestVersionAndInfo: version says what skiff is; info counts what it
// manages.
func TestVersionAndInfo(t *testing.T) {
	if out := must(t, "version"); !strings.Contains(out, "Version:") || !strings.Contains(out, "OCI runtime spec:") {
		t.Errorf("version:\n%s", out)
	}
	detached(t, "counted", "busybox", "sleep", "100")
	info := must(t, "info")
	for _, want := range []string{"Containers: ", "Running: ", "Images: ", "Cgroup Version: ", "Kernel Version: "} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
	if strings.Contains(info, " Running: 0\n") {
		t.Errorf("info counts no running container:\n%s", info)
	}
}
