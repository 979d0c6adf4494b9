package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"github.com/urfave/cli/v3"

	"skiff/internal/clidoc"
	"skiff/internal/container"
	"skiff/internal/exit"
	"skiff/internal/lifecycle"
	"skiff/internal/terminal"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:         "exec",
		Usage:        "run a command in a running container: its namespaces, cgroup, environment and user",
		ArgsUsage:    "NAME COMMAND [ARG...]",
		StopOnNthArg: new(1),
		OnUsageError: clidoc.UsageError,
		// -it is -i -t, as in Docker.
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "interactive", Aliases: []string{"i"}, Usage: "keep stdin open and connected"},
			&cli.BoolFlag{Name: "tty", Aliases: []string{"t"}, Usage: "give the command a terminal"},
			&cli.StringSliceFlag{Name: "env", Aliases: []string{"e"}, Usage: "set `KEY=VALUE` in the environment"},
			&cli.StringFlag{Name: "workdir", Aliases: []string{"w"}, Usage: "the command's working `DIR` inside"},
			&cli.StringFlag{Name: "user", Aliases: []string{"u"}, Usage: "run as `UID[:GID]`"},
			&cli.BoolFlag{Name: "detach", Aliases: []string{"d"}, Usage: "start the command and return, its output discarded"},
		},
		Action: command(execAction),
	}
}

// execAction is `docker exec`: the container's process, with -e, -w and
// -u applied, started by the runtime (Runtime.Exec), with this terminal
// and the signals this process gets passed on.
func execAction(ctx context.Context, cmd *cli.Command, e *env) error {
	if err := needArgs(cmd, 2, "[flags] NAME COMMAND [ARG...]"); err != nil {
		return err
	}
	if err := needTerminal(cmd); err != nil {
		return err
	}
	waitSignals := catchSignals()
	c, err := e.containers.Get(cmd.Args().First())
	if err != nil {
		return err
	}
	p, err := e.execProcess(cmd, c)
	if err != nil {
		return err
	}
	if cmd.Bool("detach") {
		if p.Terminal || cmd.Bool("interactive") {
			return errors.New("exec -d with -i or -t: a detached command has no terminal or stdin (skiff has no attach)")
		}
		// Its output goes nowhere; when this process exits, the command
		// becomes a child of the container's PID 1, as in Docker.
		_, err := e.runtime.Exec(c, p, lifecycle.IO{})
		return err
	}
	stdio := lifecycle.IO{Stdout: os.Stdout, Stderr: os.Stderr}
	if cmd.Bool("interactive") {
		stdio.Stdin = os.Stdin
	}
	signals := waitSignals()
	if err := interrupted(signals); err != nil {
		return err
	}
	proc, err := e.runtime.Exec(c, p, stdio)
	if err != nil {
		return err
	}
	go func() {
		for sig := range signals {
			proc.Signal(sig)
		}
	}()
	if proc.Master != nil {
		in := os.Stdin
		if !cmd.Bool("interactive") {
			in = nil
		}
		go terminal.Proxy(proc.Master, in, os.Stdout)
	}
	if status := proc.Wait(); status != 0 {
		return &exit.Error{Code: status}
	}
	return nil
}

// execProcess is the process of the container's spec (its capabilities,
// environment, working folder and user) with the flags applied, the user
// looked up in the container's own /etc/passwd and /etc/group.
func (e *env) execProcess(cmd *cli.Command, c *container.Container) (*specs.Process, error) {
	spec, err := e.runtime.LoadSpec(c)
	if err != nil {
		return nil, fmt.Errorf("container %s is not running", c.Name())
	}
	p := spec.Process
	p.Args, p.Terminal = cmd.Args().Slice()[1:], cmd.Bool("tty")
	for _, kv := range cmd.StringSlice("env") {
		if !strings.Contains(kv, "=") || strings.HasPrefix(kv, "=") {
			return nil, fmt.Errorf("invalid environment variable %q: want KEY=VALUE", kv)
		}
	}
	p.Env = mergeEnv(p.Env, cmd.StringSlice("env"))
	if p.Terminal {
		p.Env = mergeEnv(p.Env, []string{"TERM=xterm"})
	}
	if w := cmd.String("workdir"); w != "" {
		p.Cwd = w
	}
	if cmd.IsSet("user") {
		root := fmt.Sprintf("/proc/%d/root", c.State.Pid)
		passwd, _ := os.ReadFile(filepath.Join(root, "etc", "passwd"))
		group, _ := os.ReadFile(filepath.Join(root, "etc", "group"))
		if p.User, err = parseUser(cmd.String("user"), userDB{passwd, group}); err != nil {
			return nil, err
		}
	}
	return p, nil
}
