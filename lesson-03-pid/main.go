// Lesson 03: a PID namespace. Run a command with a new root directory, its
// own hostname, and its own process numbers, in which it is PID 1.
//
//	lesson-03-pid run [--hostname NAME] ROOTFS COMMAND [ARG...]
//
// The runtime re-executes itself as a hidden "child" step inside new
// namespaces; the child finishes the set-up from inside, then becomes the
// command.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"syscall"

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

// namespaces are the new namespaces the child starts in. CLONE_NEWIPC
// comes along with UTS: it gives the container its own System V message
// queues, semaphores and shared memory, and costs nothing. In a new PID
// namespace the child is PID 1, and it sees only its own descendants.
//
//exercise:03 add the flag for a new PID namespace; see "A PID namespace is a numbering"
const namespaces = unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID

// forwardedSignals are passed on from the runtime to the container.
var forwardedSignals = []os.Signal{unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH}

var containerFlags = []cli.Flag{
	&cli.StringFlag{Name: "hostname", Usage: "the container's hostname (default: 12 random hex digits)"},
}

func main() {
	app := &cli.Command{
		Name:         "lesson-03-pid",
		Usage:        "containers from scratch, lesson 03: a PID namespace",
		Action:       unknownCommand,
		OnUsageError: usageError,
		Commands: []*cli.Command{{
			Name:      "run",
			Usage:     "run COMMAND with ROOTFS as its root directory, in new namespaces",
			ArgsUsage: "ROOTFS COMMAND [ARG...]",
			Flags:     containerFlags,
			// Flags end at ROOTFS: "-la" in "run ROOTFS ls -la" is ls's.
			StopOnNthArg: new(1),
			OnUsageError: usageError,
			Action:       run,
		}, {
			Name:         "child",
			Usage:        "the in-namespace half of run (internal)",
			Hidden:       true,
			Flags:        containerFlags,
			StopOnNthArg: new(1),
			Action:       child,
		}},
	}
	if err := app.Run(context.Background(), os.Args); err != nil {
		var status containerStatus
		if errors.As(err, &status) {
			os.Exit(int(status))
		}
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

// run is the parent side: it checks the input, starts the child in new
// namespaces and waits for it.
func run(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() < 2 {
		return fmt.Errorf("usage: %s run [flags] ROOTFS COMMAND [ARG...]", cmd.Root().Name)
	}
	rootfs, argv := cmd.Args().First(), cmd.Args().Slice()[1:]
	if os.Geteuid() != 0 {
		return errors.New("must run as root: creating namespaces needs CAP_SYS_ADMIN")
	}
	if err := checkRootfs(rootfs); err != nil {
		return err
	}
	hostname := randomHostname()
	if cmd.IsSet("hostname") {
		hostname = cmd.String("hostname")
		if err := checkHostname(hostname); err != nil {
			return err
		}
	}
	childArgs := append([]string{"child", "--hostname", hostname, rootfs}, argv...)
	return startContainer(childArgs)
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

// validHostname is RFC 1123: dot-separated labels of letters, digits and
// hyphens, no label starting or ending with a hyphen.
var validHostname = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*$`)

// randomHostname makes up a name as Docker does: 12 hex digits.
func randomHostname() string {
	id := make([]byte, 6)
	rand.Read(id)
	return hex.EncodeToString(id)
}

// checkHostname rejects a name that sethostname(2) or resolvers would not take.
func checkHostname(name string) error {
	if len(name) > 64 { // HOST_NAME_MAX
		return fmt.Errorf("--hostname %q: longer than 64 characters", name)
	}
	if !validHostname.MatchString(name) {
		return fmt.Errorf("--hostname %q: want letters, digits, hyphens and dots", name)
	}
	return nil
}

// startContainer re-executes this binary as "child". A Go program cannot
// fork: the runtime's threads would not survive it. Instead the kernel
// starts the child in new namespaces (clone(2) with the CLONE_NEW* flags)
// and the child, a fresh Go program, finishes the set-up from inside.
//
//exercise:02 start /proc/self/exe with childArgs in the new namespaces (SysProcAttr.Cloneflags), forward
//exercise:02 signals with catchSignals and forwardSignals, wait for it and return exitStatusOf its state; see
//exercise:02 "Why a Go runtime re-executes itself"
func startContainer(childArgs []string) error {
	signals := catchSignals()
	c := exec.Command("/proc/self/exe", childArgs...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.SysProcAttr = &unix.SysProcAttr{Cloneflags: namespaces}
	if err := c.Start(); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	forwardSignals(signals, c.Process)
	if err := c.Wait(); c.ProcessState == nil {
		return fmt.Errorf("wait: %w", err)
	}
	return exitStatusOf(c.ProcessState)
}

// catchSignals starts catching the signals to forward before the child
// exists: one arriving in between must not kill the runtime and leave the
// container running without it.
func catchSignals() chan os.Signal {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, forwardedSignals...)
	return signals
}

// forwardSignals passes the signals this runtime receives (Ctrl-C, kill)
// on to the container, which would otherwise never see them.
func forwardSignals(signals chan os.Signal, p *os.Process) {
	go func() {
		for sig := range signals {
			p.Signal(sig)
		}
	}()
}

// exitStatusOf is the shell's view of how the container ended: its exit
// status, or 128+N when signal N killed it.
func exitStatusOf(state *os.ProcessState) error {
	status := state.ExitCode()
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		status = 128 + int(ws.Signal())
	}
	if status == 0 {
		return nil
	}
	return containerStatus(status)
}

// containerStatus is the container's own non-zero exit status: passed on
// as it is, with no message.
type containerStatus int

func (s containerStatus) Error() string { return fmt.Sprintf("exit status %d", int(s)) }

// child runs inside the new namespaces: it sets the hostname and the root,
// then becomes the command. Its errors exit with Docker's statuses, which
// the parent passes on.
func child(ctx context.Context, cmd *cli.Command) error {
	rootfs, argv := cmd.Args().First(), cmd.Args().Slice()[1:]
	if err := setHostname(cmd.String("hostname")); err != nil {
		return err
	}
	if err := enterRoot(rootfs); err != nil {
		return err
	}
	return execCommand(argv)
}

// setHostname names the container. It changes only this UTS namespace:
// the host keeps its name.
//
//exercise:02 set the hostname with unix.Sethostname, and wrap its error with the call and the name; see "The
//exercise:02 namespace flags"
func setHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("sethostname %s: %w", name, err)
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
