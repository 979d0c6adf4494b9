//go:build vmtest

package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// TestRunLimitsMountsDevices: --ulimit, --tmpfs, --env-file, --device
// (the node, and the access its cgroup allows), --pid host, --ipc host.
func TestRunLimitsMountsDevices(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("# a comment\nA=1\nB=two words\n\n"), 0o644)
	node := filepath.Join(dir, "tun")
	if err := unix.Mknod(node, unix.S_IFCHR|0o666, int(unix.Mkdev(10, 200))); err != nil {
		t.Fatal(err)
	}
	out := must(t, "run", "--rm", "--network", "none", "--ulimit", "nofile=100:200", "--tmpfs", "/scratch",
		"--env-file", envFile, "--device", node+":/dev/t:r", "busybox", "sh", "-c",
		`ulimit -n; ulimit -Hn; grep " /scratch " /proc/self/mountinfo | cut -d" " -f5,6; echo "$A/$B"; `+
			`cat /dev/t 2>&1 | grep -c "not permitted"; : 2>&1 > /dev/t | grep -c "not permitted"`)
	want := "100\n200\n/scratch rw,nosuid,nodev,noexec,relatime\n1/two words\n0\n1\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if out := must(t, "run", "--rm", "--network", "none", "--pid", "host", "busybox", "sh", "-c", "test $$ != 1 && echo not-pid-1"); out != "not-pid-1\n" {
		t.Errorf("--pid host: %q", out)
	}
	hostIPC, _ := os.Readlink("/proc/self/ns/ipc")
	if out := must(t, "run", "--rm", "--network", "none", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc"); out != hostIPC+"\n" {
		t.Errorf("--ipc host: %q, want %s", out, hostIPC)
	}
	for _, bad := range [][]string{{"--ulimit", "nofile"}, {"--ulimit", "bogus=1"}, {"--ulimit", "nofile=2:1"},
		{"--device", "/dev/nonexistent"}, {"--device", "/etc/passwd"}, {"--device", node + ":/dev/t:rx"},
		{"--env-file", "/no/such/file"}, {"--pid", "other"}} {
		if r := skiff(t, append(append([]string{"run", "--rm"}, bad...), "busybox", "true")...); r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: status %d, %q", bad, r.status, r.stderr)
		}
	}
}

// TestExecDetachAndUpdate: exec -d returns at once and the command runs
// on; update changes the limits in the running container's cgroup, in
// its configuration and in its spec.
func TestExecDetachAndUpdate(t *testing.T) {
	detached(t, "upd", "-m", "64m", "busybox", "sleep", "100")
	must(t, "exec", "-d", "upd", "sh", "-c", "sleep 3; touch /done")
	if r := skiff(t, "exec", "upd", "test", "-e", "/done"); r.status == 0 {
		t.Error("exec -d waited for the command")
	}
	for deadline := time.Now().Add(15 * time.Second); skiff(t, "exec", "upd", "test", "-e", "/done").status != 0; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the command started by exec -d never ran to its end")
		}
	}
	if r := skiff(t, "exec", "-d", "-t", "upd", "true"); r.status != 125 {
		t.Errorf("exec -d -t: status %d", r.status)
	}

	must(t, "update", "-m", "128m", "--pids-limit", "50", "upd")
	memFile := "memory.max"
	if !isCgroup2() {
		memFile = "memory.limit_in_bytes"
	}
	for _, dir := range inspect(t, "upd").Cgroup {
		for file, want := range map[string]string{memFile: "134217728", "pids.max": "50"} {
			if data, err := os.ReadFile(filepath.Join(dir, file)); err == nil && strings.TrimSpace(string(data)) != want {
				t.Errorf("%s/%s = %s, want %s", dir, file, data, want)
			}
		}
	}
	if got := must(t, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}", "upd"); got != "134217728 50\n" {
		t.Errorf("inspect after update: %q", got)
	}
	for _, bad := range [][]string{{"update", "upd"}, {"update", "-m", "1k", "upd"}, {"update", "--cpus", "1000", "upd"}} {
		if r := skiff(t, bad...); r.status != 125 {
			t.Errorf("%v: status %d, %q", bad, r.status, r.stderr)
		}
	}
}
