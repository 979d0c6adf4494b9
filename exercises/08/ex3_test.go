//go:build vmtest

// Exercise 08.3: skiff wait sleeps in inotify (and a pidfd) instead of
// polling state.json, and says so, rather than print 0, when a container
// died with nobody left to record its exit code.
package test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ex3StartWait starts `skiff wait NAME` in the background.
func ex3StartWait(t *testing.T, name string) (*exec.Cmd, *bytes.Buffer, *bytes.Buffer, chan error) {
	t.Helper()
	cmd := exec.Command("skiff", append(append([]string{}, roots...), "wait", name)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, &stdout, &stderr, done
}

// ex3HasInotify tells whether process pid has an inotify descriptor open,
// waiting up to 5 s for it to start.
func ex3HasInotify(pid int) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		fds, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "fd", "*"))
		for _, fd := range fds {
			if link, _ := os.Readlink(fd); link == "anon_inode:inotify" {
				return true
			}
		}
	}
	return false
}

// ex3Returns waits up to 5 s for skiff wait to return.
func ex3Returns(t *testing.T, done chan error, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("skiff wait still waits 5 s after %s; want it to return", what)
	}
}

func TestEx08_3WaitSleepsOnInotify(t *testing.T) {
	detached(t, "waited3", "busybox", "sleep", "1000")
	cmd, stdout, _, done := ex3StartWait(t, "waited3")
	if !ex3HasInotify(cmd.Process.Pid) {
		t.Fatalf("skiff wait has no inotify descriptor in /proc/%d/fd: it polls on a timer; want it to sleep in inotify on the container's folder", cmd.Process.Pid)
	}
	must(t, "kill", "waited3")
	ex3Returns(t, done, "the container was killed")
	if got := stdout.String(); got != "137\n" {
		t.Fatalf("skiff wait printed %q for a container killed by SIGKILL; want \"137\\n\"", got)
	}
}

func TestEx08_3WaitOnADeadContainer(t *testing.T) {
	detached(t, "dead3", "busybox", "sleep", "1000")
	c := inspect(t, "dead3")
	cmd, stdout, stderr, done := ex3StartWait(t, "dead3")
	ex3HasInotify(cmd.Process.Pid) // it has started
	syscall.Kill(c.State.MonitorPid, syscall.SIGKILL)
	select {
	case <-done:
		t.Fatalf("skiff wait returned when only the monitor was killed (stdout %q); want it to wait: the container still runs", stdout)
	case <-time.After(500 * time.Millisecond):
	}
	syscall.Kill(c.State.Pid, syscall.SIGKILL)
	ex3Returns(t, done, "the container's process was killed")
	status := cmd.ProcessState.ExitCode()
	if status == 0 || stdout.Len() > 0 {
		t.Fatalf("skiff wait printed %q and exited %d for a container whose exit nobody recorded; want no code, an error and a non-zero status", stdout, status)
	}
	if !strings.Contains(stderr.String(), "dead") {
		t.Fatalf("skiff wait said %q; want an error that says the container is dead", stderr)
	}
}
