//go:build vmtest

package test

import (
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"

	"skiff/internal/seccomp"
)

// tryCalls runs commands that each make a call the default profile
// judges, and prints "NAME: ok: OUTPUT" or "NAME: failed: OUTPUT" for
// each; then ordinary work, and the kernel's view of the filter.
const tryCalls = `try() { name=$1; shift; if out=$("$@" 2>&1); then echo "$name: ok: $out"; else echo "$name: failed: $out"; fi; }
try userns unshare -U true
try adjtimex adjtimex
try mountns unshare -m true
try mount mount -t tmpfs none /mnt
try swapoff swapoff /etc/passwd
try date date -s 2000-01-01
try chroot chroot / true
try linux32 linux32 uname -m
i=0; while [ $i -lt 200 ]; do i=$((i+1)); done; echo loop=$i
sh -c 'echo child; exit 3'; echo status=$?
echo data >/tmp/f && cat /tmp/f
grep -E '^Seccomp(_filters)?:' /proc/self/status`

// results are tryCalls' verdicts by name.
func results(out string) map[string]string {
	r := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, verdict, ok := strings.Cut(line, ": "); ok && !strings.HasPrefix(name, "Seccomp") {
			r[name] = verdict
		}
	}
	return r
}

// wantVerdicts checks that the commands named ok worked and those named
// denied met EPERM: busybox's date says so and succeeds, its mount says
// "permission denied".
func wantVerdicts(t *testing.T, out string, ok, denied []string) {
	t.Helper()
	r := results(out)
	eperm := func(v string) bool {
		return strings.Contains(v, "Operation not permitted") || strings.Contains(v, "permission denied")
	}
	for _, name := range ok {
		if !strings.HasPrefix(r[name], "ok") || eperm(r[name]) {
			t.Errorf("%s: %q, want ok", name, r[name])
		}
	}
	for _, name := range denied {
		if !eperm(r[name]) {
			t.Errorf("%s: %q, want Operation not permitted", name, r[name])
		}
	}
}

// TestSeccompDefault runs busybox under seccomp.Default for the example
// spec's capabilities: a user namespace (which needs no capability),
// reading the clock's state with adjtimex, mount and the other calls
// that need capabilities the container lacks fail with EPERM; chroot
// (CAP_SYS_CHROOT is kept), a 32-bit personality, a shell loop, fork and
// exec, files work. The same script without the filter shows that the
// filter, not the capabilities, refuses unshare -U and adjtimex; with a
// profile made for a bounding set without CAP_SYS_CHROOT, chroot fails
// though the process has the capability.
func TestSeccompDefault(t *testing.T) {
	if !seccomp.Available() {
		t.Fatal("this kernel has no seccomp filters")
	}
	r := newOCIRuntime(t)
	byDefault := func(s *specs.Spec) { s.Linux.Seccomp = seccomp.Default(s.Process.Capabilities.Bounding) }
	out := runToEnd(t, r, seccompBundle(t, nil, tryCalls, byDefault), "default")
	wantVerdicts(t, out, []string{"chroot", "linux32"},
		[]string{"userns", "adjtimex", "mountns", "mount", "swapoff", "date"})
	wantLines(t, out, "linux32: ok: i686", "loop=200", "child\nstatus=3", "data\n", "Seccomp:\t2", "Seccomp_filters:\t1")

	out = runToEnd(t, r, seccompBundle(t, nil, tryCalls, nil), "unconfined")
	wantVerdicts(t, out, []string{"userns", "adjtimex", "chroot", "linux32"}, []string{"mountns", "mount", "swapoff", "date"})
	wantLines(t, out, "Seccomp:\t0")

	noChroot := func(s *specs.Spec) {
		s.Linux.Seccomp = seccomp.Default(slices.DeleteFunc(slices.Clone(s.Process.Capabilities.Bounding),
			func(c string) bool { return c == "CAP_SYS_CHROOT" }))
	}
	out = runToEnd(t, r, seccompBundle(t, nil, tryCalls, noChroot), "nochroot")
	wantVerdicts(t, out, []string{"linux32"}, []string{"chroot", "userns"})
}
