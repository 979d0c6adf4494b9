//go:build vmtest

// Exercise 09.2, a console socket receiver: write recvtty SOCKET, which
// listens on a unix socket, receives the pty master that skiff-runtime
// create --console-socket sends, and connects it to its own stdin and
// stdout; then run the example spec's sh on that terminal.
package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
)

func TestEx09_2Recvtty(t *testing.T) {
	if _, err := exec.LookPath("recvtty"); err != nil {
		t.Fatalf("no recvtty on the PATH (%v): build it as final/cmd/recvtty", err)
	}
	r := newOCIRuntime(t)
	dir := bundle(t, func(s *specs.Spec) { s.Process.Terminal = true }) // the example's sh, on a terminal
	socket := filepath.Join(t.TempDir(), "tty.sock")
	out := tempFile(t)
	tty := exec.Command("recvtty", socket)
	stdin, err := tty.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	tty.Stdout, tty.Stderr = out, out
	if err := tty.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Process.Kill(); tty.Wait() })
	waitFor(t, "recvtty to listen on "+socket, func() bool { _, err := os.Stat(socket); return err == nil })

	r.must("create", "--bundle", dir, "--console-socket", socket, "ex2")
	t.Cleanup(func() { r.run("delete", "--force", "ex2") })
	pid := r.state("ex2").Pid
	r.must("start", "ex2")
	fmt.Fprintln(stdin, "tty; echo $((6 * 7))")
	ok := ex2Eventually(func() bool {
		got := readAll(out)
		return strings.Contains(got, "/dev/pts/0") && strings.Contains(got, "\n42")
	})
	if !ok {
		t.Fatalf("recvtty printed %q: want the shell's answers to what it was sent on stdin, /dev/pts/0 and 42", readAll(out))
	}

	// The kernel's view: the shell's stdin is the container's terminal,
	// and that terminal is its session's controlling terminal.
	if link, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", pid)); link != "/dev/pts/0" {
		t.Errorf("the container's shell has %q as stdin, want /dev/pts/0", link)
	}
	if fields := strings.Fields(readFile(t, fmt.Sprintf("/proc/%d/stat", pid))); len(fields) < 7 || fields[6] == "0" {
		t.Errorf("the container's shell has no controlling terminal (tty_nr 0 in /proc/%d/stat), want its /dev/pts/0", pid)
	}

	// recvtty held the only master: when it exits, the terminal hangs up
	// and the kernel sends SIGHUP to the shell, which leads the session.
	tty.Process.Kill()
	tty.Wait()
	waitStatus(t, r, "ex2", specs.StateStopped)
}

// ex2Eventually polls cond for up to 20 s: the VM's emulated CPU is slow.
func ex2Eventually(cond func() bool) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}
