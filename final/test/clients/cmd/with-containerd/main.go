// Command with-containerd runs a command, a shell say, with a containerd
// of its own: started in a temporary folder with the lessons' busybox
// imported as an image, and stopped, with everything it made, once the
// command exits. It is `make client-tests`' set-up (package clients),
// with containerd installed from Debian's packages when missing, and the
// runtime under test behind a script that logs each call. `make docs`
// runs the ctr transcript of docs/09-oci.md in it; by hand:
//
//	sudo bin/with-containerd --rootfs .cache/rootfs sh
//	ctr run --runc-binary $RUNTIME --runc-root $RUNC_ROOT --fifo-dir $FIFO_DIR --rm $IMAGE hello echo hi
//	cat $RUNTIME_CALLS
//
// The command gets the variables Env.Vars lists. Exit status: the
// command's; 125 when the set-up failed, or when the runtime or the
// clients left something on the host (listed on stderr).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"skiff/internal/exit"
	"skiff/test/clients"
)

func main() {
	cmd := &cli.Command{
		Name:      "with-containerd",
		Usage:     "run a command with a containerd of its own, which it stops and removes when the command exits",
		ArgsUsage: "COMMAND [ARG...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rootfs", Sources: cli.EnvVars("ROOTFS"), Usage: "the busybox root `DIR` the image is made of"},
			&cli.StringFlag{Name: "runtime", Usage: "the OCI runtime ctr run --runc-binary $RUNTIME calls (default: skiff-runtime beside this program)"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "say what is set up and taken down"},
		},
		StopOnNthArg: new(1),
		OnUsageError: func(ctx context.Context, cmd *cli.Command, err error, _ bool) error {
			return fmt.Errorf("%w (see with-containerd --help)", err)
		},
		Action: withContainerd,
	}
	err := cmd.Run(context.Background(), os.Args)
	var status *exit.Error
	if errors.As(err, &status) && status.Msg == "" {
		os.Exit(status.Code)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "with-containerd:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(exit.Runtime)
	}
}

func withContainerd(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() == 0 {
		return errors.New("usage: with-containerd [flags] COMMAND [ARG...]")
	}
	if cmd.String("rootfs") == "" {
		return errors.New("give --rootfs DIR (or ROOTFS): the busybox root the image is made of, .cache/rootfs after make build")
	}
	logf := func(string, ...any) {}
	if cmd.Bool("verbose") {
		logf = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "with-containerd: "+format+"\n", args...) }
	}
	runtime, err := runtimePath(cmd.String("runtime"))
	if err != nil {
		return err
	}
	rootfs, err := filepath.Abs(cmd.String("rootfs"))
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("must run as root: it starts containerd")
	}
	if err := clients.Install(logf); err != nil {
		return err
	}
	// The command gets the terminal's Ctrl-C; this process waits for it
	// to end, then cleans up. SIGTERM and SIGHUP are passed on to it.
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP)
	env, err := clients.Start(ctx, clients.Config{Runtime: runtime, Rootfs: rootfs, LogCalls: true, Logf: logf})
	if err != nil {
		return err
	}
	status, runErr := run(cmd.Args().Slice(), env.Vars(), signals)
	left, stopErr := env.Stop()
	logf("stopped containerd and removed %s", env.Dir)
	if len(left) > 0 {
		stopErr = errors.Join(stopErr, fmt.Errorf("left on the host, now removed: %s", strings.Join(left, "; ")))
	}
	if err := errors.Join(runErr, stopErr); err != nil {
		return err
	}
	if status != 0 {
		return &exit.Error{Code: status}
	}
	return nil
}

// runtimePath is the runtime given, or skiff-runtime beside this program.
func runtimePath(given string) (string, error) {
	if given == "" {
		self, err := os.Executable()
		if err != nil {
			return "", err
		}
		given = filepath.Join(filepath.Dir(self), "skiff-runtime")
	}
	path, err := filepath.Abs(given)
	if err != nil {
		return "", err
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return "", fmt.Errorf("runtime %s: %w", path, err)
	}
	return path, nil
}

// run runs the command with the variables added to its environment and
// returns its exit status, 128+N when signal N killed it.
func run(args, vars []string, signals chan os.Signal) (int, error) {
	c := exec.Command(args[0], args[1:]...)
	c.Env = append(os.Environ(), vars...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := c.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				if sig == unix.SIGTERM || sig == unix.SIGHUP {
					c.Process.Signal(sig)
				}
			case <-done:
				return
			}
		}
	}()
	c.Wait()
	close(done)
	ws, _ := c.ProcessState.Sys().(syscall.WaitStatus)
	return exit.WaitCode(unix.WaitStatus(ws)), nil
}
