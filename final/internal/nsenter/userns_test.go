package nsenter

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// holder starts a process in a new user namespace that maps its root to
// host UID and GID 100000, and returns the path of that namespace.
func holder(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 100000, Size: 65536}}}
	if err := cmd.Start(); err != nil {
		t.Skipf("no user namespaces here: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return fmt.Sprintf("/proc/%d/ns/user", cmd.Process.Pid)
}

// run starts sh -c script in the user namespace, with flags for new
// namespaces, and returns its output.
func runIn(t *testing.T, userns string, flags uintptr, script string) string {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	var out bytes.Buffer
	r, w, _ := os.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags}
	err := Start(cmd, []Namespace{{Kind: "user", Path: userns}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out.ReadFrom(r)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%s: %v: %s", script, err, out.String())
	}
	return out.String()
}

func TestStartJoinsUserNamespace(t *testing.T) {
	userns := holder(t)
	want, _ := os.Readlink(userns)
	out := runIn(t, userns, 0, "readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u; id -G")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != want || strings.Join(strings.Fields(lines[1]), " ") != "0 100000 65536" ||
		lines[2] != "0" || lines[3] != "0" {
		t.Fatalf("got %q, want %s, the map 0 100000 65536, and root with group 0 alone", out, want)
	}
}

// With a new PID namespace the process this package returns is PID 1 in
// it, and this process's child.
func TestStartJoinsUserNamespaceWithNewPID(t *testing.T) {
	userns := holder(t)
	out := runIn(t, userns, unix.CLONE_NEWPID|unix.CLONE_NEWUTS, "echo $$; hostname skiff && hostname")
	if out != "1\nskiff\n" {
		t.Fatalf("got %q, want PID 1, and a hostname of its own that its root may set", out)
	}
}

func TestStartInUserNamespaceReportsFailure(t *testing.T) {
	userns := holder(t)
	cmd := exec.Command("/nonexistent")
	err := Start(cmd, []Namespace{{Kind: "user", Path: userns}})
	if err == nil || !strings.Contains(err.Error(), "execve") {
		t.Fatalf("got %v, want an execve error", err)
	}
}

func TestNewUserNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	f, err := NewUserNamespace([]syscall.SysProcIDMap{{ContainerID: 0, HostID: 200000, Size: 1000}},
		[]syscall.SysProcIDMap{{ContainerID: 0, HostID: 300000, Size: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := runIn(t, fmt.Sprintf("/proc/self/fd/%d", f.Fd()), 0, "cat /proc/self/uid_map /proc/self/gid_map")
	if got := strings.Join(strings.Fields(out), " "); got != "0 200000 1000 0 300000 1000" {
		t.Fatalf("maps %q, want 0 200000 1000 and 0 300000 1000", out)
	}
}
