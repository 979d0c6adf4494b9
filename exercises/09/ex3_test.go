//go:build vmtest

// Exercise 09.3, a shim in 30 lines: write minishim BUNDLE ID, which makes
// itself child subreaper, runs skiff-runtime create and start, waits for
// the container's init with wait4 and prints "exit status N".
package test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestEx09_3MiniShim(t *testing.T) {
	if _, err := exec.LookPath("minishim"); err != nil {
		t.Fatalf("no minishim on the PATH (%v): build it as final/cmd/minishim", err)
	}
	dir := bundle(t, func(s *specs.Spec) { s.Process.Args = []string{"sh", "-c", "sleep 3; exit 3"} })
	out := tempFile(t)
	shim := exec.Command("minishim", dir, "ex3")
	shim.Stdout, shim.Stderr = out, out
	if err := shim.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("skiff-runtime", "delete", "--force", "ex3").Run() })
	done := make(chan error, 1)
	go func() { done <- shim.Wait() }()

	// While the container runs, create has exited long ago: its init is an
	// orphan, and the kernel gave it to the nearest subreaper above it.
	pid := ex3RunningPid(t)
	if pid == 0 {
		t.Fatalf("the container ex3 never ran under minishim (skiff-runtime state ex3 never said running); minishim printed %q", readAll(out))
	}
	status := readFile(t, fmt.Sprintf("/proc/%d/status", pid))
	if want := fmt.Sprintf("PPid:\t%d\n", shim.Process.Pid); !strings.Contains(status, want) {
		t.Errorf("the container's init (PID %d) has %q: want minishim (PID %d) as its parent; did minishim call prctl(PR_SET_CHILD_SUBREAPER, 1) before create?",
			pid, ex3Line(status, "PPid:"), shim.Process.Pid)
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatalf("minishim did not return 60 s after its container's sh -c 'sleep 3; exit 3' started; it printed %q", readAll(out))
	}
	if got := readAll(out); !strings.Contains(got, "exit status 3") {
		t.Fatalf("minishim printed %q: want \"exit status 3\", the status its wait4 collected from the container's init", got)
	}
}

// ex3RunningPid polls skiff-runtime state ex3 (the default --root, which
// minishim uses too) until the container runs, and returns init's PID.
func ex3RunningPid(t *testing.T) int {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		data, err := exec.Command("skiff-runtime", "state", "ex3").Output()
		var s specs.State
		if err == nil && json.Unmarshal(data, &s) == nil && s.Status == specs.StateRunning {
			return s.Pid
		}
	}
	return 0
}

func ex3Line(text, prefix string) string {
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return ""
}
