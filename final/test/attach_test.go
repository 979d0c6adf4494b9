//go:build vmtest

package test

import (
	"bufio"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAttach: attach to a running shell (-di) reads its output and sends
// it input; the shell's exit status is attach's.
func TestAttach(t *testing.T) {
	must(t, "run", "-di", "--name", "att", "busybox", "sh")
	t.Cleanup(func() { skiff(t, "rm", "-f", "att") })
	cmd := exec.Command("skiff", append(append([]string{}, roots...), "attach", "att")...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 10)
	go func() {
		scan := bufio.NewScanner(out)
		for scan.Scan() {
			lines <- scan.Text()
		}
		close(lines)
	}()
	io.WriteString(in, "echo attached-$((2+3))\n")
	select {
	case line := <-lines:
		if line != "attached-5" {
			t.Fatalf("attach read %q, want attached-5", line)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no output through attach")
	}
	io.WriteString(in, "exit 4\n")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("attach did not return when the shell exited")
	}
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Errorf("attach returned %d, want the shell's 4", code)
	}
	if r := skiff(t, "attach", "att"); r.status != 125 || !strings.Contains(r.stderr, "start") {
		t.Errorf("attach to a stopped container: status %d, %q", r.status, r.stderr)
	}
}

// TestAttachDetachKeys: a terminal attached to a -dit shell, which gets
// its size; ctrl-p ctrl-q detaches and leaves the shell running, with
// the same process.
func TestAttachDetachKeys(t *testing.T) {
	must(t, "run", "-dit", "--name", "attty", "busybox", "sh")
	t.Cleanup(func() { skiff(t, "rm", "-f", "attty") })
	pid := pidOf(t, "attty")
	c, cmd := startConsole(t, "attach", "attty")
	c.input("tty; stty size; echo tty-$((3*3))\r")
	c.expect("tty-9", 20*time.Second)
	if !strings.Contains(c.seen.String(), "/dev/pts/") || !strings.Contains(c.seen.String(), "30 100") {
		t.Errorf("the attached shell has no terminal, or not the size of the one attached (30 100):\n%s", c.seen.String())
	}
	c.input("\x10\x11")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("ctrl-p ctrl-q did not detach")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("detach: status %d, want 0", code)
	}
	if s := lifeOf(t, "attty"); s.status != "running" || s.pid != pid || !processAlive(pid) {
		t.Errorf("after detaching: %+v, want the same process %d running", s, pid)
	}
	// Attached again, the same shell answers.
	c2, _ := startConsole(t, "attach", "attty")
	c2.input("echo again-$((4*4))\r")
	c2.expect("again-16", 20*time.Second)
}
