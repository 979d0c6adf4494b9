//go:build vmtest

package test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// These tests give containers a user namespace and ask the host what
// root in the container is there: UID 100000, nobody in particular.

// mappedRoot is the host's UID and GID of root in the tests' user
// namespaces, which map the container's IDs 0-65535.
const mappedRoot = 100000

var idMap = []specs.LinuxIDMapping{{ContainerID: 0, HostID: mappedRoot, Size: 65536}}

// usernsBundle is a bundle with a writable root whose command is sh -c
// script, in a user namespace of its own; its rootfs belongs to the
// mapped IDs, as one prepares a bundle for runc.
func usernsBundle(t *testing.T, script string, edit func(s *specs.Spec)) string {
	t.Helper()
	dir := bundle(t, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Args = []string{"sh", "-c", script}
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = idMap, idMap
		if edit != nil {
			edit(s)
		}
	})
	shiftOwners(t, filepath.Join(dir, "rootfs"), mappedRoot)
	return dir
}

// shiftOwners adds base to the owner and group of every file under dir.
func shiftOwners(t *testing.T, dir string, base int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		return os.Lchown(path, base+int(st.Uid), base+int(st.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// hostSecret is a file only the host's root may read, in a folder only
// it may walk.
func hostSecret(t *testing.T) string {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	if err := os.WriteFile(path, []byte("host secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// statusIDs reads the Uid or Gid line of /proc/PID/status: real,
// effective, saved, filesystem.
func statusIDs(t *testing.T, pid int, field string) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	return ""
}

func wantMapped(t *testing.T, what string, pid int) {
	t.Helper()
	want := strings.Repeat(strconv.Itoa(mappedRoot)+" ", 4)
	for _, field := range []string{"Uid", "Gid"} {
		if got := statusIDs(t, pid, field); got+" " != want {
			t.Errorf("%s (PID %d): %s %s on the host, want %s", what, pid, field, got, want)
		}
	}
	if got := statusIDs(t, pid, "Groups"); got != "" {
		t.Errorf("%s (PID %d): supplementary groups %q on the host, want none", what, pid, got)
	}
}

// command is skiff-runtime with r's flags, for a caller that wires its
// output: create leaves the container's stdio where its own is.
func (r *ociRuntime) command(args ...string) *exec.Cmd {
	return exec.Command("skiff-runtime", append([]string{"--root", r.root, "--log", r.log, "--log-format", "json"}, args...)...)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestUsernsRuntime: skiff-runtime creates a container in a user
// namespace from a spec with uidMappings and a seccomp profile. Inside,
// the command is root with the spec's map; the host sees UID 100000, and
// that user cannot read a host file of root's bound in, nor leave files
// of root's in the rootfs. exec joins the same user namespace.
func TestUsernsRuntime(t *testing.T) {
	r := newOCIRuntime(t)
	secret := hostSecret(t)
	dir := usernsBundle(t, `cat /proc/self/uid_map /proc/self/gid_map; id
cat /secret/key || echo secret=denied; touch /made; mkdir /tmp/d; echo mkdir=$?; exec sleep 100`, func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/secret", Type: "bind", Source: filepath.Dir(secret), Options: []string{"rbind", "ro"}})
		s.Linux.Seccomp = denyMkdirChmod()
	})
	out := tempFile(t)
	create := r.command("create", "--bundle", dir, "u1")
	create.Stdout, create.Stderr = out, out
	if err := create.Run(); err != nil {
		log, _ := os.ReadFile(r.log)
		t.Fatalf("create: %v: %s %s", err, readAll(out), log)
	}
	t.Cleanup(func() { r.run("delete", "--force", "u1") })
	r.must("start", "u1")
	pid := r.state("u1").Pid
	waitFor(t, "the command to reach sleep", func() bool {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return strings.HasPrefix(string(cmdline), "sleep")
	})
	text := readAll(out)
	t.Logf("output:\n%s", text)
	if fields := strings.Fields(text); len(fields) < 6 || strings.Join(fields[:6], " ") != "0 100000 65536 0 100000 65536" {
		t.Errorf("uid_map and gid_map inside: %q, want 0 100000 65536 for both", text)
	}
	wantLines(t, text, "uid=0(root) gid=0(root)", "secret=denied", "Operation not permitted", "mkdir=1")
	if strings.Contains(text, "host secret") {
		t.Errorf("root in the container read the host's secret")
	}
	wantMapped(t, "the container's command", pid)
	if info, err := os.Stat(filepath.Join(dir, "rootfs", "made")); err != nil || info.Sys().(*syscall.Stat_t).Uid != mappedRoot {
		t.Errorf("a file made by root inside: %v, want it owned by %d on the host", err, mappedRoot)
	}

	hostView, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	mine, _ := os.Readlink("/proc/self/ns/user")
	if hostView == mine {
		t.Fatalf("the container shares the host's user namespace")
	}
	got := r.must("exec", "u1", "sh", "-c", "readlink /proc/self/ns/user; id -u; mkdir /tmp/e; grep ^Seccomp: /proc/self/status")
	wantLines(t, got, hostView+"\n0\n", "Seccomp:\t2")
	pidFile := filepath.Join(t.TempDir(), "exec.pid")
	r.must("exec", "--detach", "--pid-file", pidFile, "u1", "sleep", "50")
	data, _ := os.ReadFile(pidFile)
	execPid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	wantMapped(t, "an exec'd process", execPid)
}

// TestUsernsRuntimeJoin: a container that joins another's user and
// network namespaces, as a pod's do, with namespaces of its own for the
// rest: they belong to the joined user namespace, so its root may set
// its hostname and be PID 1 there.
func TestUsernsRuntimeJoin(t *testing.T) {
	r := newOCIRuntime(t)
	first := usernsBundle(t, "exec sleep 100", nil)
	r.must("create", "--bundle", first, "pod")
	t.Cleanup(func() { r.run("delete", "--force", "pod") })
	r.must("start", "pod")
	podPid := r.state("pod").Pid
	dir := usernsBundle(t, "echo pid=$$; hostname; exec sleep 100", func(s *specs.Spec) {
		s.Hostname = "member"
		s.Linux.UIDMappings, s.Linux.GIDMappings = nil, nil
		for i, ns := range s.Linux.Namespaces {
			if ns.Type == specs.UserNamespace || ns.Type == specs.NetworkNamespace {
				s.Linux.Namespaces[i].Path = fmt.Sprintf("/proc/%d/ns/%s", podPid, map[specs.LinuxNamespaceType]string{
					specs.UserNamespace: "user", specs.NetworkNamespace: "net"}[ns.Type])
			}
		}
	})
	out := tempFile(t)
	create := r.command("create", "--bundle", dir, "member")
	create.Stdout, create.Stderr = out, out
	if err := create.Run(); err != nil {
		log, _ := os.ReadFile(r.log)
		t.Fatalf("create: %v: %s %s", err, readAll(out), log)
	}
	t.Cleanup(func() { r.run("delete", "--force", "member") })
	r.must("start", "member")
	pid := r.state("member").Pid
	waitFor(t, "the member's command to reach sleep", func() bool {
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		return strings.HasPrefix(string(cmdline), "sleep")
	})
	wantLines(t, readAll(out), "pid=1\n", "member\n")
	for ns, same := range map[string]bool{"user": true, "net": true, "pid": false, "uts": false, "mnt": false} {
		a, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", podPid, ns))
		b, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns))
		if (a == b) != same {
			t.Errorf("%s namespace: pod %s, member %s: shared %v, want %v", ns, a, b, a == b, same)
		}
	}
	wantMapped(t, "the member's command", pid)
}
