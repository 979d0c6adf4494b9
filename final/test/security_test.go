//go:build vmtest

package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// capEff is the effective capability set a command in the container
// sees, as /proc/self/status shows it.
func capEff(t *testing.T, args ...string) string {
	t.Helper()
	out := must(t, append(append([]string{"run", "--rm", "--network", "none"}, args...), "busybox", "grep", "CapEff", "/proc/self/status")...)
	return strings.TrimSpace(strings.TrimPrefix(out, "CapEff:"))
}

// TestCapabilityFlags: --cap-drop and --cap-add change the capabilities
// the command has, in Docker's spellings; unknown names are refused.
func TestCapabilityFlags(t *testing.T) {
	if got := capEff(t); got != defaultCaps {
		t.Errorf("default CapEff %s, want Docker's set less CAP_MKNOD and CAP_NET_RAW, %s", got, defaultCaps)
	}
	if got := capEff(t, "--cap-drop", "ALL", "--cap-add", "net_bind_service"); got != "0000000000000400" {
		t.Errorf("--cap-drop ALL --cap-add net_bind_service: CapEff %s, want 0000000000000400", got)
	}
	if got := capEff(t, "--cap-add", "CAP_NET_RAW", "--cap-drop", "chown"); got != "00000000a00425fa" {
		t.Errorf("--cap-add NET_RAW --cap-drop chown: CapEff %s, want 00000000a00425fa", got)
	}
	if r := skiff(t, "run", "--rm", "--network", "none", "busybox", "mount", "-t", "tmpfs", "t", "/mnt"); r.status == 0 {
		t.Error("mount worked without CAP_SYS_ADMIN")
	}
	if out := must(t, "run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN", "busybox", "sh", "-c",
		"mount -t tmpfs t /mnt && grep -c ' /mnt ' /proc/self/mountinfo"); strings.TrimSpace(out) != "1" {
		t.Errorf("--cap-add SYS_ADMIN: mount inside: %q", out)
	}
	detached(t, "capped", "--cap-drop", "ALL", "busybox", "sleep", "100")
	if out := must(t, "exec", "capped", "grep", "CapEff", "/proc/self/status"); !strings.Contains(out, "0000000000000000") {
		t.Errorf("exec into a container with --cap-drop ALL: %q", out)
	}
	for _, bad := range [][]string{{"--cap-add", "FLY"}, {"--cap-drop", "CAP_"}, {"--security-opt", "bogus"},
		{"--security-opt", "no-new-privileges=maybe"}, {"--security-opt", "apparmor=x"}} {
		r := skiff(t, append(append([]string{"run", "--rm"}, bad...), "busybox", "true")...)
		if r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: status %d, %q: want 125 and one line", bad, r.status, r.stderr)
		}
	}
}

// TestPingWithoutNetRaw: without CAP_NET_RAW, busybox's ping (raw ICMP
// sockets only) is refused; with --cap-add NET_RAW it works. Every group
// may open ICMP datagram sockets instead, in the container's own network
// namespace.
func TestPingWithoutNetRaw(t *testing.T) {
	if r := skiff(t, "run", "--rm", "--network", "none", "busybox", "ping", "-c", "1", "-W", "1", "127.0.0.1"); r.status == 0 ||
		!strings.Contains(r.stderr, "permission denied") {
		t.Errorf("ping without CAP_NET_RAW: status %d, %q", r.status, r.stderr)
	}
	must(t, "run", "--rm", "--network", "none", "--cap-add", "NET_RAW", "busybox", "ping", "-c", "1", "-W", "1", "127.0.0.1")
	for _, args := range [][]string{{"--network", "none"}, {"-u", "1000:1000"}} {
		out := must(t, append(append([]string{"run", "--rm"}, args...), "busybox", "cat", "/proc/sys/net/ipv4/ping_group_range")...)
		if strings.Join(strings.Fields(out), " ") != "0 2147483647" {
			t.Errorf("%v: ping_group_range %q, want every group", args, out)
		}
	}
}

// showIDs makes this test binary, run as SKIFF_TEST_SHOW_IDS=1, print
// its user IDs and no_new_privs and exit: a static program the tests can
// make setuid-root (busybox gives up a setuid root of its own accord).
func init() {
	if os.Getenv("SKIFF_TEST_SHOW_IDS") != "1" {
		return
	}
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "Uid:") || strings.HasPrefix(line, "NoNewPrivs:") {
			fmt.Println(strings.Join(strings.Fields(line), " "))
		}
	}
	os.Exit(0)
}

// TestNoNewPrivileges: a setuid-root program makes a user root, unless
// the container has no_new_privs.
func TestNoNewPrivileges(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	suid := filepath.Join(dir, "showids")
	if out, err := exec.Command("cp", self, suid).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v %s", self, err, out)
	}
	if err := unix.Chmod(suid, 0o4755); err != nil { // os.Chmod would want os.ModeSetuid
		t.Fatal(err)
	}
	run := func(flags ...string) string {
		args := append(append([]string{"run", "--rm", "--network", "none", "-u", "1000", "-e", "SKIFF_TEST_SHOW_IDS=1",
			"-v", dir + ":/suid:ro"}, flags...), "busybox", "/suid/showids")
		return must(t, args...)
	}
	if out := run(); !strings.Contains(out, "Uid: 1000 0 0 0") || !strings.Contains(out, "NoNewPrivs: 0") {
		t.Errorf("a setuid-root program without no-new-privileges: %q, want euid 0", out)
	}
	if out := run("--security-opt", "no-new-privileges"); !strings.Contains(out, "Uid: 1000 1000 1000 1000") || !strings.Contains(out, "NoNewPrivs: 1") {
		t.Errorf("with --security-opt no-new-privileges: %q, want euid 1000", out)
	}
	detached(t, "nnp", "--security-opt", "no-new-privileges:true", "busybox", "sleep", "100")
	var out struct {
		Spec specs.Spec `json:"spec"`
	}
	if err := unmarshalOne(must(t, "inspect", "nnp"), &out); err != nil || out.Spec.Process == nil || !out.Spec.Process.NoNewPrivileges {
		t.Errorf("inspect's spec has no noNewPrivileges (%v)", err)
	}
}

// TestPrivileged: every capability the runtime has, the host's devices,
// a writable /sys, nothing masked.
func TestPrivileged(t *testing.T) {
	host := strings.TrimSpace(strings.TrimPrefix(grepLine(t, "/proc/self/status", "CapBnd:"), "CapBnd:"))
	if got := capEff(t, "--privileged"); got != host {
		t.Errorf("--privileged: CapEff %s, want the runtime's bounding set %s", got, host)
	}
	out := must(t, "run", "--rm", "--network", "none", "--privileged", "busybox", "sh", "-c",
		"ls /dev/kmsg && grep ' /sys ' /proc/self/mountinfo && grep -c ' /proc/kcore ' /proc/self/mountinfo; true")
	if !strings.Contains(out, "/dev/kmsg") || !strings.Contains(out, " rw,") || !strings.HasSuffix(strings.TrimSpace(out), "0") {
		t.Errorf("--privileged: want /dev/kmsg, a rw /sys and /proc/kcore unmasked:\n%s", out)
	}
	if r := skiff(t, "run", "--rm", "--network", "none", "busybox", "ls", "/dev/kmsg"); r.status == 0 {
		t.Error("a default container has the host's /dev/kmsg")
	}
}

func grepLine(t *testing.T, file, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(readFile(t, file), "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	t.Fatalf("%s has no %s line", file, prefix)
	return ""
}

// TestSeccompFlags: skiff run filters system calls by default (the kernel
// says Seccomp: 2, and a nested user namespace is refused), not with
// --security-opt seccomp=unconfined, and with the rules of a Docker-format
// profile given as a file, which the container keeps.
func TestSeccompFlags(t *testing.T) {
	status := func(flags ...string) string {
		args := append(append([]string{"run", "--rm", "--network", "none"}, flags...), "busybox", "sh", "-c",
			"grep Seccomp: /proc/self/status | tr -d '\\t'; unshare -U true 2>/dev/null && echo userns; true")
		return must(t, args...)
	}
	if out := status(); out != "Seccomp:2\n" {
		t.Errorf("default: %q, want the filter on and no user namespace", out)
	}
	if out := status("--security-opt", "seccomp=unconfined"); out != "Seccomp:0\nuserns\n" {
		t.Errorf("seccomp=unconfined: %q, want no filter", out)
	}
	profile := filepath.Join(t.TempDir(), "profile.json")
	os.WriteFile(profile, []byte(`{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}`), 0o644)
	detached(t, "profiled", "--security-opt", "seccomp="+profile, "busybox", "sleep", "100")
	os.Remove(profile) // the container keeps the profile, not the path
	for _, how := range [][]string{{"exec", "profiled"}, {"run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "busybox"}} {
		r := skiff(t, append(how, "mkdir", "/made")...)
		denied := strings.Contains(r.stderr, "Operation not permitted")
		if want := how[0] == "exec"; denied != want {
			t.Errorf("%v mkdir: status %d, %q", how, r.status, r.stderr)
		}
	}
	for _, bad := range []string{"seccomp=/no/such/profile.json", "seccomp=", "seccomp"} {
		if r := skiff(t, "run", "--rm", "--security-opt", bad, "busybox", "true"); r.status != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("--security-opt %s: status %d, %q", bad, r.status, r.stderr)
		}
	}
}
