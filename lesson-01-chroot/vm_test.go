//go:build vmtest

// These tests run as root inside the lesson VM (make test boots it). They
// ask the kernel and the filesystem, not the lesson's own output.
package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const lesson = "lesson-01-chroot"

// newRootfs gives each test its own copy of the busybox rootfs with a marker
// file in it, and leaves a file that exists only on the host.
func newRootfs(t *testing.T) (rootfs, hostOnly string) {
	t.Helper()
	rootfs = filepath.Join(t.TempDir(), "rootfs")
	if out, err := exec.Command("cp", "-a", os.Getenv("ROOTFS"), rootfs).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	writeFile(t, filepath.Join(rootfs, "etc", "marker"), "inside the rootfs\n")
	hostOnly = filepath.Join(t.TempDir(), "host-only")
	writeFile(t, hostOnly, "on the host\n")
	return rootfs, hostOnly
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runLesson runs the lesson binary and returns stdout, stderr and the exit
// status.
func runLesson(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return runAs(t, nil, args...)
}

func runAs(t *testing.T, cred *syscall.Credential, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(lesson, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %v: %v", lesson, args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

//check:reread What chroot(2) does
func TestRootIsTheRootfs(t *testing.T) {
	rootfs, hostOnly := newRootfs(t)
	out, errOut, status := runLesson(t, "run", rootfs, "cat", "/etc/marker")
	if status != 0 || out != "inside the rootfs\n" {
		t.Fatalf("cat /etc/marker inside: status %d, stdout %q, stderr %q", status, out, errOut)
	}
	_, _, status = runLesson(t, "run", rootfs, "test", "-e", hostOnly)
	if status == 0 {
		t.Fatalf("%s, a host-only file, is visible inside the chroot", hostOnly)
	}
}

//check:reread enterRoot: chroot(2), then chdir(2)
func TestWorkingDirectoryIsTheNewRoot(t *testing.T) {
	rootfs, _ := newRootfs(t)
	out, _, _ := runLesson(t, "run", rootfs, "pwd")
	if out != "/\n" {
		t.Fatalf("pwd inside = %q, want /", out)
	}
	// ".." at the new root must stay at the new root.
	out, _, _ = runLesson(t, "run", rootfs, "ls", "../../etc/marker")
	if out != "../../etc/marker\n" {
		t.Fatalf("ls ../../etc/marker = %q: .. climbed out of the new root", out)
	}
}

//check:reread execCommand: execve(2) with a clean environment
func TestHostEnvironmentDoesNotLeak(t *testing.T) {
	rootfs, _ := newRootfs(t)
	cmd := exec.Command(lesson, "run", rootfs, "env")
	cmd.Env = append(os.Environ(), "HOST_SECRET=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "HOST_SECRET") {
		t.Fatalf("the host environment leaked into the container:\n%s", out)
	}
}

// TestEscape is the point of the lesson: root inside a chroot gets out.
//
//check:reread The escape program
func TestEscape(t *testing.T) {
	rootfs, hostOnly := newRootfs(t)
	escape, err := exec.LookPath(lesson + "-escape")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", escape, filepath.Join(rootfs, "bin", "escape")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	out, errOut, status := runLesson(t, "run", rootfs, "/bin/escape", "cat", hostOnly)
	if status != 0 || out != "on the host\n" {
		t.Fatalf("escape did not reach the host's root: status %d, stdout %q, stderr %q", status, out, errOut)
	}
}

//check:reread exitStatus: Docker's 125, 126, 127
func TestExitStatusIsTheCommands(t *testing.T) {
	rootfs, _ := newRootfs(t)
	if _, _, status := runLesson(t, "run", rootfs, "sh", "-c", "exit 42"); status != 42 {
		t.Fatalf("exit status = %d, want 42", status)
	}
}

//check:reread What can go wrong
func TestBadInput(t *testing.T) {
	rootfs, _ := newRootfs(t)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	tests := []struct {
		name   string
		cred   *syscall.Credential
		args   []string
		status int
		msg    string
	}{
		{"no arguments to run", nil, []string{"run"}, 125, "usage"},
		{"unknown flag", nil, []string{"run", "--bogus", rootfs, "sh"}, 125, "bogus"},
		{"missing rootfs", nil, []string{"run", "/does/not/exist", "sh"}, 125, "no such file or directory"},
		{"rootfs is a file", nil, []string{"run", rootfs + "/etc/passwd", "sh"}, 125, "not a directory"},
		{"command not found", nil, []string{"run", rootfs, "no-such-command"}, 127, "not found"},
		{"command not executable", nil, []string{"run", rootfs, "/etc/passwd"}, 126, "permission denied"},
		{"not root", nobody, []string{"run", rootfs, "sh"}, 125, "must run as root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, status := runAs(t, tt.cred, tt.args...)
			if status != tt.status {
				t.Errorf("exit status = %d, want %d (stderr %q)", status, tt.status, errOut)
			}
			lines := strings.Split(strings.TrimSpace(errOut), "\n")
			if len(lines) != 1 || !strings.Contains(errOut, tt.msg) {
				t.Errorf("stderr = %q, want one line containing %q", errOut, tt.msg)
			}
		})
	}
}
