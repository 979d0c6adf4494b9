//go:build vmtest

// Exercise 03.3: a tiny init. With --init the runtime's own init stays PID 1:
// it starts the command, passes signals on to it, and reaps every orphan.
package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEx03_3InitReapsOrphans: an orphan that exits must not stay a zombie.
func TestEx03_3InitReapsOrphans(t *testing.T) {
	rootfs, _ := newRootfs(t)
	// The inner sh starts a subshell in the background and exits at once:
	// the subshell is an orphan, and the kernel makes PID 1 its parent.
	// A second later it touches /done and exits. Then the outer sh
	// becomes sleep 30.
	c := startInit(t, rootfs, "sh", "-c", `sh -c "(sleep 1; touch /done) &"; exec sleep 30`)
	if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", c.init)); filepath.Base(exe) != lesson {
		t.Fatalf("the container's PID 1 runs %s, want the runtime's own init (%s)", exe, lesson)
	}
	waitForFile(t, filepath.Join(rootfs, "done"))
	time.Sleep(500 * time.Millisecond) // give PID 1 a moment to reap
	for _, pid := range descendantsOf(c.init) {
		if state(pid) == "Z" {
			t.Fatalf("zombie left behind: PID %d (%s), state Z, parent %d; want none: PID 1 must wait for the orphans it inherits",
				pid, comm(pid), c.init)
		}
	}
}

// TestEx03_3InitPassesOnTERM: SIGTERM from the host reaches the command.
func TestEx03_3InitPassesOnTERM(t *testing.T) {
	rootfs, _ := newRootfs(t)
	c := startInit(t, rootfs, "sleep", "30")
	syscall.Kill(c.init, syscall.SIGTERM)
	if !c.exitsWithin(10 * time.Second) {
		t.Fatalf("the container still runs 10 s after SIGTERM to its PID 1: want the init to pass SIGTERM on to sleep, which then dies")
	}
	if status := c.cmd.ProcessState.ExitCode(); status != 128+int(syscall.SIGTERM) {
		t.Fatalf("exit status = %d, want %d (sleep killed by SIGTERM, passed on by the init)", status, 128+int(syscall.SIGTERM))
	}
}

// initContainer is a running "lesson-03-pid run --init".
type initContainer struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
	done   chan struct{} // closed when the runtime has exited
	init   int           // host PID of the container's PID 1
}

// startInit runs "lesson-03-pid run --init ROOTFS ARGV..." in the
// background, once PID 1 has started the command.
func startInit(t *testing.T, rootfs string, argv ...string) *initContainer {
	t.Helper()
	mknodDevNull(t, rootfs)
	c := &initContainer{done: make(chan struct{})}
	c.cmd = exec.Command(lesson, append([]string{"run", "--init", rootfs}, argv...)...)
	c.cmd.Stderr = &c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		for _, pid := range childrenOf(c.cmd.Process.Pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		<-c.done
	})
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.exitsWithin(0) {
			t.Fatalf("%s run --init exited at once with status %d, stderr %q: want it to start the container under an init",
				lesson, c.cmd.ProcessState.ExitCode(), c.stderr.String())
		}
		if children := childrenOf(c.cmd.Process.Pid); len(children) == 1 && len(childrenOf(children[0])) > 0 {
			c.init = children[0]
			return c
		}
	}
	t.Fatalf("%s run --init: no container with a command under its PID 1 after 10 s", lesson)
	return nil
}

// exitsWithin reports whether the runtime exits within d.
func (c *initContainer) exitsWithin(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		return false
	}
}

// mknodDevNull gives the rootfs the /dev/null that busybox sh opens for a
// background job's stdin.
func mknodDevNull(t *testing.T, rootfs string) {
	t.Helper()
	if err := unix.Mknod(filepath.Join(rootfs, "dev", "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatalf("mknod /dev/null: %v", err)
	}
}

func waitForFile(t *testing.T, name string) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat(name); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within 15 s: the orphan never ran", name)
}

// descendantsOf lists the children of pid, their children, and so on.
func descendantsOf(pid int) []int {
	var all []int
	for _, child := range childrenOf(pid) {
		all = append(append(all, child), descendantsOf(child)...)
	}
	return all
}

// state is the one-letter state in /proc/PID/stat: R, S, D, Z...
func state(pid int) string {
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])); len(fields) > 0 {
		return fields[0]
	}
	return "?"
}

func comm(pid int) string {
	c, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	return strings.TrimSpace(string(c))
}
