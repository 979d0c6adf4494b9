// Lesson 01: chroot. Run a command with a new root directory.
//
//	lesson-01-chroot run ROOTFS COMMAND [ARG...]
//
// The process keeps everything else of the host: its PID, hostname, mounts,
// network and privileges. Only path lookup starts somewhere else.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"
)

// Exit statuses, as Docker uses them: the runtime failed (125), the
// command was found but cannot be executed (126), or was not found (127).
// Any other status is the command's own.
const (
	exitRuntime    = 125
	exitCannotExec = 126
	exitNotFound   = 127
)

// containerEnv is the whole environment of the command: nothing of the
// host's environment leaks in.
var containerEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOME=/root",
	"TERM=xterm",
}

func main() {
	app := &cli.Command{
		Name:         "lesson-01-chroot",
		Usage:        "containers from scratch, lesson 01: a new root directory",
		Action:       unknownCommand,
		OnUsageError: usageError,
		Commands: []*cli.Command{{
			Name:      "run",
			Usage:     "run COMMAND with ROOTFS as its root directory",
			ArgsUsage: "ROOTFS COMMAND [ARG...]",
			// Flags end at ROOTFS: "-la" in "run ROOTFS ls -la" is ls's.
			StopOnNthArg: new(1),
			OnUsageError: usageError,
			Action:       run,
		}},
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.Name, err)
		os.Exit(exitStatus(err))
	}
}

// unknownCommand runs when no subcommand matched.
func unknownCommand(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Present() {
		return fmt.Errorf("unknown command %q (see --help)", cmd.Args().First())
	}
	return cli.ShowAppHelp(cmd)
}

// usageError reports a bad flag in one line, without the help text.
func usageError(ctx context.Context, cmd *cli.Command, err error, isSubcommand bool) error {
	return fmt.Errorf("%w (see --help)", err)
}

// run changes the root directory of this very process and then replaces
// the process with COMMAND, which inherits the new root.
func run(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() < 2 {
		return fmt.Errorf("usage: %s run ROOTFS COMMAND [ARG...]", cmd.Root().Name)
	}
	rootfs, argv := cmd.Args().First(), cmd.Args().Slice()[1:]
	if os.Geteuid() != 0 {
		return errors.New("must run as root: chroot(2) needs CAP_SYS_CHROOT")
	}
	if err := checkRootfs(rootfs); err != nil {
		return err
	}
	if err := enterRoot(rootfs); err != nil {
		return err
	}
	return execCommand(argv)
}

// checkRootfs turns the commonest mistakes into a clear message before any
// system call is made.
func checkRootfs(rootfs string) error {
	info, err := os.Stat(rootfs)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("rootfs %s: not a directory", rootfs)
	}
	return nil
}

// enterRoot makes rootfs the root directory of this process.
//
//exercise:01 make rootfs the root directory with unix.Chroot, then unix.Chdir("/"), so that ".." cannot climb
//exercise:01 out of it; see "What chroot(2) does"
func enterRoot(rootfs string) error {
	if err := unix.Chroot(rootfs); err != nil {
		return fmt.Errorf("chroot %s: %w", rootfs, err)
	}
	// chroot(2) does not move the working directory. Without this chdir the
	// process would still stand in the host's tree, outside its new root.
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// execCommand replaces this process with the command. The lookup happens
// after chroot, so PATH is searched inside the new root, not on the host.
func execCommand(argv []string) error {
	path, err := lookPath(argv[0])
	if err != nil {
		return err
	}
	// exec(2) replaces all of the Go runtime's threads at once; on success
	// it does not return, and the command's exit status is ours.
	if err := unix.Exec(path, argv, containerEnv); err != nil {
		return &execError{argv[0], err}
	}
	return nil
}

// lookPath searches the container's PATH, not the host's: os.Getenv("PATH")
// belongs to the host.
func lookPath(name string) (string, error) {
	os.Setenv("PATH", containerEnv[0][len("PATH="):])
	path, err := exec.LookPath(name)
	var lookErr *exec.Error
	if errors.As(err, &lookErr) {
		err = lookErr.Err // drop the second "exec:" prefix
	}
	if err != nil {
		return "", &execError{name, err}
	}
	return path, nil
}

// execError is a command that could not be started.
type execError struct {
	name string
	err  error
}

func (e *execError) Error() string { return fmt.Sprintf("exec %s: %v", e.name, e.err) }
func (e *execError) Unwrap() error { return e.err }

// exitStatus maps an error to Docker's exit statuses.
func exitStatus(err error) int {
	var execErr *execError
	if !errors.As(err, &execErr) {
		return exitRuntime
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, unix.ENOENT) {
		return exitNotFound
	}
	return exitCannotExec
}
