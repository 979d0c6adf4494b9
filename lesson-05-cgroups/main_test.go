package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

//check:reread exitStatus: Docker's 125, 126, 127
func TestExitStatus(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{errors.New("chroot /x: operation not permitted"), exitRuntime},
		{&execError{"nope", exec.ErrNotFound}, exitNotFound},
		{&execError{"/nope", unix.ENOENT}, exitNotFound},
		{&execError{"/etc/passwd", unix.EACCES}, exitCannotExec},
		{&execError{"/bin/x", unix.ENOEXEC}, exitCannotExec},
	}
	for _, tt := range tests {
		if got := exitStatus(tt.err); got != tt.want {
			t.Errorf("exitStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

//check:reread run: check, enter the root, become the command
func TestCheckRootfs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkRootfs(dir); err != nil {
		t.Errorf("checkRootfs(dir) = %v", err)
	}
	if err := checkRootfs(file); err == nil {
		t.Error("checkRootfs(file) succeeded")
	}
	if err := checkRootfs(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("checkRootfs(missing) = %v, want not exist", err)
	}
}

//check:reread The code
func TestCheckHostname(t *testing.T) {
	for _, good := range []string{"box", "web-1", "a.b.c", "A1", strings.Repeat("a", 63), randomID()} {
		if err := checkHostname(good); err != nil {
			t.Errorf("checkHostname(%q) = %v", good, err)
		}
	}
	for _, bad := range []string{"", "-box", "box-", "a..b", "a b", "box_1", "ü", strings.Repeat("a", 65)} {
		if err := checkHostname(bad); err == nil {
			t.Errorf("checkHostname(%q) succeeded", bad)
		}
	}
}

//check:reread The code
func TestRandomHostname(t *testing.T) {
	a, b := randomID(), randomID()
	if len(a) != 12 || a == b {
		t.Errorf("randomID() = %q, %q: want two different 12-digit names", a, b)
	}
}

//check:reread Volumes are bind mounts
func TestParseVolume(t *testing.T) {
	good := map[string]volume{
		"/srv:/data":        {"/srv", "/data", false},
		"/srv:/data:ro":     {"/srv", "/data", true},
		"/srv:/data:rw":     {"/srv", "/data", false},
		"/etc/hosts:/a/b/c": {"/etc/hosts", "/a/b/c", false},
	}
	for spec, want := range good {
		if got, err := parseVolume(spec); err != nil || got != want {
			t.Errorf("parseVolume(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "/srv", "/srv:", ":/data", "srv:/data", "/srv:data", "/srv:/data:rx", "/srv:/data:ro:x", "/srv:/", "/srv:/.."} {
		if _, err := parseVolume(spec); err == nil {
			t.Errorf("parseVolume(%q) succeeded", spec)
		}
	}
}

//check:reread Volumes are bind mounts
func TestVolumeTargetRefusesSymlinks(t *testing.T) {
	rootfs := t.TempDir()
	if err := os.Symlink("/etc", filepath.Join(rootfs, "data")); err != nil {
		t.Fatal(err)
	}
	if _, err := volumeTarget(rootfs, "/data/x"); err == nil {
		t.Error("volumeTarget followed a symlink out of the rootfs")
	}
	got, err := volumeTarget(rootfs, "/srv/../srv/x")
	if err != nil || got != filepath.Join(rootfs, "srv", "x") {
		t.Errorf("volumeTarget(/srv/../srv/x) = %q, %v", got, err)
	}
}

//check:reread The code
func TestParseSize(t *testing.T) {
	good := map[string]int64{"1024": 1024, "512k": 512 << 10, "64M": 64 << 20, "64m": 64 << 20, "64MB": 64 << 20,
		"64MiB": 64 << 20, "1.5g": 3 << 29, "2G": 2 << 30, "1t": 1 << 40}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1M", "M", "12Q", "1.2.3M", "lots", "0.1"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) succeeded", bad)
		}
	}
}

//check:reread The code
func TestParseLimits(t *testing.T) {
	if l, err := parseLimits("64M", 0.5, 10); err != nil || l != (limits{64 << 20, 0.5, 10}) {
		t.Errorf("parseLimits = %+v, %v", l, err)
	}
	for _, bad := range []struct {
		memory string
		cpus   float64
		pids   int64
	}{{"x", 0, 0}, {"", -1, 0}, {"", 0.001, 0}, {"", 4096, 0}, {"", 0, -1}} {
		if _, err := parseLimits(bad.memory, bad.cpus, bad.pids); err == nil {
			t.Errorf("parseLimits(%+v) succeeded", bad)
		}
	}
}

//check:reread v1 and v2
func TestLimitFiles(t *testing.T) {
	l := limits{memory: 64 << 20, cpus: 0.25, pids: 7}
	v2 := []limitFile{{"memory.max", "67108864"}, {"memory.swap.max", "0"}, {"cpu.max", "25000 100000"}, {"pids.max", "7"}}
	v1 := []limitFile{{"memory/memory.limit_in_bytes", "67108864"}, {"cpu/cpu.cfs_period_us", "100000"},
		{"cpu/cpu.cfs_quota_us", "25000"}, {"pids/pids.max", "7"}}
	if got := limitFiles(2, l); !slices.Equal(got, v2) {
		t.Errorf("v2: %v, want %v", got, v2)
	}
	if got := limitFiles(1, l); !slices.Equal(got, v1) {
		t.Errorf("v1: %v, want %v", got, v1)
	}
	if got := limitFiles(2, limits{}); len(got) != 0 {
		t.Errorf("no limits: %v", got)
	}
}
