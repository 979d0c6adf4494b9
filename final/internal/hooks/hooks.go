// Package hooks runs the OCI runtime spec's hooks: programs the runtime
// starts at set points of a container's life (createRuntime, poststart,
// poststop...), each given the container's state as JSON on its stdin.
// That is how Docker and CNI plugins set up a container's network, and
// how tools learn that a container started.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Run runs the hooks in order and stops at the first that fails, exits
// non-zero or outlives its timeout.
func Run(kind string, list []specs.Hook, state specs.State) error {
	if len(list) == 0 {
		return nil
	}
	stdin, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for _, h := range list {
		if err := run(h, stdin); err != nil {
			return fmt.Errorf("%s hook %s: %w", kind, h.Path, err)
		}
	}
	return nil
}

// RunEach runs every hook, even after one failed, and returns their
// errors: poststart and poststop hooks only warn, the spec says.
func RunEach(kind string, list []specs.Hook, state specs.State) error {
	var errs []error
	for _, h := range list {
		if err := Run(kind, []specs.Hook{h}, state); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func run(h specs.Hook, stdin []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		if *h.Timeout <= 0 {
			return fmt.Errorf("timeout %d: want a positive number of seconds", *h.Timeout)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args // args[0] included, as in execv
	}
	cmd.Env = h.Env
	cmd.Stdin = bytes.NewReader(stdin)
	// At the timeout, kill the hook's whole process group: a child it left
	// running would otherwise keep its stderr open, and the wait with it.
	cmd.SysProcAttr = &unix.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, msg)
		}
		return err
	}
	return nil
}
