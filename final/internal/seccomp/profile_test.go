package seccomp

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// named lists the names of the rules with an action, in order.
func named(s *specs.LinuxSeccomp, act specs.LinuxSeccompAction) []string {
	var names []string
	for _, sc := range s.Syscalls {
		if sc.Action == act {
			names = append(names, sc.Names...)
		}
	}
	return names
}

// TestLoadProfile reads a profile in Docker's format: archMap gives the
// x86_64 entry's architectures; includes and excludes choose rules by
// capabilities (includes: all of them; excludes: any), architecture and
// kernel version; the old single name works.
func TestLoadProfile(t *testing.T) {
	path := filepath.Join("testdata", "docker-format.json")
	plain, err := LoadProfile(path, []string{"CAP_CHOWN", "CAP_SYS_TIME", "CAP_FOWNER"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}; !slices.Equal(plain.Architectures, want) {
		t.Errorf("architectures %v, want %v", plain.Architectures, want)
	}
	if plain.DefaultAction != specs.ActErrno || plain.DefaultErrnoRet == nil || *plain.DefaultErrnoRet != 1 {
		t.Errorf("default action %s %v", plain.DefaultAction, plain.DefaultErrnoRet)
	}
	want := []string{"read", "write", "openat", "close", "execve", "exit_group", "mmap", "brk", "wait4", "getdents64",
		"newfstatat", "clone", "arch_prctl", "ptrace", "kcmp"}
	if got := named(plain, specs.ActAllow); !slices.Equal(got, want) {
		t.Errorf("allowed without CAP_SYS_ADMIN: %v, want %v", got, want)
	}
	admin, err := LoadProfile(path, []string{"CAP_SYS_ADMIN", "CAP_SYS_TIME", "CAP_DAC_OVERRIDE"})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"read", "write", "openat", "close", "execve", "exit_group", "mmap", "brk", "wait4", "getdents64",
		"newfstatat", "mount", "umount2", "clone", "settimeofday", "arch_prctl", "ptrace", "kcmp"}
	if got := named(admin, specs.ActAllow); !slices.Equal(got, want) {
		t.Errorf("allowed with CAP_SYS_ADMIN: %v, want %v", got, want)
	}
	if got := named(plain, specs.ActErrno); !slices.Equal(got, nil) {
		t.Errorf("mkdirat denied with CAP_FOWNER: %v", got)
	}
	if got := named(mustLoad(t, path, nil), specs.ActErrno); !slices.Equal(got, []string{"mkdirat"}) {
		t.Errorf("denied without CAP_DAC_OVERRIDE nor CAP_FOWNER: %v", got)
	}

	f := compileOK(t, plain)
	const userns = unix.CLONE_NEWUSER | uint64(unix.SIGCHLD)
	expect(t, f, native, unix.SYS_CLONE, []uint64{userns}, errno(unix.EPERM))
	expect(t, f, native, unix.SYS_CLONE, []uint64{uint64(unix.SIGCHLD)}, unix.SECCOMP_RET_ALLOW)
	expect(t, f, native, unix.SYS_MOUNT, nil, errno(unix.EPERM))
	expect(t, f, native, unix.SYS_KCMP+1, nil, errno(unix.ENOSYS)) // kcmp is the last named
	expect(t, compileOK(t, admin), native, unix.SYS_CLONE, []uint64{userns}, unix.SECCOMP_RET_ALLOW)

	// minKernel against the running kernel, in resolve.
	p, err := parseProfile(must(os.ReadFile(path)))
	if err != nil {
		t.Fatal(err)
	}
	old := named(p.resolve(nil, kernelVersion{4, 4}), specs.ActAllow)
	if slices.Contains(old, "ptrace") || !slices.Contains(old, "kcmp") {
		t.Errorf("on Linux 4.4: %v", old)
	}
	future := named(p.resolve(nil, kernelVersion{200, 1}), specs.ActAllow)
	if !slices.Contains(future, "ptrace") || slices.Contains(future, "kcmp") {
		t.Errorf("on Linux 200.1: %v", future)
	}
}

func mustLoad(t *testing.T, path string, caps []string) *specs.LinuxSeccomp {
	t.Helper()
	s, err := LoadProfile(path, caps)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestLoadProfileErrors: a bad file is refused with one line that says
// where and what, never with an empty filter.
func TestLoadProfileErrors(t *testing.T) {
	dir := t.TempDir()
	for want, text := range map[string]string{
		"the file is empty":             "",
		"the JSON ends too early":       `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [`,
		"line 2: invalid character":     "{\n\"defaultAction\": SCMP_ACT_ERRNO}",
		`unknown field "defualtAction"`: `{"defualtAction": "SCMP_ACT_ALLOW"}`,
		"defaultAction is missing":      `{}`,
		"line 3: syscalls.args.index: want a number, not string": "{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [\n" +
			"{\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALLOW\",\n\"args\": [{\"index\": \"0\"}]}]}",
		"syscalls: want an array, not object":            `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}}`,
		"more after the profile's closing brace":         `{"defaultAction": "SCMP_ACT_ALLOW"} {}`,
		`defaultAction: unknown action "SCMP_ACT_MAYBE"`: `{"defaultAction": "SCMP_ACT_MAYBE"}`,
		"architectures and archMap": `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
			"archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}`,
		"syscalls[1]: name and names": `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
			{"names": ["read"], "action": "SCMP_ACT_ALLOW"}, {"name": "write", "names": ["read"], "action": "SCMP_ACT_ALLOW"}]}`,
		"syscalls[0]: names is empty": `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}`,
		`syscalls[0]: includes.caps: unknown capability "SYS_ADMIN"`: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
			{"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["SYS_ADMIN"]}}]}`,
		`syscalls[0]: excludes.minKernel: "4.8.1" is not <kernel>.<major>`: `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
			{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "4.8.1"}}]}`,
		"syscalls[0]: read: unknown action": `{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
			{"names": ["read"], "action": "SCMP_ACT_PERHAPS", "includes": {"caps": ["CAP_SYS_BOOT"]}}]}`,
		"SCMP_ACT_NOTIFY: skiff has no seccomp notify support": `{"defaultAction": "SCMP_ACT_NOTIFY"}`,
		`unknown architecture "SCMP_ARCH_VAX"`:                 `{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}`,
		`unknown flag "SECCOMP_FILTER_FLAG_FAST"`:              `{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FAST"]}`,
	} {
		path := filepath.Join(dir, "profile.json")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadProfile(path, nil)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "seccomp profile "+path+": ") ||
			strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: want one line about %q, got %v", text, want, err)
		}
	}
	if _, err := LoadProfile(filepath.Join(dir, "missing.json"), nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file: %v", err)
	}
}

func TestKernelVersion(t *testing.T) {
	if k := runningKernel(); k.version < 3 {
		t.Errorf("running kernel %+v", k)
	}
	k := kernelVersion{5, 10}
	for min, want := range map[string]bool{"4.8": true, "5.10": true, "5.9": true, "5.11": false, "6.0": false} {
		if got := k.atLeast(min); got != want {
			t.Errorf("5.10 at least %s: %v", min, got)
		}
	}
	for _, bad := range []string{"4", "4.8.1", "4.8-rc1", "four.8", "-4.8", ""} {
		if _, err := parseKernelVersion(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
