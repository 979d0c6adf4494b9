//go:build vmtest

package test

import (
	"bufio"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// console drives skiff through a pseudo-terminal, as a person would.
type console struct {
	t     *testing.T
	out   chan string
	input func(string)
	seen  strings.Builder
}

func startConsole(t *testing.T, args ...string) (*console, *exec.Cmd) {
	cmd := exec.Command("skiff", append(append([]string{}, roots...), args...)...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptmx.Close(); cmd.Process.Kill(); cmd.Wait() })
	c := &console{t: t, out: make(chan string, 100), input: func(s string) { ptmx.Write([]byte(s)) }}
	go func() {
		r := bufio.NewReader(ptmx)
		for {
			b := make([]byte, 4096)
			n, err := r.Read(b)
			if n > 0 {
				c.out <- string(b[:n])
			}
			if err != nil {
				close(c.out)
				return
			}
		}
	}()
	return c, cmd
}

// expect waits until the output so far contains want.
func (c *console) expect(want string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(c.seen.String(), want) {
		select {
		case s, ok := <-c.out:
			if !ok {
				c.t.Fatalf("the terminal closed before %q; output:\n%s", want, c.seen.String())
			}
			c.seen.WriteString(s)
		case <-deadline:
			c.t.Fatalf("no %q within %v; output:\n%s", want, timeout, c.seen.String())
		}
	}
}

// TestRunInteractiveTerminal: skiff run -it, driven through a pty.
func TestRunInteractiveTerminal(t *testing.T) {
	c, cmd := startConsole(t, "run", "-it", "--rm", "busybox", "sh")
	c.input("stty size; tty; echo $((6*7))\r")
	c.expect("42", 20*time.Second)
	for _, want := range []string{"30 100", "/dev/pts/0"} {
		if !strings.Contains(c.seen.String(), want) {
			t.Errorf("no %q: the container's terminal has the wrong size or is not its own:\n%s", want, c.seen.String())
		}
	}
	// Ctrl-C reaches the container's terminal, which interrupts sleep.
	c.input("sleep 60\r")
	time.Sleep(500 * time.Millisecond)
	c.input("\x03")
	c.input("echo back-$((1+1))\r")
	c.expect("back-2", 10*time.Second)
	c.input("exit 5\r")
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("skiff did not exit after the shell did")
	}
	if status := cmd.ProcessState.ExitCode(); status != 5 {
		t.Errorf("exit status %d, want 5", status)
	}
}

func TestExecInteractiveTerminal(t *testing.T) {
	detached(t, "ttyhost", "--hostname", "ttyhost", "busybox", "sleep", "100")
	c, cmd := startConsole(t, "exec", "-it", "ttyhost", "sh")
	c.expect("# ", 20*time.Second) // type at the prompt, as a person does
	c.input("tty; hostname; exit 3\r")
	c.expect("ttyhost", 20*time.Second)
	cmd.Wait()
	if !strings.Contains(c.seen.String(), "/dev/pts/") {
		t.Errorf("exec -t has no terminal:\n%s", c.seen.String())
	}
	if status := cmd.ProcessState.ExitCode(); status != 3 {
		t.Errorf("exit status %d, want 3", status)
	}
}
