// Package nsenter starts processes inside the namespaces of a running
// container, as `docker exec` and pods (--network container:NAME) need,
// and more generally forks from a thread of its own that may be changed
// first (Step): on cgroup v1, every container's init is forked that way.
// A user namespace needs more: see userns.go.
//
// setns(2) into a mount namespace fails in a multithreaded process, and a
// Go program has threads before main runs. runc solves it with a C
// constructor that calls setns before the Go runtime starts. This package
// does the equivalent in Go: it locks a goroutine to its OS thread, gives
// that thread a filesystem context of its own (unshare(CLONE_FS)), which
// makes setns into a mount namespace legal for it, joins the namespaces on
// that thread alone, and forks the new process from it. The child inherits
// the thread's namespaces; the thread is never unlocked, so Go discards it
// when the goroutine ends and no other goroutine ever runs in it.
package nsenter

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// Namespace is one namespace to join: its kind and a file naming it,
// usually /proc/PID/ns/KIND.
type Namespace struct {
	Kind string // ipc, uts, net, pid, cgroup, mnt, user
	Path string
}

var cloneFlag = map[string]int{
	"ipc": unix.CLONE_NEWIPC, "uts": unix.CLONE_NEWUTS, "net": unix.CLONE_NEWNET,
	"pid": unix.CLONE_NEWPID, "mnt": unix.CLONE_NEWNS, "cgroup": unix.CLONE_NEWCGROUP,
}

// Of lists the namespaces of process pid, in the order they are joined:
// the mount namespace last, since it changes what the other paths mean.
func Of(pid int, kinds ...string) []Namespace {
	var ns []Namespace
	for _, kind := range kinds {
		ns = append(ns, Namespace{kind, fmt.Sprintf("/proc/%d/ns/%s", pid, kind)})
	}
	return ns
}

// A Step changes the thread that forks, just before the fork and before
// it joins any namespace, while paths still name the host's files: the
// capability bounding set, or the thread's cgroup on v1. The function it
// returns, if not nil, runs once the process has started.
type Step func() (after func(), err error)

// Start starts cmd in the namespaces join, on top of any new ones its
// SysProcAttr.Cloneflags asks for, after running steps (nil ones are
// skipped) on the thread that forks. A user namespace in join is joined
// by the new process itself, after the others (userns.go), and the new
// namespaces are then its own.
func Start(cmd *exec.Cmd, join []Namespace, steps ...Step) error {
	var prepare []Step
	for _, step := range steps {
		if step != nil {
			prepare = append(prepare, step)
		}
	}
	if len(join) == 0 && len(prepare) == 0 {
		return cmd.Start()
	}
	return OnThread(func() error { return startOnThisThread(cmd, join, prepare) })
}

// OnThread runs f on an OS thread of its own, which f may change (its
// namespaces, its working folder) and which Go discards afterwards: the
// goroutine stays locked to it and ends. Not on the process's main
// thread, which Go cannot discard, and which would keep the changes (and
// show them in /proc/self): a goroutine that finds itself there keeps it
// busy while another runs f.
func OnThread(f func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // and never unlock: this thread is tainted
		if unix.Gettid() == unix.Getpid() {
			done <- OnThread(f)
			runtime.UnlockOSThread() // untouched
			return
		}
		done <- f()
	}()
	return <-done
}

func startOnThisThread(cmd *exec.Cmd, join []Namespace, steps []Step) error {
	// The user namespace is opened first, while paths are the host's.
	var user *os.File
	for i, ns := range join {
		if ns.Kind == "user" {
			f, err := os.Open(ns.Path)
			if err != nil {
				return fmt.Errorf("open %s: %w", ns.Path, err)
			}
			defer f.Close()
			user, join = f, append(join[:i:i], join[i+1:]...)
			break
		}
	}
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare CLONE_FS: %w", err)
	}
	for _, step := range steps {
		after, err := step()
		if err != nil {
			return err
		}
		if after != nil {
			defer after()
		}
	}
	for _, ns := range join {
		f, err := os.Open(ns.Path)
		if err != nil {
			return fmt.Errorf("open %s: %w", ns.Path, err)
		}
		err = unix.Setns(int(f.Fd()), cloneFlag[ns.Kind])
		f.Close()
		if err != nil {
			return fmt.Errorf("setns %s: %w", ns.Path, err)
		}
	}
	if user != nil {
		return startInUser(cmd, user)
	}
	return cmd.Start()
}
