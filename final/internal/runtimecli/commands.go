package runtimecli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"
	"golang.org/x/sys/unix"

	"skiff/internal/exit"
	"skiff/internal/oci"
	"skiff/internal/safefile"
)

func createCommand() *cli.Command {
	return &cli.Command{
		Name:      "create",
		Usage:     "create a container from a bundle and leave it waiting for start",
		ArgsUsage: "ID",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "bundle", Aliases: []string{"b"}, Value: ".", Usage: "the bundle `DIR`: config.json and the root filesystem"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the container's PID to `FILE`"},
			&cli.StringFlag{Name: "console-socket", Usage: "with process.terminal, send the pty's master to the unix socket at `PATH`"},
			&cli.BoolFlag{Name: "no-pivot", Usage: "chroot instead of pivot_root, for a root on a ramdisk (escapable: see lesson 01)"},
		},
		Action: create,
	}
}

func create(ctx context.Context, cmd *cli.Command) error {
	id, err := oneID(cmd)
	if err != nil {
		return err
	}
	dir, err := containerDir(cmd, id)
	if err != nil {
		return err
	}
	bundle, err := filepath.Abs(cmd.String("bundle"))
	if err != nil {
		return err
	}
	spec, err := oci.LoadBundle(bundle)
	if err != nil {
		return err
	}
	init, err := initPath()
	if err != nil {
		return err
	}
	opts := oci.CreateOptions{Init: init, Stdio: [3]*os.File{os.Stdin, os.Stdout, os.Stderr},
		NoPivot: cmd.Bool("no-pivot"), CgroupParent: "skiff-runtime"}
	if path := cmd.String("console-socket"); path != "" {
		if opts.ConsoleSocket, err = dialUnix(path); err != nil {
			return err
		}
		defer opts.ConsoleSocket.Close()
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("container %s already exists", id)
		}
		return err
	}
	c, err := oci.Create(dir, id, bundle, spec, opts)
	if err == nil {
		err = c.Save()
		if err == nil {
			err = writePidFile(cmd.String("pid-file"), c.Pid)
		}
		if err != nil {
			c.Kill(unix.SIGKILL, true)
			c.Delete(true)
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return err
	}
	return nil
}

// dialUnix connects to the unix socket at path.
func dialUnix(path string) (*os.File, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("connect %s: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// writePidFile writes pid atomically: the shim reads it as soon as the
// command exits.
func writePidFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return safefile.Write(abs, []byte(strconv.Itoa(pid)), 0o644)
}

func startCommand() *cli.Command {
	return &cli.Command{
		Name:      "start",
		Usage:     "let a created container's init exec its command",
		ArgsUsage: "ID",
		Action:    withContainer(func(cmd *cli.Command, c *oci.Container) error { return c.Start() }),
	}
}

func stateCommand() *cli.Command {
	return &cli.Command{
		Name:      "state",
		Usage:     "print the container's state, as the runtime spec writes it",
		ArgsUsage: "ID",
		Action: withContainer(func(cmd *cli.Command, c *oci.Container) error {
			return printJSON(os.Stdout, c.State())
		}),
	}
}

func killCommand() *cli.Command {
	return &cli.Command{
		Name:      "kill",
		Usage:     "send a signal (default SIGTERM) to the container's init, or with --all to all its processes",
		ArgsUsage: "ID [SIGNAL]",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "all", Aliases: []string{"a"}, Usage: "signal every process of the container"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			if n := cmd.Args().Len(); n < 1 || n > 2 {
				return errors.New("usage: skiff-runtime kill [--all] ID [SIGNAL]")
			}
			name := cmd.Args().Get(1)
			if name == "" {
				name = "TERM"
			}
			sig, err := oci.ParseSignal(name)
			if err != nil {
				return err
			}
			c, err := load(cmd, cmd.Args().First())
			if err != nil {
				return err
			}
			return c.Kill(sig, cmd.Bool("all"))
		},
	}
}

func deleteCommand() *cli.Command {
	return &cli.Command{
		Name:      "delete",
		Usage:     "delete a stopped (or created) container; --force kills a running one first",
		ArgsUsage: "ID",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "kill the container if it runs; no error if it is gone"}},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			id, err := oneID(cmd)
			if err != nil {
				return err
			}
			dir, err := containerDir(cmd, id)
			if err != nil {
				return err
			}
			if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) && cmd.Bool("force") {
				return nil // already gone: the shim deletes twice
			}
			c, err := load(cmd, id)
			if err != nil {
				return err
			}
			if err := c.Delete(cmd.Bool("force")); err != nil {
				return err
			}
			return os.RemoveAll(c.Dir)
		},
	}
}

func execCommand() *cli.Command {
	return &cli.Command{
		Name:      "exec",
		Usage:     "run a process in a running container",
		ArgsUsage: "ID [COMMAND [ARG...]]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "the process, as the spec's process JSON, in `FILE`"},
			&cli.StringFlag{Name: "console-socket", Usage: "with a terminal, send the pty's master to the unix socket at `PATH`"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "return once the process runs"},
			&cli.StringFlag{Name: "pid-file", Usage: "write the process's PID to `FILE`"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "without --process: give the command a terminal"},
		},
		StopOnNthArg: new(1),
		Action:       execAction,
	}
}

func execAction(ctx context.Context, cmd *cli.Command) error {
	if cmd.Args().Len() < 1 {
		return errors.New("usage: skiff-runtime exec [flags] ID [COMMAND [ARG...]]")
	}
	c, err := load(cmd, cmd.Args().First())
	if err != nil {
		return err
	}
	p, err := execProcess(cmd, c)
	if err != nil {
		return err
	}
	init, err := initPath()
	if err != nil {
		return err
	}
	opts := oci.ExecOptions{Init: init, Stdio: [3]*os.File{os.Stdin, os.Stdout, os.Stderr}}
	if path := cmd.String("console-socket"); path != "" && p.Terminal {
		if opts.ConsoleSocket, err = dialUnix(path); err != nil {
			return err
		}
		defer opts.ConsoleSocket.Close()
	} else if p.Terminal && cmd.Bool("detach") {
		return errors.New("a detached process with a terminal needs --console-socket")
	}
	signals := make(chan os.Signal, 16)
	signal.Notify(signals)
	proc, err := c.Exec(p, opts)
	if err != nil {
		return err
	}
	if err := writePidFile(cmd.String("pid-file"), proc.Pid()); err != nil {
		return err
	}
	if cmd.Bool("detach") {
		return nil
	}
	go func() {
		for sig := range signals {
			if sig != unix.SIGCHLD && sig != unix.SIGURG {
				proc.Signal(sig)
			}
		}
	}()
	if proc.Master != nil {
		go io.Copy(proc.Master, os.Stdin)
		go io.Copy(os.Stdout, proc.Master)
	}
	if status := proc.Wait(); status != 0 {
		return &exit.Error{Code: status}
	}
	return nil
}

// execProcess is --process's JSON, or the container's own process with
// the command line's arguments.
func execProcess(cmd *cli.Command, c *oci.Container) (*specs.Process, error) {
	if path := cmd.String("process"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var p specs.Process
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		return &p, nil
	}
	if cmd.Args().Len() < 2 {
		return nil, errors.New("exec: give a command, or --process FILE")
	}
	if err := c.LoadSpec(); err != nil {
		return nil, err
	}
	if c.Spec.Process == nil {
		return nil, errors.New("exec: the container has no process to start from: use --process FILE")
	}
	p := *c.Spec.Process
	p.Args, p.Terminal = cmd.Args().Slice()[1:], cmd.Bool("tty")
	return &p, nil
}

func psCommand() *cli.Command {
	return &cli.Command{
		Name:      "ps",
		Usage:     "list the container's processes",
		ArgsUsage: "ID",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table, or json: an array of host PIDs"}},
		Action: withContainer(func(cmd *cli.Command, c *oci.Container) error {
			pids, err := c.Processes()
			if err != nil {
				return err
			}
			if pids == nil {
				pids = []int{}
			}
			switch cmd.String("format") {
			case "json":
				return json.NewEncoder(os.Stdout).Encode(pids)
			case "table":
				fmt.Println("PID")
				for _, pid := range pids {
					fmt.Println(pid)
				}
				return nil
			}
			return fmt.Errorf("--format %s: want table or json", cmd.String("format"))
		}),
	}
}

func pauseCommand() *cli.Command {
	return &cli.Command{
		Name: "pause", Usage: "freeze every process of the container", ArgsUsage: "ID",
		Action: withContainer(func(cmd *cli.Command, c *oci.Container) error { return c.Pause() }),
	}
}

func resumeCommand() *cli.Command {
	return &cli.Command{
		Name: "resume", Usage: "thaw a paused container", ArgsUsage: "ID",
		Action: withContainer(func(cmd *cli.Command, c *oci.Container) error { return c.Resume() }),
	}
}

func updateCommand() *cli.Command {
	return &cli.Command{
		Name:      "update",
		Usage:     "change a container's limits",
		ArgsUsage: "ID",
		Flags:     []cli.Flag{&cli.StringFlag{Name: "resources", Aliases: []string{"r"}, Usage: "the spec's linux.resources JSON in `FILE`, - for stdin"}},
		Action: withContainer(func(cmd *cli.Command, c *oci.Container) error {
			path := cmd.String("resources")
			if path == "" {
				return errors.New("update: --resources FILE (or -) is required")
			}
			in := os.Stdin
			if path != "-" {
				f, err := os.Open(path)
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			var r specs.LinuxResources
			if err := json.NewDecoder(in).Decode(&r); err != nil {
				return fmt.Errorf("update: parse the resources: %w", err)
			}
			return c.Update(&r)
		}),
	}
}

func listCommand() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "list the containers",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "table", Usage: "table or json"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "IDs only"},
		},
		Action: func(ctx context.Context, cmd *cli.Command) error {
			root, err := filepath.Abs(cmd.String("root"))
			if err != nil {
				return err
			}
			entries, _ := os.ReadDir(root)
			var states []specs.State
			created := map[string]time.Time{}
			for _, e := range entries {
				if c, err := oci.Load(filepath.Join(root, e.Name())); err == nil {
					states = append(states, c.State())
					created[c.ID] = c.Created
				}
			}
			switch {
			case cmd.Bool("quiet"):
				for _, s := range states {
					fmt.Println(s.ID)
				}
			case cmd.String("format") == "json":
				if states == nil {
					states = []specs.State{}
				}
				return printJSON(os.Stdout, states)
			default:
				w := tabwriter.NewWriter(os.Stdout, 0, 8, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED")
				for _, s := range states {
					fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\n", s.ID, s.Pid, s.Status, s.Bundle, created[s.ID].Format(time.RFC3339))
				}
				return w.Flush()
			}
			return nil
		},
	}
}
