package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
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
	for _, good := range []string{"box", "web-1", "a.b.c", "A1", strings.Repeat("a", 63), randomHostname()} {
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
	a, b := randomHostname(), randomHostname()
	if len(a) != 12 || a == b {
		t.Errorf("randomHostname() = %q, %q: want two different 12-digit names", a, b)
	}
}
