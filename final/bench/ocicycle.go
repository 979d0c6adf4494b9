//go:build ignore

// oci-cycle runs one container through an OCI runtime's command line as
// containerd's shim does: create, start, wait for the container's first
// process to exit, delete. make bench times it with hyperfine, once per
// runtime (final/bench/bench.sh builds it with `go build ocicycle.go`; the
// ignore tag keeps it out of make build's bin/).
//
//	oci-cycle RUNTIME ROOT BUNDLE ID
//
// runs RUNTIME --root ROOT create --bundle BUNDLE --pid-file ROOT/ID.pid
// ID, then start ID, then delete ID, and fails unless the container's
// process exited with 0. Like the shim it is the child subreaper, so the
// container's first process becomes its child once create exits: it
// learns of the exit from wait4, as the shim does, with no polling and the
// same cost whatever the runtime. `delete --force` would not do: a
// container still running when it comes is killed rather than left to
// exit, and runc 1.1 then polls for its death every 100 ms.
//
// The command line is positional (no flag package, no urfave/cli):
// hyperfine times this program's start-up too, so it does the least.
// `oci-cycle noop` runs nothing and exits: make bench times it too, to
// tell that start-up from the runtimes' time.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "noop" {
		return
	}
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: oci-cycle RUNTIME ROOT BUNDLE ID, or oci-cycle noop")
		os.Exit(2)
	}
	if err := cycle(os.Args[1], os.Args[2], os.Args[3], os.Args[4]); err != nil {
		fmt.Fprintln(os.Stderr, "oci-cycle:", err)
		os.Exit(1)
	}
}

func cycle(runtime, root, bundle, id string) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	pidFile := filepath.Join(root, id+".pid")
	defer os.Remove(pidFile)
	if err := call(runtime, root, "create", "--bundle", bundle, "--pid-file", pidFile, id); err != nil {
		return err
	}
	pid, err := readPid(pidFile)
	if err == nil {
		err = call(runtime, root, "start", id)
	}
	if err != nil {
		call(runtime, root, "delete", "--force", id)
		return err
	}
	if err := waitExit(pid); err != nil {
		call(runtime, root, "delete", "--force", id)
		return err
	}
	return call(runtime, root, "delete", id)
}

// call runs RUNTIME --root ROOT ARGS with this program's stdio, which the
// container inherits from create.
func call(runtime, root string, args ...string) error {
	cmd := exec.Command(runtime, append([]string{"--root", root}, args...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", runtime, strings.Join(args, " "), err)
	}
	return nil
}

func readPid(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is not a PID", path, data)
	}
	return pid, nil
}

// waitExit reaps the container's first process, an orphan adopted by
// this subreaper, and wants exit code 0.
func waitExit(pid int) error {
	var status unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &status, 0, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait4 %d (the container's process): %w", pid, err)
		}
		break
	}
	if !status.Exited() || status.ExitStatus() != 0 {
		return fmt.Errorf("the container's process %d ended with status %#x, want exit code 0", pid, int(status))
	}
	return nil
}
