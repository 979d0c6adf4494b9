package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"time"

	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/lifecycle"
	"skiff/internal/terminal"
)

// restartFlags are run's and create's flags for the container's life
// after its process exits.
func restartFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "restart", Value: "no", Usage: "restart `POLICY` when the process exits: no, on-failure[:N] (at most N times), always, unless-stopped"},
	}
}

func restartFromFlags(cmd *cli.Command) (container.RestartPolicy, error) {
	return container.ParseRestartPolicy(cmd.String("restart"))
}

func createCommand() *cli.Command {
	cmd := runCommand() // the same flags, less -d: a created container does not run yet
	cmd.Name, cmd.Usage = "create", "create a container, without starting it (skiff start does), and print its ID"
	cmd.Flags = slices.DeleteFunc(slices.Clone(cmd.Flags), func(f cli.Flag) bool { return slices.Contains(f.Names(), "detach") })
	cmd.Action = command(createAction)
	return cmd
}

func createAction(ctx context.Context, cmd *cli.Command, e *env) error {
	if err := needArgs(cmd, 1, "[flags] IMAGE|ROOTFS [COMMAND [ARG...]]"); err != nil {
		return err
	}
	cfg, release, err := e.configFromFlags(cmd)
	if err != nil {
		return err
	}
	defer release()
	c, err := e.containers.Create(cfg)
	if err != nil {
		return err
	}
	c.State.MonitorPid, c.State.AwaitsStart = 0, true
	if err := c.SaveState(); err != nil {
		e.containers.Remove(c)
		return err
	}
	c.Release()
	fmt.Println(c.Config.ID)
	return nil
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "start created or stopped containers again, in the background (each with a monitor, as run -d)",
		ArgsUsage: "CONTAINER...",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "attach", Aliases: []string{"a"}, Usage: "print the container's output and return its exit status"},
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "attach stdin too (and the output)"},
			&cli.BoolFlag{Name: "all-restartable", Usage: "start every stopped container whose policy is always, or unless-stopped unless a user stopped it: what Docker's daemon does when it starts (for a boot script)"},
		},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			if cmd.Bool("all-restartable") {
				if cmd.Args().Present() || cmd.Bool("attach") || cmd.Bool("interactive") {
					return errors.New("start --all-restartable takes no container, and no -a or -i")
				}
				return e.startRestartable()
			}
			if err := needArgs(cmd, 1, "[-a] [-i] CONTAINER..."); err != nil {
				return err
			}
			attached := cmd.Bool("attach") || cmd.Bool("interactive")
			if attached && cmd.Args().Len() > 1 {
				return errors.New("start: -a and -i attach to one container only")
			}
			if attached {
				c, err := e.containers.Get(cmd.Args().First())
				if err != nil {
					return err
				}
				return e.startAttached(c, cmd.Bool("interactive"))
			}
			return eachContainer(cmd, e, func(c *container.Container) error {
				if err := e.start(c); err != nil {
					return err
				}
				fmt.Println(c.Name())
				return nil
			})
		}),
	}
}

// startRestartable starts the containers whose restart policy asks for
// it once their monitors are gone: after a reboot, or after they were
// killed. It prints their names.
func (e *env) startRestartable() error {
	all, err := e.containers.List()
	if err != nil {
		return err
	}
	failed := 0
	for _, c := range all {
		if s := c.Status(); (s != container.Exited && s != container.Dead) || !c.StartsAtBoot() {
			continue
		}
		if err := e.start(c); err != nil {
			fmt.Fprintln(os.Stderr, "skiff:", err)
			failed++
			continue
		}
		fmt.Println(c.Name())
	}
	if failed > 0 {
		return &exit.Error{Code: 1}
	}
	return nil
}

// start starts a created or stopped container in the background, with a
// monitor, as run -d does: the same folder, so the same writable layer,
// name, configuration and network settings. A running one is left as it
// is, as Docker does.
func (e *env) start(c *container.Container) error {
	if started, err := claimStopped(c); started || err != nil {
		return err
	}
	defer c.Release() // the monitor holds the lock from now on
	switch {
	case c.Broken != "":
		return fmt.Errorf("container %s is broken (%s): skiff rm -f it", c.Name(), c.Broken)
	case c.State.Status == container.Running && c.State.Alive():
		return nil // its monitor died, but it runs
	case c.State.Status != container.Exited:
		e.runtime.Cleanup(c) // what a killed runtime left
	}
	if err := c.ClearStopped(); err != nil {
		return err
	}
	c.State = container.State{Status: container.Created}
	c.SetMonitor()
	if err := c.SaveState(); err != nil {
		return err
	}
	return e.startDetached(c)
}

// claimStopped makes this process the owner of a container that does
// not run, waiting for its old monitor to finish; it tells whether the
// container runs after all (another skiff started it meanwhile).
func claimStopped(c *container.Container) (started bool, err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s := c.Status(); s == container.Running || s == container.Restarting {
			return true, nil
		}
		err := c.Claim(200 * time.Millisecond)
		if err == nil || errors.Is(err, container.ErrNotFound) || time.Now().After(deadline) {
			return false, err
		}
		if c.Reload() != nil {
			return false, fmt.Errorf("%w: %s", container.ErrNotFound, c.Name())
		}
	}
}

// startAttached starts a container and follows it as `attach` does,
// from the first byte of output of this start on; it returns the
// container's exit status.
func (e *env) startAttached(c *container.Container, interactive bool) error {
	var from int64
	if info, err := os.Stat(c.Path("log")); err == nil {
		from = info.Size()
	}
	if err := e.start(c); err != nil {
		return err
	}
	return e.attach(c, attachOptions{stdin: interactive, sigProxy: true, from: from})
}

func restartCommand() *cli.Command {
	return &cli.Command{
		Name:      "restart",
		Usage:     "stop containers, then start them again",
		ArgsUsage: "CONTAINER...",
		Flags:     []cli.Flag{stopTimeFlag()},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			return stopEach(cmd, e, e.start)
		}),
	}
}

func attachCommand() *cli.Command {
	return &cli.Command{
		Name:      "attach",
		Usage:     "connect this terminal to a running container's output and input (detach with ctrl-p ctrl-q)",
		ArgsUsage: "CONTAINER",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "no-stdin", Usage: "do not attach stdin"},
			&cli.BoolFlag{Name: "sig-proxy", Value: true, Usage: "pass the signals this process gets on to the container, without -t (default: true; --sig-proxy=false keeps them)"},
		},
		Action: command(func(ctx context.Context, cmd *cli.Command, e *env) error {
			c, err := e.namedContainer(cmd, "[--no-stdin] [--sig-proxy=false] CONTAINER")
			if err != nil {
				return err
			}
			if c.Status() != container.Running {
				return fmt.Errorf("you cannot attach to a stopped container: start container %s first", c.Name())
			}
			return e.attach(c, attachOptions{stdin: !cmd.Bool("no-stdin"), sigProxy: cmd.Bool("sig-proxy"), from: -1})
		}),
	}
}

// attachOptions say how to attach to a container.
type attachOptions struct {
	stdin    bool  // send this process's stdin to the container's, if it has one (-i)
	sigProxy bool  // pass signals on, without a terminal
	from     int64 // where its output starts in the log; -1: at the end
}

// attach follows the container's output in its log until it stops, and
// sends it this process's stdin through its attach socket; ctrl-p ctrl-q
// there detaches. It returns the container's exit status.
func (e *env) attach(c *container.Container, o attachOptions) error {
	log, err := os.Open(c.Path("log"))
	if err != nil {
		return fmt.Errorf("attach to %s: %w", c.Name(), err)
	}
	defer log.Close()
	whence := io.SeekStart
	if o.from < 0 {
		o.from, whence = 0, io.SeekEnd
	}
	if _, err := log.Seek(o.from, whence); err != nil {
		return fmt.Errorf("attach to %s: %w", c.Name(), err)
	}
	detached := make(chan struct{})
	if o.stdin && c.Config.Interactive {
		conn, master, err := lifecycle.DialAttach(c)
		if err != nil {
			return err
		}
		defer conn.Close()
		if fd := int(os.Stdin.Fd()); master != nil && term.IsTerminal(fd) {
			defer master.Close()
			if state, err := term.MakeRaw(fd); err == nil {
				defer term.Restore(fd, state)
			}
			stop := sizeFollows(os.Stdin, master)
			defer stop()
		}
		go func() {
			if sendUntilDetach(conn, os.Stdin) {
				close(detached)
				return
			}
			conn.CloseWrite() // the container's stdin stays open, as in Docker
		}()
	}
	if o.sigProxy && !c.Config.Process.Terminal {
		signals := make(chan os.Signal, 8)
		signal.Notify(signals, forwardedSignals...)
		defer signal.Stop(signals)
		go func() {
			for sig := range signals {
				c.Kill(sig.(unix.Signal))
			}
		}()
	}
	return follow(c, log, detached)
}

// sizeFollows gives the container's terminal the size of this one, now
// and at every SIGWINCH, until stop is called.
func sizeFollows(in, master *os.File) (stop func()) {
	resize := make(chan os.Signal, 1)
	signal.Notify(resize, unix.SIGWINCH)
	go func() {
		for range resize {
			terminal.CopySize(in, master)
		}
	}()
	terminal.CopySize(in, master)
	return func() { signal.Stop(resize); close(resize) }
}

// follow copies the log to stdout until the container's monitor records
// that its process ended (or both are gone), or until detached is
// closed; it returns the process's exit status.
func follow(c *container.Container, log io.Reader, detached <-chan struct{}) error {
	for {
		io.Copy(os.Stdout, log)
		select {
		case <-detached:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
		if err := c.Reload(); err != nil {
			return fmt.Errorf("container %s was removed", c.Name())
		}
		if c.State.Status != container.Running || (!c.State.Alive() && !c.OwnerAlive()) {
			io.Copy(os.Stdout, log)
			if c.State.ExitCode != 0 {
				return &exit.Error{Code: c.State.ExitCode}
			}
			return nil
		}
	}
}

// The detach keys, as in Docker: ctrl-p then ctrl-q.
const (
	ctrlP = 0x10
	ctrlQ = 0x11
)

// sendUntilDetach copies in to out until in ends (false) or the detach
// keys come (true). A ctrl-p not followed by ctrl-q is sent on with the
// next key.
func sendUntilDetach(out io.Writer, in io.Reader) bool {
	buf := make([]byte, 4096)
	held := false
	for {
		n, err := in.Read(buf)
		send := make([]byte, 0, n+1)
		for _, b := range buf[:n] {
			switch {
			case held && b == ctrlQ:
				out.Write(send)
				return true
			case held:
				send = append(send, ctrlP)
				held = false
			}
			if b == ctrlP {
				held = true
				continue
			}
			send = append(send, b)
		}
		if _, werr := out.Write(send); werr != nil || err != nil {
			return false
		}
	}
}
