//go:build vmtest

package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
)

// These tests give skiff-runtime's containers a linux.seccomp profile and
// watch the calls it denies fail inside, and the kernel report the
// filter in /proc/PID/status.

// denyMkdirChmod allows everything but mkdir (EPERM, the default errno)
// and chmod (ENOSYS, errnoRet 38).
func denyMkdirChmod() *specs.LinuxSeccomp {
	enosys := uint(38)
	return &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActErrno},
		{Names: []string{"chmod", "fchmodat", "fchmodat2"}, Action: specs.ActErrno, ErrnoRet: &enosys},
	}}
}

// seccompBundle is a bundle with a writable root whose command is sh -c
// script, under profile.
func seccompBundle(t *testing.T, profile *specs.LinuxSeccomp, script string, edit func(s *specs.Spec)) string {
	return bundle(t, func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Process.Args = []string{"sh", "-c", script}
		s.Linux.Seccomp = profile
		if edit != nil {
			edit(s)
		}
	})
}

// runToEnd creates and starts the container, waits for its command to
// end, deletes it, and returns what it wrote.
func runToEnd(t *testing.T, r *ociRuntime, dir, id string) string {
	t.Helper()
	out := tempFile(t)
	create := exec.Command("skiff-runtime", "--root", r.root, "--log", r.log, "--log-format", "json", "create", "--bundle", dir, id)
	create.Stdout, create.Stderr = out, out
	if err := create.Run(); err != nil {
		log, _ := os.ReadFile(r.log)
		t.Fatalf("create %s: %v: %s %s", id, err, readAll(out), log)
	}
	r.must("start", id)
	waitStatus(t, r, id, specs.StateStopped)
	r.must("delete", id)
	text := readAll(out)
	t.Logf("output of %s:\n%s", id, text)
	return text
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

// TestSeccompErrno: mkdir fails with EPERM and chmod with ENOSYS, while
// touch works, and the kernel says the command runs under one filter.
func TestSeccompErrno(t *testing.T) {
	r := newOCIRuntime(t)
	dir := seccompBundle(t, denyMkdirChmod(), `mkdir /tmp/d; echo mkdir=$?; touch /tmp/f && echo touch=ok
chmod 600 /tmp/f; echo chmod=$?; grep ^Seccomp /proc/self/status`, nil)
	out := runToEnd(t, r, dir, "errno")
	wantLines(t, out, "Operation not permitted", "mkdir=1", "touch=ok", "Function not implemented", "chmod=1",
		"Seccomp:\t2", "Seccomp_filters:\t1")
}

// TestSeccompWithoutNoNewPrivs: without no_new_privs, installing a filter
// needs CAP_SYS_ADMIN, which user 1000 does not have: init installs it
// before it switches user, as runc does.
func TestSeccompWithoutNoNewPrivs(t *testing.T) {
	r := newOCIRuntime(t)
	dir := seccompBundle(t, denyMkdirChmod(), `id -u; mkdir /tmp/d; grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status`,
		func(s *specs.Spec) {
			s.Process.NoNewPrivileges = false
			s.Process.User = specs.User{UID: 1000, GID: 1000}
		})
	out := runToEnd(t, r, dir, "nonnp")
	wantLines(t, out, "1000\n", "Operation not permitted", "NoNewPrivs:\t0", "Seccomp:\t2")
}

// TestSeccompKill: a call with SCMP_ACT_KILL kills the process with
// SIGSYS (status 128+31) before it does anything.
func TestSeccompKill(t *testing.T) {
	r := newOCIRuntime(t)
	profile := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir", "mkdirat"}, Action: specs.ActKill}}}
	dir := seccompBundle(t, profile, `mkdir /tmp/d & wait $!; echo status=$?; test -e /tmp/d || echo absent`, nil)
	out := runToEnd(t, r, dir, "kill")
	wantLines(t, out, "status=159", "absent")
}

// TestSeccompExec: a process exec'd into the container gets the
// container's filter; a profile that would deny what exec calls under
// the filter is refused with the reason.
func TestSeccompExec(t *testing.T) {
	r := newOCIRuntime(t)
	dir := seccompBundle(t, denyMkdirChmod(), "sleep 100", nil)
	r.must("create", "--bundle", dir, "ex")
	t.Cleanup(func() { r.run("delete", "--force", "ex") })
	r.must("start", "ex")
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.state("ex").Pid))
	wantLines(t, string(status), "Seccomp:\t2", "Seccomp_filters:\t1", "NoNewPrivs:\t1")
	res := r.run("exec", "ex", "sh", "-c", "mkdir /tmp/e; grep ^Seccomp: /proc/self/status")
	wantLines(t, res.stdout+res.stderr, "Operation not permitted", "Seccomp:\t2")

	noSetns := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"setns"}, Action: specs.ActErrno}}}
	dir = seccompBundle(t, noSetns, "sleep 100", nil)
	r.must("create", "--bundle", dir, "nosetns")
	t.Cleanup(func() { r.run("delete", "--force", "nosetns") })
	r.must("start", "nosetns")
	// skiff-init enters the namespaces first and installs the filter after:
	// a profile without setns (Docker's, without CAP_SYS_ADMIN) is fine.
	if res := r.run("exec", "nosetns", "sh", "-c", "grep ^Seccomp: /proc/self/status"); res.status != 0 || res.stdout != "Seccomp:\t2\n" {
		t.Errorf("exec under a profile that denies setns: status %d, %q %q", res.status, res.stdout, res.stderr)
	}
}

// TestSeccompBadProfile: a profile skiff cannot apply fails create with
// the reason, before anything is made; features lists what it can.
func TestSeccompBadProfile(t *testing.T) {
	r := newOCIRuntime(t)
	var cgroupsPath string
	notify := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
		{Names: []string{"mkdir"}, Action: specs.ActNotify}}}
	dir := seccompBundle(t, notify, "true", func(s *specs.Spec) { cgroupsPath = s.Linux.CgroupsPath })
	if res := r.run("create", "--bundle", dir, "bad"); res.status == 0 {
		t.Fatal("create with SCMP_ACT_NOTIFY succeeded")
	}
	if log, _ := os.ReadFile(r.log); !strings.Contains(string(log), "SCMP_ACT_NOTIFY") {
		t.Errorf("log %q does not name SCMP_ACT_NOTIFY", log)
	}
	if _, err := os.Stat(filepath.Join(r.root, "bad")); err == nil {
		t.Errorf("a refused profile left a state folder")
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", cgroupsPath)); err == nil && isCgroup2() {
		t.Errorf("a refused profile left a cgroup")
	}
	var f features.Features
	if err := json.Unmarshal([]byte(r.must("features")), &f); err != nil || f.Linux.Seccomp == nil ||
		f.Linux.Seccomp.Enabled == nil || !*f.Linux.Seccomp.Enabled || len(f.Linux.Seccomp.SupportedFlags) != 3 {
		t.Errorf("features: %+v %v", f.Linux.Seccomp, err)
	}
}
