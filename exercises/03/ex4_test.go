//go:build vmtest

// Exercise 03.4: behave like docker stop. After SIGTERM the runtime gives the
// container 10 seconds, then kills it with SIGKILL.
package main

import (
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestEx03_4StopKillsAfterTimeout: sleep, as PID 1, has no SIGTERM handler,
// so the forwarded SIGTERM is dropped; SIGKILL must follow 10 s later.
func TestEx03_4StopKillsAfterTimeout(t *testing.T) {
	rootfs, _ := newRootfs(t)
	runtime, pid := startLesson(t, "sleep", "run", rootfs, "sleep", "60")
	done := make(chan struct{})
	go func() { runtime.Wait(); close(done) }()
	start := time.Now()
	runtime.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(25 * time.Second):
		t.Fatalf("the container still runs 25 s after SIGTERM to %s: want SIGKILL after 10 s", lesson)
	}
	elapsed := time.Since(start)
	if elapsed < 9*time.Second {
		t.Fatalf("%s exited %.1f s after SIGTERM: want the container to get 10 s first", lesson, elapsed.Seconds())
	}
	if status := runtime.ProcessState.ExitCode(); status != 128+int(syscall.SIGKILL) {
		t.Fatalf("exit status = %d, want %d (killed by SIGKILL)", status, 128+int(syscall.SIGKILL))
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Fatalf("the container's process %d still exists after the runtime exited", pid)
	}
}
